package seeder

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// Config is superpeer's YAML configuration. Every limit has a safe default
// (DefaultConfig); a file only needs the streams. Field comments double as
// the operator documentation in docs/config.md.
type Config struct {
	// Trackers are the WebTorrent tracker URLs the browsers announce to.
	// Default: P2P Media Loader's public trackers.
	Trackers []string `yaml:"trackers"`
	// TrackerClient tunes how superpeer talks to those trackers.
	TrackerClient TrackerClientConfig `yaml:"tracker_client"`
	// TrackerServer runs the embedded WebTorrent tracker, so a deployment
	// needs no public tracker: pages list it in announceTrackers and
	// superpeer joins it too.
	TrackerServer TrackerServerConfig `yaml:"tracker_server"`
	// WebRTC configures the peer connections to browsers.
	WebRTC WebRTCConfig `yaml:"webrtc"`
	// HTTP is the admin listener: /metrics, /healthz, /readyz.
	HTTP HTTPConfig `yaml:"http"`
	// Origin configures fetching from the streams' origins.
	Origin OriginConfig `yaml:"origin"`
	// Cache bounds the segment bytes held in memory.
	Cache CacheConfig `yaml:"cache"`
	// Peers bounds connected browsers and upload.
	Peers PeersConfig `yaml:"peers"`
	// Replicas spreads the streams over several superpeer processes.
	Replicas ReplicasConfig `yaml:"replicas"`
	// Streams are the HLS and DASH streams to seed.
	Streams []StreamConfig `yaml:"streams"`
}

// TrackerClientConfig tunes the WebTorrent tracker connections.
type TrackerClientConfig struct {
	// Origin is sent as the WebSocket Origin header; trackers with an origin
	// allow-list drop clients without one.
	Origin string `yaml:"origin"`
	// OffersPerAnnounce is how many WebRTC offers each announce carries, so
	// the tracker pairs superpeer with browsers instead of waiting for theirs.
	OffersPerAnnounce int `yaml:"offers_per_announce"`
	// PeerIDPrefix starts every peer id superpeer announces (20 chars in all).
	PeerIDPrefix string `yaml:"peer_id_prefix"`
	// MaxMessageBytes caps tracker messages read.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"`
	// PingInterval is how often the WebSocket is pinged.
	PingInterval time.Duration `yaml:"ping_interval"`
	// MinInterval is the least time between two announces of a swarm. While
	// browsers take superpeer's offers and the tracker counts browsers it has
	// not reached, a swarm announces again this long after the last instead
	// of waiting for the tracker's interval. It also floors that interval.
	MinInterval time.Duration `yaml:"min_interval"`
}

// TrackerServerConfig configures the embedded WebTorrent tracker.
type TrackerServerConfig struct {
	// Listen is the address browsers connect to (ws://, or wss:// behind a
	// TLS proxy); "" turns the tracker off.
	Listen string `yaml:"listen"`
	// Interval is the announce interval told to clients; a peer that misses
	// two announces expires.
	Interval time.Duration `yaml:"interval"`
	// MaxPeers bounds connections; MaxSwarms and MaxPeersPerSwarm bound the
	// swarms.
	MaxPeers         int `yaml:"max_peers"`
	MaxSwarms        int `yaml:"max_swarms"`
	MaxPeersPerSwarm int `yaml:"max_peers_per_swarm"`
	// MaxPeersPerIP and MaxPeersPerPrefix bound the connections from one
	// client address and from one /24 (IPv4) or /64 (IPv6), so that one
	// source cannot take all of MaxPeers.
	MaxPeersPerIP     int `yaml:"max_peers_per_ip"`
	MaxPeersPerPrefix int `yaml:"max_peers_per_prefix"`
	// MaxPendingPerIP and MaxPending bound the TCP connections not yet
	// upgraded to a WebSocket, from one address and in all; excess ones are
	// closed at accept.
	MaxPendingPerIP int `yaml:"max_pending_per_ip"`
	MaxPending      int `yaml:"max_pending"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For header names the client for those limits.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxOffers bounds the offers relayed per announce.
	MaxOffers int `yaml:"max_offers"`
	// AllowedOrigins, when set, admits only pages of these origins
	// ("https://www.example.com", "*.example.com", "*").
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxMessageBytes caps a message from a client.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"`
}

// WebRTCConfig configures peer connections.
type WebRTCConfig struct {
	// ICEServers are STUN/TURN servers; [] means none. In the file an
	// entry is a URL, or {urls, username, credential} for a TURN server
	// that needs credentials.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// TCPPort, when set, also accepts ICE over TCP (passive candidates) on
	// this one port, for browsers whose networks block UDP.
	TCPPort int `yaml:"tcp_port"`
	// TCPMaxPerIP bounds the TCP connections on TCPPort from one address;
	// further ones are closed as they are accepted.
	TCPMaxPerIP int `yaml:"tcp_max_per_ip"`
	// IncludeLoopback gathers 127.0.0.1 candidates (tests, one-box demos).
	IncludeLoopback bool `yaml:"include_loopback"`
	// UDPPort, when set, carries every peer connection on this one UDP port
	// (easy to open in a firewall or publish from a container).
	UDPPort int `yaml:"udp_port"`
	// UDPPortBuffer is the kernel receive and send buffer asked for the
	// UDPPort socket, which every browser shares; 0 keeps the host's default.
	UDPPortBuffer ByteSize `yaml:"udp_port_buffer"`
	// PublicIPs are announced as host candidates instead of the local
	// addresses (1:1 NAT, cloud instances).
	PublicIPs []string `yaml:"public_ips"`
	// Interfaces, when set, limits candidates to these network interfaces.
	Interfaces []string `yaml:"interfaces"`
	// MaxMessageSize is the largest data-channel message sent; browsers use 65535.
	MaxMessageSize int `yaml:"max_message_size"`
	// BufferHigh pauses an upload while this many bytes wait in a data
	// channel's send buffer; BufferLow resumes it.
	BufferHigh ByteSize `yaml:"buffer_high"`
	BufferLow  ByteSize `yaml:"buffer_low"`
	// ConnectTimeout bounds offer/answer, ICE and the data channel opening.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// SendBatching queues outgoing datagrams and sends them in batches,
	// with UDP segmentation offload where the kernel allows it.
	SendBatching bool `yaml:"send_batching"`
	// SendQueue bounds the bytes one UDP socket may have queued for the
	// batch sender; writers wait beyond it.
	SendQueue ByteSize `yaml:"send_queue"`
}

// HTTPConfig is the admin listener.
type HTTPConfig struct {
	// Listen is the address of /metrics, /healthz and /readyz; "" disables it.
	Listen string `yaml:"listen"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// OriginConfig configures origin requests.
type OriginConfig struct {
	// Concurrency is the number of segment downloads in flight per stream.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed segment download is retried.
	Retries int `yaml:"retries"`
	// MaxSegmentBytes rejects larger segments.
	MaxSegmentBytes ByteSize `yaml:"max_segment_bytes"`
	// MaxPlaylistBytes rejects larger playlists.
	MaxPlaylistBytes ByteSize `yaml:"max_playlist_bytes"`
	// UserAgent is sent with every origin request.
	UserAgent string `yaml:"user_agent"`
}

// CacheConfig bounds segment memory.
type CacheConfig struct {
	// MaxBytes is the memory for segment bytes across all streams. VOD streams
	// are held whole while they fit; live streams hold their window.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// PeersConfig bounds browsers and upload.
type PeersConfig struct {
	// Max is the most browser connections in all.
	Max int `yaml:"max"`
	// MaxPerSwarm is the most browser connections in one swarm.
	MaxPerSwarm int `yaml:"max_per_swarm"`
	// MaxPendingOffers bounds offers awaiting an answer, across swarms.
	MaxPendingOffers int `yaml:"max_pending_offers"`
	// UploadRate caps segment bytes sent per second in all; 0 is unlimited.
	UploadRate ByteSize `yaml:"upload_rate"`
}

// ReplicasConfig spreads streams over replicas by rendezvous hashing: every
// replica computes the same assignment from the same file, with no
// coordination service.
type ReplicasConfig struct {
	// Self is this replica's identity; "" means $POD_NAME, else the host
	// name (a StatefulSet pod's name, such as superpeer-1).
	Self string `yaml:"self"`
	// Count is the number of replicas of a StatefulSet: the members are
	// <prefix>-0 … <prefix>-(Count-1), the prefix taken from Self. 1 (the
	// default) seeds every stream here.
	Count int `yaml:"count"`
	// Members lists the replica identities instead of Count.
	Members []string `yaml:"members"`
	// Redundancy is how many replicas seed each stream (at most the number
	// of members); default 2, so that one replica's loss leaves every
	// stream seeded.
	Redundancy int `yaml:"redundancy"`
}

func (r ReplicasConfig) validate() ConfigErrors {
	var errs ConfigErrors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if r.Count < 1 {
		bad("replicas.count", "must be at least 1, got %d", r.Count)
	}
	if r.Redundancy < 1 {
		bad("replicas.redundancy", "must be at least 1, got %d", r.Redundancy)
	}
	if len(r.Members) > 0 && r.Count > 1 {
		bad("replicas.members", "set members or count, not both")
	}
	seen := map[string]bool{}
	for i, m := range r.Members {
		if m == "" || seen[m] {
			bad(fmt.Sprintf("replicas.members[%d]", i), "%q is empty or listed twice", m)
		}
		seen[m] = true
	}
	if r.Self != "" && len(r.Members) > 0 && !seen[r.Self] {
		bad("replicas.self", "%q is not one of replicas.members", r.Self)
	}
	return errs
}

// StreamConfig is one stream to seed.
type StreamConfig struct {
	// ID names the stream in logs and metric labels.
	ID string `yaml:"id"`
	// URL is the master (or media) playlist, the same URL the pages load.
	URL string `yaml:"url"`
	// SwarmID is the pages' P2P Media Loader swarmId setting, if they set one.
	SwarmID string `yaml:"swarm_id"`
	// Generations are the P2P Media Loader release lines whose swarms are
	// joined: by default every one superpeer serves ("0.6", "2.2", "2.3", "v3").
	Generations []wire.Generation `yaml:"generations"`
	// AllowedOrigins are the origins (scheme://host[:port]) besides the
	// url's own that the stream's playlists and redirects may send
	// superpeer to, such as a CDN. Everything else is refused.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowPrivate lets the stream's origins given by name resolve to
	// loopback, private and link-local addresses (an origin on an internal
	// name). Origins written as IP addresses need no such permission.
	AllowPrivate bool `yaml:"allow_private"`
}

// DefaultConfig returns the configuration every file is laid over.
func DefaultConfig() Config {
	return Config{
		Trackers: []string{"wss://tracker.novage.com.ua", "wss://tracker.openwebtorrent.com"},
		TrackerClient: TrackerClientConfig{
			OffersPerAnnounce: 10,
			PeerIDPrefix:      "-SP0100-",
			MaxMessageBytes:   1 << 20,
			PingInterval:      30 * time.Second,
			MinInterval:       5 * time.Second,
		},
		WebRTC: WebRTCConfig{
			ICEServers:     []ICEServer{{URLs: []string{"stun:stun.l.google.com:19302"}}},
			MaxMessageSize: wire.DefaultMaxMessageSize,
			BufferHigh:     1 << 20,
			BufferLow:      512 << 10,
			ConnectTimeout: 30 * time.Second,
			TCPMaxPerIP:    64,
			SendBatching:   true,
			SendQueue:      256 << 10,
			UDPPortBuffer:  4 << 20,
		},
		TrackerServer: TrackerServerConfig{
			Interval:          60 * time.Second,
			MaxPeers:          10000,
			MaxSwarms:         100000,
			MaxPeersPerSwarm:  5000,
			MaxPeersPerIP:     64,
			MaxPeersPerPrefix: 256,
			MaxPendingPerIP:   32,
			MaxPending:        1024,
			MaxOffers:         20,
			MaxMessageBytes:   64 << 10,
		},
		HTTP: HTTPConfig{Listen: ":9090", ShutdownTimeout: 10 * time.Second},
		Origin: OriginConfig{
			Concurrency:      4,
			Timeout:          20 * time.Second,
			Retries:          3,
			MaxSegmentBytes:  64 << 20,
			MaxPlaylistBytes: 4 << 20,
			UserAgent:        "superpeer",
		},
		Cache:    CacheConfig{MaxBytes: 1 << 30},
		Peers:    PeersConfig{Max: 2000, MaxPerSwarm: 500, MaxPendingOffers: 200},
		Replicas: ReplicasConfig{Count: 1, Redundancy: 2},
	}
}

// ConfigError is a configuration problem at a place in the file.
type ConfigError struct {
	File string // may be empty
	Line int    // 0 when unknown
	Key  string // dotted path, e.g. streams[1].url
	Msg  string
}

// Error formats the problem as file:line: key: message.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		if e.File == "" {
			b.WriteString("line ")
		}
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	} else if e.File != "" {
		b.WriteByte(' ')
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in one file.
type ConfigErrors []*ConfigError

// Error joins the problems, one per line.
func (es ConfigErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(b, path)
}

// ParseConfig parses YAML over DefaultConfig and validates the result. name
// labels errors (usually the file path). Unknown keys, values of the wrong
// type and invalid values are errors naming the key and its line; all of
// them are reported at once.
func ParseConfig(data []byte, name string) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, yamlSyntaxError(name, err)
	}
	lines := map[string]int{}
	var errs ConfigErrors
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		// A second document would be silently ignored: say so instead.
		errs = append(errs, &ConfigError{File: name, Line: secondDocumentLine(data),
			Msg: "a second YAML document (---): superpeer reads one; put every key in the first"})
	case !errors.Is(err, io.EOF):
		return Config{}, yamlSyntaxError(name, err)
	}
	if len(root.Content) > 0 {
		checkKeys(root.Content[0], reflect.TypeOf(cfg), "", lines, &errs, name)
		// Unknown keys are reported by checkKeys (naming the key, not a Go
		// type); every value error is reported too, and then the values
		// that decoded are validated, so one run names every problem.
		if err := root.Decode(&cfg); err != nil {
			errs = append(errs, yamlDecodeError(name, err, lines)...)
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				// A value's own unmarshaler failed, which stops yaml.v3:
				// what follows it was not decoded, so it cannot be judged.
				return Config{}, errs
			}
		}
	}
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Key] = true
	}
	for _, e := range cfg.validate() {
		if bad[e.Key] {
			continue // its value did not decode: already reported
		}
		e.File = name
		e.Line = lineOf(lines, e.Key)
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return Config{}, errs
	}
	return cfg, nil
}

// secondDocumentLine is the line of the "---" that starts a second
// document, or 0.
func secondDocumentLine(data []byte) int {
	content := false
	for i, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "---") && content:
			return i + 1
		case t != "" && !strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "---") && !strings.HasPrefix(t, "%"):
			content = true
		}
	}
	return 0
}

// checkKeys walks the YAML tree beside the Go type, reporting unknown keys
// with their line and recording the line of every known key path. (yaml.v3's
// own KnownFields error names Go types rather than keys.)
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *ConfigErrors, file string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		var known []string
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
				known = append(known, tag)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinKey(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				sort.Strings(known)
				*errs = append(*errs, &ConfigError{File: file, Line: k.Line, Key: p,
					Msg: "unknown key (known here: " + strings.Join(known, ", ") + ")"})
				continue
			}
			lines[p] = k.Line
			checkKeys(v, ft, p, lines, errs, file)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = item.Line
			checkKeys(item, t.Elem(), p, lines, errs, file)
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of key, or of its nearest ancestor in the file.
func lineOf(lines map[string]int, key string) int {
	for k := key; k != ""; {
		if l, ok := lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

func yamlSyntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		return ConfigErrors{{File: file, Line: l, Msg: m[2]}}
	}
	return ConfigErrors{{File: file, Msg: msg}}
}

// yamlDecodeError turns yaml.v3's value errors ("line 3: cannot unmarshal
// !!str `x` into int", or a ByteSize's own) into ConfigErrors, naming the key
// found on that line.
func yamlDecodeError(file string, err error, lines map[string]int) ConfigErrors {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	keyAt := map[int]string{}
	for k, l := range lines {
		// The deepest key on a line is the one the value belongs to.
		if cur, ok := keyAt[l]; !ok || len(k) > len(cur) {
			keyAt[l] = k
		}
	}
	var errs ConfigErrors
	for _, e := range msgs {
		e = strings.TrimPrefix(e, "yaml: ")
		m := yamlLine.FindStringSubmatch(e)
		if m == nil {
			errs = append(errs, &ConfigError{File: file, Msg: e})
			continue
		}
		l, _ := strconv.Atoi(m[1])
		errs = append(errs, &ConfigError{File: file, Line: l, Key: keyAt[l], Msg: m[2]})
	}
	return errs
}

// Validate checks a configuration built in code (ParseConfig does this for
// files) and fills in per-stream defaults. Errors name the key, not a line.
func (c *Config) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return errs
	}
	return nil
}

var streamIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// validate checks values that decode but make no sense.
func (c *Config) validate() ConfigErrors {
	var errs ConfigErrors
	defer func() { errs = append(errs, c.Replicas.validate()...) }()
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for i, t := range c.Trackers {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			bad(fmt.Sprintf("trackers[%d]", i), "%q is not a ws:// or wss:// URL", t)
		}
	}
	if c.TrackerClient.OffersPerAnnounce < 0 || c.TrackerClient.OffersPerAnnounce > 50 {
		bad("tracker_client.offers_per_announce", "must be between 0 and 50, got %d", c.TrackerClient.OffersPerAnnounce)
	}
	if p := c.TrackerClient.PeerIDPrefix; len(p) > 12 || strings.IndexFunc(p, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		bad("tracker_client.peer_id_prefix", "must be at most 12 printable ASCII characters, got %q", p)
	}
	if c.TrackerClient.MaxMessageBytes < 64<<10 {
		bad("tracker_client.max_message_bytes", "must be at least 64KiB, got %s", c.TrackerClient.MaxMessageBytes)
	}
	if c.TrackerClient.PingInterval < time.Second {
		bad("tracker_client.ping_interval", "must be at least 1s, got %s", c.TrackerClient.PingInterval)
	}
	if c.TrackerClient.MinInterval < time.Second || c.TrackerClient.MinInterval > 10*time.Minute {
		bad("tracker_client.min_interval", "must be between 1s and 10m, got %s", c.TrackerClient.MinInterval)
	}
	if ts := c.TrackerServer; ts.Listen != "" {
		if _, _, err := net.SplitHostPort(ts.Listen); err != nil {
			bad("tracker_server.listen", "%q is not host:port", ts.Listen)
		}
		if ts.Listen == c.HTTP.Listen {
			bad("tracker_server.listen", "%q is also http.listen", ts.Listen)
		}
	}
	if c.TrackerServer.Interval < time.Second {
		bad("tracker_server.interval", "must be at least 1s, got %s", c.TrackerServer.Interval)
	}
	for _, l := range []struct {
		key string
		v   int
	}{{"max_peers", c.TrackerServer.MaxPeers}, {"max_swarms", c.TrackerServer.MaxSwarms},
		{"max_peers_per_swarm", c.TrackerServer.MaxPeersPerSwarm}, {"max_offers", c.TrackerServer.MaxOffers},
		{"max_peers_per_ip", c.TrackerServer.MaxPeersPerIP}, {"max_peers_per_prefix", c.TrackerServer.MaxPeersPerPrefix},
		{"max_pending_per_ip", c.TrackerServer.MaxPendingPerIP}, {"max_pending", c.TrackerServer.MaxPending}} {
		if l.v < 1 {
			bad("tracker_server."+l.key, "must be at least 1, got %d", l.v)
		}
	}
	if c.TrackerServer.MaxMessageBytes < 4<<10 {
		bad("tracker_server.max_message_bytes", "must be at least 4KiB, got %s", c.TrackerServer.MaxMessageBytes)
	}
	for i, p := range c.TrackerServer.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			bad(fmt.Sprintf("tracker_server.trusted_proxies[%d]", i), "%q is not a CIDR (10.0.0.0/8) or an IP address", p)
		}
	}
	for i, o := range c.TrackerServer.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "*.") && !strings.Contains(o, "://") {
			bad(fmt.Sprintf("tracker_server.allowed_origins[%d]", i), "%q is not an origin (https://host[:port]), *.domain or *", o)
		}
	}
	for i, srv := range c.WebRTC.ICEServers {
		key := fmt.Sprintf("webrtc.ice_servers[%d]", i)
		if len(srv.URLs) == 0 {
			bad(key, "no urls")
		}
		turn := false
		for _, u := range srv.URLs {
			switch {
			case strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:"):
				turn = true
			case !strings.HasPrefix(u, "stun:"):
				bad(key, "%q is not a stun:, turn: or turns: URL", u)
			}
		}
		if !turn && (srv.Username != "" || srv.Credential != "") {
			bad(key, "username and credential are for turn: servers")
		}
	}
	if c.WebRTC.UDPPort < 0 || c.WebRTC.UDPPort > 65535 {
		bad("webrtc.udp_port", "must be a port number, got %d", c.WebRTC.UDPPort)
	}
	if b := c.WebRTC.UDPPortBuffer; b != 0 && (b < 64<<10 || b > 1<<30) {
		bad("webrtc.udp_port_buffer", "must be 0 (the host's default) or between 64KiB and 1GiB, got %s", b)
	}
	if c.WebRTC.TCPMaxPerIP < 1 {
		bad("webrtc.tcp_max_per_ip", "must be at least 1, got %d", c.WebRTC.TCPMaxPerIP)
	}
	if c.WebRTC.TCPPort < 0 || c.WebRTC.TCPPort > 65535 {
		bad("webrtc.tcp_port", "must be a port number, got %d", c.WebRTC.TCPPort)
	}
	for i, ip := range c.WebRTC.PublicIPs {
		if net.ParseIP(ip) == nil {
			bad(fmt.Sprintf("webrtc.public_ips[%d]", i), "%q is not an IP address", ip)
		}
	}
	if m := c.WebRTC.MaxMessageSize; m < 1024 || m > wire.DefaultMaxMessageSize {
		bad("webrtc.max_message_size", "must be between 1024 and %d, got %d", wire.DefaultMaxMessageSize, m)
	}
	if c.WebRTC.BufferLow <= 0 || c.WebRTC.BufferHigh <= c.WebRTC.BufferLow {
		bad("webrtc.buffer_high", "must be above buffer_low (%s), got %s", c.WebRTC.BufferLow, c.WebRTC.BufferHigh)
	}
	if c.WebRTC.ConnectTimeout < time.Second {
		bad("webrtc.connect_timeout", "must be at least 1s, got %s", c.WebRTC.ConnectTimeout)
	}
	if q := c.WebRTC.SendQueue; q < 64<<10 || q > 64<<20 {
		bad("webrtc.send_queue", "must be between 64KiB and 64MiB, got %s", q)
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "%q is not host:port", c.HTTP.Listen)
		}
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdown_timeout", "must be positive, got %s", c.HTTP.ShutdownTimeout)
	}
	if c.Origin.Concurrency < 1 || c.Origin.Concurrency > 64 {
		bad("origin.concurrency", "must be between 1 and 64, got %d", c.Origin.Concurrency)
	}
	if c.Origin.Timeout < time.Second {
		bad("origin.timeout", "must be at least 1s, got %s", c.Origin.Timeout)
	}
	if c.Origin.Retries < 0 || c.Origin.Retries > 10 {
		bad("origin.retries", "must be between 0 and 10, got %d", c.Origin.Retries)
	}
	if c.Origin.MaxSegmentBytes < 1<<10 {
		bad("origin.max_segment_bytes", "must be at least 1KiB, got %s", c.Origin.MaxSegmentBytes)
	}
	if c.Origin.MaxPlaylistBytes < 1<<10 {
		bad("origin.max_playlist_bytes", "must be at least 1KiB, got %s", c.Origin.MaxPlaylistBytes)
	}
	if c.Cache.MaxBytes < 1<<20 {
		bad("cache.max_bytes", "must be at least 1MiB, got %s", c.Cache.MaxBytes)
	}
	if c.Peers.Max < 1 {
		bad("peers.max", "must be at least 1, got %d", c.Peers.Max)
	}
	if c.Peers.MaxPerSwarm < 1 || c.Peers.MaxPerSwarm > c.Peers.Max {
		bad("peers.max_per_swarm", "must be between 1 and peers.max (%d), got %d", c.Peers.Max, c.Peers.MaxPerSwarm)
	}
	if c.Peers.MaxPendingOffers < 0 {
		bad("peers.max_pending_offers", "must not be negative, got %d", c.Peers.MaxPendingOffers)
	}
	if c.Peers.UploadRate < 0 {
		bad("peers.upload_rate", "must not be negative, got %s", c.Peers.UploadRate)
	}
	if len(c.Streams) == 0 && c.TrackerServer.Listen == "" {
		bad("streams", "at least one stream is required (or tracker_server.listen, to run only the tracker)")
	}
	seen := map[string]bool{}
	swarms := map[string]int{} // a stream's swarm_id, or its URL, to its index
	for i := range c.Streams {
		s := &c.Streams[i]
		key := fmt.Sprintf("streams[%d]", i)
		switch {
		case s.ID == "":
			bad(key+".id", "required")
		case !streamIDPattern.MatchString(s.ID):
			bad(key+".id", "%q must be 1-64 letters, digits, '.', '_' or '-'", s.ID)
		case seen[s.ID]:
			bad(key+".id", "%q is used by another stream", s.ID)
		}
		seen[s.ID] = true
		if u, err := url.Parse(s.URL); s.URL == "" {
			bad(key+".url", "required")
		} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key+".url", "%q is not an http:// or https:// URL", s.URL)
		}
		// Two streams in one swarm would announce the same infohashes.
		if swarm := cmp.Or(s.SwarmID, s.URL); swarm != "" {
			if j, dup := swarms[swarm]; dup {
				bad(key+".swarm_id", "streams[%d] has the same swarm (%q); give each stream its own url or swarm_id", j, swarm)
			}
			swarms[swarm] = i
		}
		if len(s.Generations) == 0 {
			s.Generations = generationNames()
		}
		for j, o := range s.AllowedOrigins {
			if _, err := playlist.ParseOrigin(o); err != nil {
				bad(fmt.Sprintf("%s.allowed_origins[%d]", key, j), "%s", err)
			}
		}
		for j, g := range s.Generations {
			if !slices.Contains(generationNames(), g) {
				bad(fmt.Sprintf("%s.generations[%d]", key, j), "%q is not one of %q", g, generationNames())
			}
		}
	}
	return errs
}

// ByteSize is a size in bytes, written in YAML as a number or with a unit:
// "512KiB", "64MiB", "1GiB", "10MB".
type ByteSize int64

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

var byteSizePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

// ICEServer is a STUN or TURN server.
type ICEServer struct {
	// URLs are stun:, turn: or turns: URLs of one server.
	URLs []string `yaml:"urls"`
	// Username and Credential authenticate to a TURN server.
	Username   string `yaml:"username"`
	Credential string `yaml:"credential"`
}

// UnmarshalYAML takes a URL alone, or the {urls, username, credential} form
// (urls a URL or a list). Unknown keys of the mapping are reported by the
// loader's key check, with their line.
func (s *ICEServer) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = ICEServer{URLs: []string{n.Value}}
		return nil
	}
	var v struct {
		URLs       yaml.Node `yaml:"urls"`
		Username   string    `yaml:"username"`
		Credential string    `yaml:"credential"`
	}
	if err := n.Decode(&v); err != nil {
		return err
	}
	*s = ICEServer{Username: v.Username, Credential: v.Credential}
	switch v.URLs.Kind {
	case yaml.ScalarNode:
		s.URLs = []string{v.URLs.Value}
	case yaml.SequenceNode:
		if err := v.URLs.Decode(&s.URLs); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalYAML parses a size, naming the line in its error.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a size such as 64MiB", n.Line)
	}
	m := byteSizePattern.FindStringSubmatch(n.Value)
	if m == nil {
		return fmt.Errorf("line %d: %q is not a size such as 64MiB", n.Line, n.Value)
	}
	unit, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return fmt.Errorf("line %d: unknown size unit %q (use B, KB, MB, GB, KiB, MiB, GiB)", n.Line, m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*float64(unit) > 1<<62 {
		return fmt.Errorf("line %d: size %q out of range", n.Line, n.Value)
	}
	*b = ByteSize(f * float64(unit))
	return nil
}

// String prints the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size ByteSize
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Human prints the size rounded for people: "1.5 MiB", "640 B".
func (b ByteSize) Human() string {
	f := float64(b)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return strconv.FormatInt(int64(b), 10) + " B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
		f /= 1024
	}
	return ""
}

// parseProxy parses a tracker_server.trusted_proxies entry: a CIDR, or one
// address (a /32 or /128).
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
