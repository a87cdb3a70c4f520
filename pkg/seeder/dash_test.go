package seeder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
	"github.com/superpeer/superpeer/pkg/wire"
)

// dashSegment is the body the test origin serves for one DASH segment.
func dashSegment(rep string, n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%s segment %d|", rep, n)), 3000)
}

// TestServeDASH: a static MPD (the 0.6 vector fixture: two video
// representations, one audio) is seeded to a 0.6 Shaka browser, whose
// swarm and segment ids come from Shaka's stream counter and toFixed(3)
// start times, and to a 5.x browser, whose ids are start times in 100 ms
// units; both from the same origin fetches.
func TestServeDASH(t *testing.T) {
	mpd, err := os.ReadFile("../playlist/testdata/dash/v06-fixture.mpd")
	require.NoError(t, err)
	h := &harness{origin: playlisttest.NewOrigin(), tracker: trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 1})}
	t.Cleanup(h.origin.Close)
	h.origin.SetFile("/vod/manifest.mpd", mpd)
	for _, rep := range []string{"video-360p", "video-720p", "audio-en"} {
		h.origin.SetFile("/vod/"+rep+"/init.mp4", []byte("init "+rep))
		for n := 1; n <= 10; n++ {
			h.origin.SetFile(fmt.Sprintf("/vod/%s/seg-%d.m4s", rep, n), dashSegment(rep, n))
		}
	}
	cfg := testConfig(h.tracker.URL, h.origin.URL+"/vod/manifest.mpd?session=42")
	cfg.Streams[0].Generations = []wire.Generation{wire.Gen06, wire.GenV3}
	startSeeder(t, h, cfg)
	waitFor(t, 10*time.Second, "readiness", h.seeder.Ready)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// 0.6: "<manifest URL without query>+V<Shaka stream id>", video only.
	swarm06 := h.origin.URL + "/vod/manifest.mpd+V2" // video-720p (stream.id 2)
	b := newTestBrowser(t, h.tracker.URL, wire.Gen06.InfoHash(swarm06), true)
	b.run(ctx)
	c := b.conn(ctx)
	want := `{"c":2,"m":{"` + swarm06 + `":["0.000|4.000|8.000|12.000|16.000|20.000|24.000|28.000|32.000|36.000",[0,0,0,0,0,0,0,0,0,0]]}}`
	var msg string
	for range 30 {
		if msg = c.read06(t); msg == want {
			break
		}
	}
	require.Equal(t, want, msg)
	got, err := c.download06(t, swarm06+"+8.000")
	require.NoError(t, err)
	require.Equal(t, dashSegment("video-720p", 3), got, "the third segment starts at 8 s")

	// v3: identity from the Representation's attributes, ids = start x 10.
	streams := []wire.StreamV3{
		{Type: wire.Main, Props: wire.DASHVideoPropsV3(wire.DASHRepresentationAttrsV3{ID: "video-360p", Bandwidth: "800000", Codecs: "avc1.4d401e", Width: "640", Height: "360"})},
		{Type: wire.Main, Props: wire.DASHVideoPropsV3(wire.DASHRepresentationAttrsV3{ID: "video-720p", Bandwidth: "2000000", Codecs: "avc1.4d401f", Width: "1280", Height: "720"})},
		{Type: wire.Secondary, Props: wire.DASHAudioPropsV3(wire.DASHRepresentationAttrsV3{ID: "audio-en", Bandwidth: "128000", Codecs: "mp4a.40.2", Lang: "en"})},
	}
	hashes := wire.IdentityHashesV3(streams)
	swarmV3 := wire.StreamSwarmIDV3(h.origin.URL+"/vod/manifest.mpd", wire.Secondary, hashes[2])
	b3 := newTestBrowser(t, h.tracker.URL, wire.GenV3.InfoHash(swarmV3), true)
	b3.run(ctx)
	c3 := b3.conn(ctx)
	waitAnnouncement(t, c3, []int64{0, 40, 80, 120, 160, 200, 240, 280, 320, 360})
	got, err = c3.download(120, 1, 0)
	require.NoError(t, err)
	require.Equal(t, dashSegment("audio-en", 4), got, "audio, the fourth segment starts at 12 s")

	for n := 1; n <= 10; n++ {
		for _, rep := range []string{"video-360p", "video-720p", "audio-en"} {
			require.Equal(t, 1, h.origin.Requests(fmt.Sprintf("/vod/%s/seg-%d.m4s", rep, n)), "%s %d fetched once", rep, n)
		}
	}
}
