package seeder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
	"github.com/superpeer/superpeer/pkg/tracker/trackertest"
)

func TestAssignment(t *testing.T) {
	host := func() (string, error) { return "superpeer-1", nil }
	a, err := newAssignment(ReplicasConfig{Count: 3, Redundancy: 2}, host)
	require.NoError(t, err)
	require.Equal(t, []string{"superpeer-0", "superpeer-1", "superpeer-2"}, a.members)
	require.Equal(t, "superpeer-1", a.self)

	per := map[string]int{}
	for i := range 300 {
		id := fmt.Sprintf("stream-%d", i)
		owners := a.owners(id)
		require.Len(t, owners, 2)
		require.NotEqual(t, owners[0], owners[1])
		require.Equal(t, owners, a.owners(id), "the same every time")
		for _, o := range owners {
			per[o]++
		}
		// Without superpeer-2, a stream it did not seed keeps its replicas.
		b := assignment{self: a.self, members: []string{"superpeer-0", "superpeer-1"}, redundancy: 2}
		if owners[0] != "superpeer-2" && owners[1] != "superpeer-2" {
			require.ElementsMatch(t, owners, b.owners(id))
		}
	}
	for m, n := range per {
		require.InDelta(t, 200, n, 40, "%s seeds %d of 600 stream replicas", m, n)
	}

	one, err := newAssignment(ReplicasConfig{Count: 1, Redundancy: 2}, host)
	require.NoError(t, err)
	require.True(t, one.mine("anything"), "a single replica seeds everything")
	_, err = newAssignment(ReplicasConfig{Count: 3, Redundancy: 2}, func() (string, error) { return "myhost", nil })
	require.ErrorContains(t, err, "does not end in -<ordinal>")
	_, err = newAssignment(ReplicasConfig{Count: 1}, func() (string, error) { return "", errors.New("no") })
	require.Error(t, err)
}

// TestReplicas: three superpeer replicas with the same configuration seed
// every stream exactly twice (redundancy 2), so the origin serves each
// segment twice; a replica stopped and started again takes its streams back.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three seeders")
	}
	origin := playlisttest.NewOrigin()
	t.Cleanup(origin.Close)
	tr := trackertest.NewServer(t, trackertest.Options{Relay: true, Interval: 1})
	var streams []StreamConfig
	for i := range 6 {
		m := origin.AddMedia(fmt.Sprintf("/s%d/index.m3u8", i), playlisttest.MediaOptions{Segments: 3, SegmentSize: 1000})
		streams = append(streams, StreamConfig{ID: fmt.Sprintf("s%d", i), URL: m.URL()})
	}
	start := func(self string) (*Seeder, func()) {
		cfg := testConfig(tr.URL, streams[0].URL)
		cfg.Streams = streams
		cfg.Replicas = ReplicasConfig{Self: self, Members: []string{"r0", "r1", "r2"}, Redundancy: 2}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s, err := New(cfg, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
			Registry: prometheus.NewRegistry(), AdminListener: ln, HTTPClient: origin.Client()})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		waitFor(t, 10*time.Second, self+" ready", s.Ready)
		return s, func() { cancel(); require.NoError(t, <-done) }
	}
	seeders := map[string]*Seeder{}
	stops := map[string]func(){}
	for _, r := range []string{"r0", "r1", "r2"} {
		seeders[r], stops[r] = start(r)
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	seededBy := map[string][]string{}
	for r, s := range seeders {
		st := s.Status()
		for _, ss := range st.Streams {
			seededBy[ss.ID] = append(seededBy[ss.ID], r)
			require.Contains(t, ss.Replicas, r)
		}
		require.Len(t, st.Streams, len(streams)-len(st.Elsewhere))
	}
	// The status page shows the assignment.
	rec := httptest.NewRecorder()
	seeders["r1"].Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "3 replicas · each stream on 2")
	require.Contains(t, rec.Body.String(), "seeded by other replicas")
	require.Contains(t, rec.Body.String(), "seeded by <code>")
	for _, sc := range streams {
		require.Len(t, seededBy[sc.ID], 2, "stream %s seeded by %v", sc.ID, seededBy[sc.ID])
		for seg := range 3 {
			waitFor(t, 5*time.Second, "fetches", func() bool {
				return origin.Requests(fmt.Sprintf("/%s/seg%d.ts", sc.ID, seg)) == 2
			})
		}
	}

	// r0 goes away and comes back: it seeds the same streams again.
	before := seeders["r0"].Status().Streams
	stops["r0"]()
	seeders["r0"], stops["r0"] = start("r0")
	after := seeders["r0"].Status().Streams
	require.Equal(t, len(before), len(after))
	for i := range before {
		require.Equal(t, before[i].ID, after[i].ID)
		waitFor(t, 5*time.Second, "refetch", func() bool {
			return origin.Requests(fmt.Sprintf("/%s/seg0.ts", after[i].ID)) == 3
		})
	}
}
