package seeder

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

func TestLoadGoodConfigs(t *testing.T) {
	t.Run("minimal file gets the defaults", func(t *testing.T) {
		cfg, err := LoadConfig("testdata/config/good-minimal.yaml")
		require.NoError(t, err)
		want := DefaultConfig()
		want.Streams = []StreamConfig{{
			ID:          "bbb",
			URL:         "https://cdn.example.com/vod/bbb/master.m3u8",
			Generations: []wire.Generation{wire.Gen06, wire.Gen22, wire.Gen23, wire.GenV3},
		}}
		require.Equal(t, want, cfg)
		require.Equal(t, []string{"wss://tracker.novage.com.ua", "wss://tracker.openwebtorrent.com"}, cfg.Trackers)
		require.Equal(t, []ICEServer{{URLs: []string{"stun:stun.l.google.com:19302"}}}, cfg.WebRTC.ICEServers)
		require.Equal(t, ":9090", cfg.HTTP.Listen)
	})
	t.Run("every key", func(t *testing.T) {
		cfg, err := LoadConfig("testdata/config/good-full.yaml")
		require.NoError(t, err)
		require.Equal(t, []ICEServer{}, cfg.WebRTC.ICEServers, "[] means no ICE servers, not the default")
		require.True(t, cfg.WebRTC.IncludeLoopback)
		require.Equal(t, ByteSize(8<<20), cfg.WebRTC.UDPPortBuffer)
		require.Equal(t, ByteSize(2<<20), cfg.TrackerClient.MaxMessageBytes)
		require.Equal(t, 20*time.Second, cfg.TrackerClient.PingInterval)
		require.Equal(t, ByteSize(2<<30), cfg.Cache.MaxBytes)
		require.Equal(t, ByteSize(100e6), cfg.Peers.UploadRate)
		require.Equal(t, "my-custom-swarm", cfg.Streams[0].SwarmID)
		require.Equal(t, []wire.Generation{wire.Gen23}, cfg.Streams[0].Generations)
		require.Equal(t, []wire.Generation{wire.Gen06, wire.Gen22, wire.Gen23, wire.GenV3}, cfg.Streams[1].Generations, "default: every generation")
		require.Empty(t, cfg.Streams[0].AllowedOrigins)
		require.False(t, cfg.Streams[0].AllowPrivate)
		require.Equal(t, []string{"https://edge.example.net", "http://10.0.0.5:8080"}, cfg.Streams[1].AllowedOrigins)
		require.True(t, cfg.Streams[1].AllowPrivate)
	})
}

func TestLoadBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want string
	}{
		{"bad-unknown-key.yaml", "testdata/config/bad-unknown-key.yaml:3: webrtc.ice_server: unknown key " +
			"(known here: buffer_high, buffer_low, connect_timeout, ice_servers, include_loopback, interfaces, " +
			"max_message_size, public_ips, send_batching, send_queue, tcp_max_per_ip, tcp_port, udp_port, udp_port_buffer)\n" +
			"testdata/config/bad-unknown-key.yaml:7: streams[0].swarmid: unknown key (known here: allow_private, allowed_origins, generations, id, swarm_id, url)"},
		{"bad-allowed-origins.yaml", "testdata/config/bad-allowed-origins.yaml:6: streams[0].allowed_origins[1]: \"https://cdn.example.com/live/\" is not an origin: want scheme://host[:port] without path, query or fragment\n" +
			"testdata/config/bad-allowed-origins.yaml:7: streams[0].allowed_origins[2]: \"cdn.example.com\" is not an origin: want an absolute http(s) url such as https://cdn.example.com\n" +
			"testdata/config/bad-allowed-origins.yaml:8: streams[0].allowed_origins[3]: \"ftp://cdn.example.com\" is not an origin: want an http or https url, got scheme \"ftp\"\n" +
			"testdata/config/bad-allowed-origins.yaml:9: streams[0].allowed_origins[4]: \"https://cdn.example.com?token=x\" is not an origin: want scheme://host[:port] without path, query or fragment"},
		{"bad-values.yaml", "testdata/config/bad-values.yaml:1: trackers[0]: \"https://tracker.example.com\" is not a ws:// or wss:// URL\n" +
			"testdata/config/bad-values.yaml:4: peers.max_per_swarm: must be between 1 and peers.max (10), got 20\n" +
			"testdata/config/bad-values.yaml:7: streams[0].url: \"ftp://cdn.example.com/vod/bbb/master.m3u8\" is not an http:// or https:// URL\n" +
			"testdata/config/bad-values.yaml:8: streams[1].id: \"bbb\" is used by another stream\n" +
			"testdata/config/bad-values.yaml:10: streams[1].generations[0]: \"2.4\" is not one of [\"0.6\" \"2.2\" \"2.3\" \"v3\"]\n" +
			"testdata/config/bad-values.yaml:11: streams[2].id: required\n" +
			"testdata/config/bad-values.yaml:13: webrtc.udp_port_buffer: must be 0 (the host's default) or between 64KiB and 1GiB, got 1KiB"},
		{"bad-same-swarm.yaml", "testdata/config/bad-same-swarm.yaml:4: streams[1].swarm_id: streams[0] has the same swarm (\"https://cdn.example.com/live/master.m3u8\"); give each stream its own url or swarm_id\n" +
			"testdata/config/bad-same-swarm.yaml:11: streams[3].swarm_id: streams[2] has the same swarm (\"shared\"); give each stream its own url or swarm_id"},
		// Every problem of a file at once, in line order, and no second document.
		{"bad-several.yaml", "testdata/config/bad-several.yaml:3: origin.concurrency: cannot unmarshal !!str `many` into int\n" +
			"testdata/config/bad-several.yaml:5: webrtc.ice_server: unknown key (known here: buffer_high, buffer_low, connect_timeout, ice_servers, include_loopback, interfaces, max_message_size, public_ips, send_batching, send_queue, tcp_max_per_ip, tcp_port, udp_port, udp_port_buffer)\n" +
			"testdata/config/bad-several.yaml:6: peers.max_per_swarm: must be between 1 and peers.max (0), got 500\n" +
			"testdata/config/bad-several.yaml:7: peers.max: must be at least 1, got 0\n" +
			"testdata/config/bad-several.yaml:10: streams[0].url: \"ftp://cdn.example.com/vod/bbb/master.m3u8\" is not an http:// or https:// URL\n" +
			"testdata/config/bad-several.yaml:11: a second YAML document (---): superpeer reads one; put every key in the first"},
		{"bad-type.yaml", "testdata/config/bad-type.yaml:2: origin.concurrency: cannot unmarshal !!str `many` into int"},
		{"bad-size.yaml", "testdata/config/bad-size.yaml:2: cache.max_bytes: unknown size unit \"parsecs\" (use B, KB, MB, GB, KiB, MiB, GiB)"},
		{"bad-size-format.yaml", "testdata/config/bad-size-format.yaml:2: peers.upload_rate: \"fast\" is not a size such as 64MiB"},
		// yaml.v3 reports the line where the broken block starts.
		{"bad-syntax.yaml", "testdata/config/bad-syntax.yaml:1: did not find expected '-' indicator"},
		{"bad-empty.yaml", "testdata/config/bad-empty.yaml: streams: at least one stream is required (or tracker_server.listen, to run only the tracker)"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadConfig(filepath.Join("testdata/config", tc.file))
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want ByteSize
	}{
		{"1024", 1024}, {"64MiB", 64 << 20}, {"1.5GiB", 3 << 29}, {"10MB", 10e6}, {"512 kib", 512 << 10}, {"7B", 7},
	} {
		cfg, err := ParseConfig([]byte("cache: {max_bytes: "+tc.yaml+"}\nstreams: [{id: a, url: 'http://o/m.m3u8'}]"), "x")
		if tc.want < 1<<20 {
			require.Error(t, err, tc.yaml)
			continue
		}
		require.NoError(t, err, tc.yaml)
		require.Equal(t, tc.want, cfg.Cache.MaxBytes, tc.yaml)
	}
	require.Equal(t, "64MiB", ByteSize(64<<20).String())
	require.Equal(t, "1000B", ByteSize(1000).String())
}

// TestOffersPerAnnounceZero: offers_per_announce 0 means superpeer makes no
// offers at all, not the tracker client's default.
func TestOffersPerAnnounceZero(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Trackers = []string{"ws://127.0.0.1:1"}
	cfg.Streams = []StreamConfig{{ID: "s", URL: "http://127.0.0.1:1/m.m3u8"}}
	cfg.TrackerClient.OffersPerAnnounce = 0
	s, err := New(cfg, Options{Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.Negative(t, s.trackerCfg.OffersPerAnnounce)
	cfg.TrackerClient.OffersPerAnnounce = 7
	s, err = New(cfg, Options{Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	require.Equal(t, 7, s.trackerCfg.OffersPerAnnounce)
}

// TestICEServersConfig: an ice_servers entry is a URL or a TURN server with
// credentials; mistakes name their line.
func TestICEServersConfig(t *testing.T) {
	base := "streams: [{id: s, url: \"https://o.example/m.m3u8\"}]\nwebrtc:\n  tcp_port: 3478\n  ice_servers:\n"
	cfg, err := ParseConfig([]byte(base+
		"    - stun:stun.example.com:3478\n"+
		"    - urls: [\"turn:turn.example.com:3478?transport=udp\", \"turns:turn.example.com:5349\"]\n"+
		"      username: superpeer\n"+
		"      credential: s3cret\n"+
		"    - {urls: \"turn:relay.example.com\"}\n"), "f.yaml")
	require.NoError(t, err)
	require.Equal(t, []ICEServer{
		{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"}, Username: "superpeer", Credential: "s3cret"},
		{URLs: []string{"turn:relay.example.com"}},
	}, cfg.WebRTC.ICEServers)
	require.Equal(t, 3478, cfg.WebRTC.TCPPort)

	_, err = ParseConfig([]byte(base+
		"    - urls: [\"stun:s.example.com\"]\n"+
		"      password: x\n"+
		"    - {urls: [\"stun:s.example.com\"], username: u}\n"+
		"    - http://nope\n"), "f.yaml")
	require.EqualError(t, err, "f.yaml:6: webrtc.ice_servers[0].password: unknown key (known here: credential, urls, username)\n"+
		"f.yaml:7: webrtc.ice_servers[1]: username and credential are for turn: servers\n"+
		"f.yaml:8: webrtc.ice_servers[2]: \"http://nope\" is not a stun:, turn: or turns: URL")
}

// TestTrackerServerSourceLimitsConfig: the per-source limits must be
// positive and trusted_proxies must be CIDRs or addresses; both reach the
// tracker.
func TestTrackerServerSourceLimitsConfig(t *testing.T) {
	base := "streams: [{id: s, url: \"https://o.example/m.m3u8\"}]\ntracker_server:\n"
	cfg, err := ParseConfig([]byte(base+"  trusted_proxies: [10.0.0.0/8, \"192.0.2.7\", \"fd00::/8\"]\n"), "x")
	require.NoError(t, err)
	require.Equal(t, 64, cfg.TrackerServer.MaxPeersPerIP)
	require.Equal(t, 256, cfg.TrackerServer.MaxPeersPerPrefix)
	for _, p := range cfg.TrackerServer.TrustedProxies {
		_, err := parseProxy(p)
		require.NoError(t, err, p)
	}
	pp, err := parseProxy("192.0.2.7")
	require.NoError(t, err)
	require.Equal(t, "192.0.2.7/32", pp.String())

	_, err = ParseConfig([]byte(base+"  max_peers_per_ip: 0\n  max_peers_per_prefix: -1\n  trusted_proxies: [10.0.0.0/33, proxy.example]\n"), "x")
	require.EqualError(t, err, "x:3: tracker_server.max_peers_per_ip: must be at least 1, got 0\n"+
		"x:4: tracker_server.max_peers_per_prefix: must be at least 1, got -1\n"+
		"x:5: tracker_server.trusted_proxies[0]: \"10.0.0.0/33\" is not a CIDR (10.0.0.0/8) or an IP address\n"+
		"x:5: tracker_server.trusted_proxies[1]: \"proxy.example\" is not a CIDR (10.0.0.0/8) or an IP address")
}
