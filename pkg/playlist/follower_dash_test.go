package playlist

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
)

func TestFollowerDASHStatic(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	b, err := os.ReadFile(filepath.Join("testdata", "dash", "tears.mpd"))
	require.NoError(t, err)
	o.SetFile("/vod/tears/manifest.mpd", b)
	clk := newFakeClock()
	events := runFollower(t, FollowerConfig{
		Stream: "dash", URL: o.URL + "/vod/tears/manifest.mpd?tok=1", Client: o.Client(), Logger: zerolog.Nop(),
		Now: clk.Now, After: clk.After,
	})
	ev := nextEvent(t, events)
	require.Equal(t, -1, ev.Variant)
	m := ev.Manifest
	require.Equal(t, FormatDASH, m.Format)
	require.Equal(t, o.URL+"/vod/tears/manifest.mpd", m.SwarmBase)
	require.Len(t, m.Variants, 2)
	got := map[int]*MediaPlaylist{}
	for range 2 {
		ev := nextEvent(t, events)
		require.Same(t, m, ev.Manifest)
		got[ev.Variant] = ev.Playlist
	}
	require.Equal(t, []int64{0, 8, 16, 24, 32, 40}, segmentIDs(got[0]))
	require.Equal(t, []int64{0, 8, 16, 24, 32, 40}, segmentIDs(got[1]))
	require.False(t, got[0].Live)
	require.Equal(t, o.URL+"/vod/tears/video/v720/seg-1.m4s", got[0].Segments[0].URL)
	require.Equal(t, o.URL+"/vod/tears/audio/a128/seg-192000.m4s", got[1].Segments[1].URL)
	noEvent(t, events)
	require.Equal(t, 1, o.Requests("/vod/tears/manifest.mpd"))
}

func TestFollowerDASHLive(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	clk := newFakeClock()
	// Segments are 2 s; at the start only segments 0..2 (ending by 6 s) are
	// available, though the MPD lists 0..4.
	live := o.AddDASHLive("/live/manifest.mpd", playlisttest.DASHOptions{
		AvailabilityStart: clk.Now().Add(-6 * time.Second), Window: 5, Duration: 2,
		MinimumUpdatePeriod: 10 * time.Second,
	})
	events := runFollower(t, FollowerConfig{
		Stream: "live", URL: live.URL(), Client: o.Client(), Logger: zerolog.Nop(),
		Now: clk.Now, After: clk.After,
	})
	m := nextEvent(t, events).Manifest
	require.Equal(t, FormatDASH, m.Format)
	require.Equal(t, "1000000", m.Variants[0].Attributes["bandwidth"])
	require.Equal(t, "v", m.Variants[0].Attributes["id"])
	variants := slices.Clone(m.Variants) // the follower still reads m
	variants[0].Attributes = nil
	require.Equal(t, []Variant{{
		URL: live.URL(), Type: Main, Ordinal: 0, StreamInf: -1, ContentType: "video", RepresentationID: "v", ShakaStreamID: 1,
		Rendition: Rendition{Bitrate: 1000000, Codecs: "avc1.64001f", Width: 1280, Height: 720, HasResolution: true},
	}}, variants)

	pl := nextEvent(t, events).Playlist
	require.True(t, pl.Live)
	require.Equal(t, []int64{0, 4, 8}, segmentIDs(pl))
	require.Equal(t, live.SegmentURL(0), pl.Segments[0].URL)

	// The next segment is announced when it becomes available by the
	// clock, without reloading the MPD.
	require.Equal(t, 2*time.Second, clk.waitTimer(t))
	clk.Advance(2 * time.Second)
	require.Equal(t, []int64{0, 4, 8, 12}, segmentIDs(nextEvent(t, events).Playlist))
	require.Equal(t, 2*time.Second, clk.waitTimer(t))
	clk.Advance(2 * time.Second)
	require.Equal(t, []int64{0, 4, 8, 12, 16}, segmentIDs(nextEvent(t, events).Playlist))
	require.Equal(t, 1, o.Requests("/live/manifest.mpd"))

	// minimumUpdatePeriod: the MPD is reloaded 10 s after the first load
	// and lists segment 5. At 16 s the 10 s time-shift buffer holds only
	// segments ending after 6 s: 0..2 are evicted.
	live.Advance()
	require.Equal(t, 6*time.Second, clk.waitTimer(t))
	clk.Advance(6 * time.Second)
	pl = nextEvent(t, events).Playlist
	require.Equal(t, []int64{12, 16, 20}, segmentIDs(pl))
	require.Equal(t, live.SegmentURL(5), pl.Segments[2].URL)
	require.Equal(t, 2, o.Requests("/live/manifest.mpd"))
	noEvent(t, events)
}

// TestFollowerDASHSegmentBase serves the single-file MP4 and checks that the
// follower reads its sidx with a range request and that the Fetcher can
// download the resulting ranges.
func TestFollowerDASHSegmentBase(t *testing.T) {
	o := playlisttest.NewOrigin()
	defer o.Close()
	for _, name := range []string{"base.mpd", "video.mp4"} {
		b, err := os.ReadFile(filepath.Join("testdata", "dash", "single", name))
		require.NoError(t, err)
		o.SetFile("/od/"+name, b)
	}
	clk := newFakeClock()
	events := runFollower(t, FollowerConfig{
		Stream: "od", URL: o.URL + "/od/base.mpd", Client: o.Client(), Logger: zerolog.Nop(),
		Now: clk.Now, After: clk.After,
	})
	nextEvent(t, events)
	pl := nextEvent(t, events).Playlist
	require.Equal(t, []int64{0, 4, 8, 12}, segmentIDs(pl))
	require.Equal(t, &ByteRange{Start: 926, End: 23911}, pl.Segments[0].Range)
	require.Equal(t, 1, o.Requests("/od/video.mp4"))
	data, err := NewFetcher(FetcherConfig{Client: o.Client()}).Fetch(t.Context(), pl.Segments[1])
	require.NoError(t, err)
	require.Len(t, data, 48584-23912+1)
	require.Equal(t, "moof", string(data[4:8]))
	noEvent(t, events)
}
