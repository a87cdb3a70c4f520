package playlist

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/playlist/playlisttest"
)

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "https://CDN.Example.com", want: "https://cdn.example.com:443"},
		{in: "https://cdn.example.com.:443/", want: "https://cdn.example.com:443"},
		{in: "HTTP://10.0.0.5", want: "http://10.0.0.5:80"},
		{in: "http://[::FFFF:10.0.0.5]:8080", want: "http://10.0.0.5:8080"},
		{in: "http://[FD00:EC2::254]", want: "http://[fd00:ec2::254]:80"},
		{in: "https://cdn.example.com/live", err: `"https://cdn.example.com/live" is not an origin: want scheme://host[:port] without path, query or fragment`},
		{in: "https://cdn.example.com?x", err: "without path, query or fragment"},
		{in: "https://u:p@cdn.example.com", err: "without path, query or fragment"},
		{in: "ftp://cdn.example.com", err: `"ftp://cdn.example.com" is not an origin: want an http or https url, got scheme "ftp"`},
		{in: "cdn.example.com", err: `"cdn.example.com" is not an origin: want an absolute http(s) url such as https://cdn.example.com`},
		{in: "https://", err: "want an absolute http(s) url such as https://cdn.example.com"},
		{in: "https://:8080", err: "want an absolute http(s) url such as https://cdn.example.com"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := ParseOrigin(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, o.String())
		})
	}
}

func TestPolicyCheckURL(t *testing.T) {
	p, err := NewPolicy(PolicyConfig{
		URL:            "http://10.1.2.3:8080/live/master.m3u8",
		AllowedOrigins: []string{"https://cdn.example.com", "http://edge.example.net:8081"},
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		url    string
		reason string // "" for allowed
	}{
		{url: "http://10.1.2.3:8080/live/seg1.ts"},
		{url: "HTTP://10.1.2.3:8080/other/path?token=x"},
		{url: "https://cdn.example.com/a.ts"},
		{url: "https://CDN.example.com.:443/a.ts"},
		{url: "http://edge.example.net:8081/a.ts"},
		{url: "http://10.1.2.3/live/seg1.ts", reason: RefusedPrivate},          // other port
		{url: "https://10.1.2.3:8080/live/seg1.ts", reason: RefusedPrivate},    // other scheme
		{url: "http://cdn.example.com/a.ts", reason: RefusedOtherOrigin},       // http, not https
		{url: "https://cdn.example.com:8443/a.ts", reason: RefusedOtherOrigin}, // other port
		{url: "https://evil.example.org/a.ts", reason: RefusedOtherOrigin},
		{url: "http://127.0.0.1:9090/metrics", reason: RefusedPrivate},
		{url: "http://[::1]:9090/metrics", reason: RefusedPrivate},
		{url: "http://169.254.169.254/latest/meta-data/", reason: RefusedMetadata},
		{url: "http://[fd00:ec2::254]/latest/meta-data/", reason: RefusedMetadata},
		{url: "http://[::ffff:169.254.169.254]/", reason: RefusedMetadata},
		{url: "http://100.100.100.200/latest/meta-data/", reason: RefusedMetadata},
		{url: "http://8.8.8.8/a.ts", reason: RefusedOtherOrigin},
		{url: "file:///etc/passwd", reason: RefusedScheme},
		{url: "gopher://10.1.2.3:8080/", reason: RefusedScheme},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := p.CheckURL(mustURL(t, tc.url))
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			require.Equal(t, tc.reason, refusal(err).Reason)
			require.NotContains(t, err.Error(), "/", "the error names the host, not the path")
		})
	}
}

func TestPolicyCheckDial(t *testing.T) {
	strict, err := NewPolicy(PolicyConfig{URL: "https://origin.example.com/m.m3u8",
		AllowedOrigins: []string{"http://127.0.0.1:8080", "http://[fd00::5]"}})
	require.NoError(t, err)
	lax, err := NewPolicy(PolicyConfig{URL: "https://origin.example.com/m.m3u8", AllowPrivate: true})
	require.NoError(t, err)
	for _, tc := range []struct {
		p      *Policy
		host   string
		ip     string
		reason string
	}{
		{p: strict, host: "origin.example.com", ip: "203.0.113.7"},
		{p: strict, host: "ORIGIN.example.com.", ip: "2001:db8::1"},
		{p: strict, host: "origin.example.com", ip: "127.0.0.1", reason: RefusedPrivate},
		{p: strict, host: "origin.example.com", ip: "::ffff:10.0.0.1", reason: RefusedPrivate},
		{p: strict, host: "origin.example.com", ip: "100.64.1.1", reason: RefusedPrivate},
		{p: strict, host: "origin.example.com", ip: "0.0.0.0", reason: RefusedPrivate},
		{p: strict, host: "origin.example.com", ip: "fe80::1", reason: RefusedPrivate},
		{p: strict, host: "origin.example.com", ip: "64:ff9b::a00:1", reason: RefusedPrivate}, // NAT64 of 10.0.0.1
		{p: strict, host: "origin.example.com", ip: "169.254.169.254", reason: RefusedMetadata},
		{p: strict, host: "127.0.0.1", ip: "127.0.0.1"}, // a literal origin is trusted
		{p: strict, host: "fd00::5", ip: "fd00::5"},     // likewise
		{p: strict, host: "127.0.0.2", ip: "127.0.0.2", reason: RefusedOtherOrigin},
		{p: strict, host: "evil.example.org", ip: "203.0.113.7", reason: RefusedOtherOrigin},
		{p: lax, host: "origin.example.com", ip: "10.0.0.1"},
		{p: lax, host: "origin.example.com", ip: "127.0.0.1"},
		{p: lax, host: "origin.example.com", ip: "169.254.169.254", reason: RefusedMetadata},
		{p: lax, host: "origin.example.com", ip: "fd00:ec2::254", reason: RefusedMetadata},
	} {
		t.Run(tc.host+"/"+tc.ip, func(t *testing.T) {
			err := tc.p.checkDial(tc.host, netip.MustParseAddr(tc.ip))
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			require.Equal(t, tc.reason, refusal(err).Reason)
		})
	}
}

func TestNewPolicyErrors(t *testing.T) {
	_, err := NewPolicy(PolicyConfig{URL: "ftp://x/m.m3u8"})
	require.ErrorContains(t, err, `stream url: want an http or https url, got scheme "ftp"`)
	_, err = NewPolicy(PolicyConfig{URL: "http://x/m.m3u8", AllowedOrigins: []string{"https://cdn/x"}})
	require.ErrorContains(t, err, `"https://cdn/x" is not an origin`)
}

// attack is a stream origin on 127.0.0.1 beside an "internal" server, also
// on 127.0.0.1, that no request may reach, and a CDN that may be listed.
type attack struct {
	origin   *playlisttest.Origin
	internal *httptest.Server
	hits     atomic.Int64 // requests the internal server received
	cdn      *playlisttest.Origin
	metrics  *Metrics
	network  atomic.Int64 // requests that reached the transport
}

func newAttack(t *testing.T) *attack {
	t.Helper()
	a := &attack{origin: playlisttest.NewOrigin(), cdn: playlisttest.NewOrigin(), metrics: NewMetrics(prometheus.NewRegistry())}
	a.internal = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		_, _ = w.Write([]byte("secret"))
	}))
	t.Cleanup(a.origin.Close)
	t.Cleanup(a.cdn.Close)
	t.Cleanup(a.internal.Close)
	return a
}

// client returns a client confined by a policy for the stream URL, which
// counts the requests that reach its transport.
func (a *attack) client(t *testing.T, cfg PolicyConfig) *http.Client {
	t.Helper()
	p, err := NewPolicy(cfg)
	require.NoError(t, err)
	c := p.Client(countingTransport{n: &a.network, rt: p.Transport(nil)})
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (a *attack) refused(kind, reason string) float64 {
	return testutil.ToFloat64(a.metrics.refused.WithLabelValues("s", kind, reason))
}

type countingTransport struct {
	n  *atomic.Int64
	rt *http.Transport
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func (c countingTransport) CloseIdleConnections() { c.rt.CloseIdleConnections() }

func TestFetcherConfined(t *testing.T) {
	a := newAttack(t)
	media := a.origin.AddMedia("/v/index.m3u8", MediaOptions{Segments: 2, SegmentSize: 500})
	cdnMedia := a.cdn.AddMedia("/v/index.m3u8", MediaOptions{Segments: 2, SegmentSize: 700})
	a.origin.Redirect("/v/hop.ts", a.internal.URL+"/admin/metrics")
	a.origin.Redirect("/v/to-cdn.ts", cdnMedia.SegmentURL(1))
	var logs syncBuffer
	client := a.client(t, PolicyConfig{URL: a.origin.URL + "/master.m3u8", AllowedOrigins: []string{a.cdn.URL}})
	f := NewFetcher(FetcherConfig{Stream: "s", Client: client, Metrics: a.metrics, RetryDelay: time.Millisecond,
		Logger: zerolog.New(&logs)})
	ctx := context.Background()

	t.Run("own origin", func(t *testing.T) {
		got, err := f.Fetch(ctx, Segment{URL: media.SegmentURL(0)})
		require.NoError(t, err)
		require.Equal(t, media.SegmentData(0), got)
	})
	t.Run("listed cdn, directly and by redirect", func(t *testing.T) {
		got, err := f.Fetch(ctx, Segment{URL: cdnMedia.SegmentURL(0)})
		require.NoError(t, err)
		require.Equal(t, cdnMedia.SegmentData(0), got)
		got, err = f.Fetch(ctx, Segment{URL: a.origin.URL + "/v/to-cdn.ts"})
		require.NoError(t, err)
		require.Equal(t, cdnMedia.SegmentData(1), got)
	})
	t.Run("internal server named by the playlist", func(t *testing.T) {
		before := a.network.Load()
		_, err := f.Fetch(ctx, Segment{URL: a.internal.URL + "/admin/metrics?token=hunter2"})
		require.ErrorIs(t, err, ErrRefused)
		require.NotContains(t, err.Error(), "hunter2")
		require.Equal(t, before, a.network.Load(), "refused before the transport, and not retried")
		require.Equal(t, 1.0, a.refused(kindSegment, RefusedPrivate))
	})
	t.Run("cloud metadata", func(t *testing.T) {
		before := a.network.Load()
		_, err := f.Fetch(ctx, Segment{URL: "http://169.254.169.254/latest/meta-data/iam/security-credentials/"})
		require.ErrorIs(t, err, ErrRefused)
		require.Equal(t, before, a.network.Load(), "no dial attempt")
		require.Equal(t, 1.0, a.refused(kindSegment, RefusedMetadata))
	})
	t.Run("redirect to the internal server", func(t *testing.T) {
		_, err := f.Fetch(ctx, Segment{URL: a.origin.URL + "/v/hop.ts"})
		require.ErrorIs(t, err, ErrRefused)
		require.Equal(t, 1, a.origin.Requests("/v/hop.ts"), "refused at the hop, not retried")
		require.Equal(t, 2.0, a.refused(kindSegment, RefusedPrivate))
	})
	t.Run("other schemes", func(t *testing.T) {
		_, err := f.Fetch(ctx, Segment{URL: "file:///etc/passwd"})
		require.ErrorIs(t, err, ErrRefused)
		require.Equal(t, 1.0, a.refused(kindSegment, RefusedScheme))
	})
	require.Zero(t, a.hits.Load(), "the internal server was never reached")
	require.Contains(t, logs.String(), `"host":"169.254.169.254","reason":"metadata_address","message":"origin request refused by fetch policy"`)
	require.NotContains(t, logs.String(), "hunter2", "logs name the host, never the query")
	require.NotContains(t, logs.String(), "security-credentials", "logs name the host, never the path")
	// Refused requests are not origin requests.
	require.Equal(t, 3.0, testutil.ToFloat64(a.metrics.requests.WithLabelValues("s", kindSegment, "2xx")))
	require.Equal(t, 0.0, testutil.ToFloat64(a.metrics.requests.WithLabelValues("s", kindSegment, "error")))
}

// TestFetcherDNSRebinding checks the address dialled: "localhost" is a
// listed origin, but it resolves to loopback, so connecting is refused
// unless the stream allows private addresses.
func TestFetcherDNSRebinding(t *testing.T) {
	a := newAttack(t)
	cdnMedia := a.cdn.AddMedia("/v/index.m3u8", MediaOptions{Segments: 1, SegmentSize: 300})
	byName := strings.Replace(cdnMedia.SegmentURL(0), "127.0.0.1", "localhost", 1)
	cdnByName := strings.Replace(a.cdn.URL, "127.0.0.1", "localhost", 1)
	cfg := PolicyConfig{URL: a.origin.URL + "/master.m3u8", AllowedOrigins: []string{cdnByName}}

	f := NewFetcher(FetcherConfig{Stream: "s", Client: a.client(t, cfg), Metrics: a.metrics, RetryDelay: time.Millisecond})
	_, err := f.Fetch(context.Background(), Segment{URL: byName})
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, 1.0, a.refused(kindSegment, RefusedPrivate))
	require.Equal(t, int64(1), a.network.Load(), "allowed by URL, refused at dial time")
	require.Zero(t, a.cdn.Requests("/v/seg0.ts"))

	cfg.AllowPrivate = true
	f = NewFetcher(FetcherConfig{Stream: "s", Client: a.client(t, cfg), Metrics: a.metrics})
	got, err := f.Fetch(context.Background(), Segment{URL: byName})
	require.NoError(t, err)
	require.Equal(t, cdnMedia.SegmentData(0), got)
}

func TestFollowerConfined(t *testing.T) {
	a := newAttack(t)
	// The manifest names one variant on its own origin, one on the internal
	// server and one at the metadata address; the first one's playlist
	// redirects to the internal server after its first load.
	a.origin.SetFile("/master.m3u8", []byte("#EXTM3U\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=1000000\nv/index.m3u8\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=2000000\n"+a.internal.URL+"/v/index.m3u8\n"+
		"#EXT-X-STREAM-INF:BANDWIDTH=3000000\nhttp://169.254.169.254/latest/index.m3u8\n"))
	a.origin.AddMedia("/v/index.m3u8", MediaOptions{Segments: 2, Live: true})
	clk := &fastClock{}
	var logs syncBuffer
	events := runFollower(t, FollowerConfig{
		Stream: "s", URL: a.origin.URL + "/master.m3u8", Client: a.client(t, PolicyConfig{URL: a.origin.URL + "/master.m3u8"}),
		Metrics: a.metrics, Logger: zerolog.New(&logs), Now: time.Now, After: clk.After,
	})
	require.Equal(t, -1, nextEvent(t, events).Variant)
	ev := nextEvent(t, events)
	require.Equal(t, 0, ev.Variant, "only the own origin's variant loads")
	a.origin.Redirect("/v/index.m3u8", a.internal.URL+"/v/index.m3u8")
	waitUntil(t, func() bool {
		return a.refused(kindPlaylist, RefusedPrivate) >= 3 && a.refused(kindPlaylist, RefusedMetadata) >= 2
	})
	require.Zero(t, a.hits.Load(), "the internal server was never reached")
	require.Positive(t, testutil.ToFloat64(a.metrics.errors.WithLabelValues("s", reasonRefused)))
	require.Contains(t, logs.String(), `"reason":"metadata_address","message":"origin request refused by fetch policy"`)
	require.NotContains(t, logs.String(), "playlist load failed", "refusals are logged once, without the URL")
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
