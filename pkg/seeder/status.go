package seeder

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
)

// Status is a snapshot of what superpeer is doing, for /status (a page for
// operators without Grafana) and /status.json (the demo page, scripts).
type Status struct {
	Version  string          `json:"version"`
	Started  time.Time       `json:"started"`
	Ready    bool            `json:"ready"`
	Peers    Usage           `json:"peers"`
	Cache    Usage           `json:"cache_bytes"`
	Trackers []TrackerStatus `json:"trackers"`
	// Replicas is this replica's view of the assignment of streams.
	Replicas ReplicasStatus `json:"replicas"`
	Streams  []StreamStatus `json:"streams"`
	// Elsewhere are the configured streams other replicas seed.
	Elsewhere []AssignedStream `json:"elsewhere,omitempty"`
}

// ReplicasStatus is the replica set as this replica computes it.
type ReplicasStatus struct {
	Self       string   `json:"self"`
	Members    []string `json:"members"`
	Redundancy int      `json:"redundancy"`
}

// AssignedStream is a configured stream and the replicas that seed it.
type AssignedStream struct {
	ID       string   `json:"id"`
	Replicas []string `json:"replicas"`
}

// Usage is a quantity next to its configured limit.
type Usage struct {
	Used  int64 `json:"used"`
	Limit int64 `json:"limit"`
}

// TrackerStatus is one WebTorrent tracker connection.
type TrackerStatus struct {
	URL       string `json:"url"`
	Connected bool   `json:"connected"`
}

// StreamStatus is one configured stream.
type StreamStatus struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	SwarmBase string `json:"swarm_base"`
	Ready     bool   `json:"ready"`
	// Replicas are the replicas that seed the stream, this one included.
	Replicas []string `json:"replicas"`
	// SentBytes are segment bytes delivered to peers, FetchedBytes those
	// downloaded from the origin (kept ones only).
	SentBytes    int64 `json:"sent_bytes"`
	FetchedBytes int64 `json:"fetched_bytes"`
	Served       int64 `json:"requests_served"`
	Absent       int64 `json:"requests_absent"`
	// Origin health: the last playlist update and the last segment error.
	LastPlaylist   time.Time       `json:"last_playlist"`
	LastFetchError string          `json:"last_fetch_error,omitempty"`
	LastErrorAt    time.Time       `json:"last_fetch_error_at,omitzero"`
	Variants       []VariantStatus `json:"variants"`
}

// VariantStatus is one media playlist of a stream and its swarms.
type VariantStatus struct {
	Label   string        `json:"label"`
	URL     string        `json:"url"`
	Live    bool          `json:"live"`
	Loaded  int           `json:"segments_loaded"`
	Loading int           `json:"segments_loading"`
	Bytes   int64         `json:"bytes"`
	Swarms  []SwarmStatus `json:"swarms"`
}

// SwarmStatus is one tracker swarm superpeer has joined.
type SwarmStatus struct {
	Generation string `json:"generation"`
	SwarmID    string `json:"swarm_id"`
	InfoHash   string `json:"info_hash"`
	PeerID     string `json:"peer_id"`
	Joined     bool   `json:"joined"`
	Peers      int    `json:"peers"`
	// SwarmSize is the trackers' count, superpeer included; -1 unknown.
	SwarmSize int64 `json:"swarm_size"`
}

// streamStats are a stream's counters for the status page, updated by its
// goroutines and read by status requests.
type streamStats struct {
	sentBytes    atomic.Int64
	fetchedBytes atomic.Int64
	served       atomic.Int64
	absent       atomic.Int64
	lastPlaylist atomic.Int64 // unix nanoseconds
	lastError    atomic.Pointer[fetchError]
}

type fetchError struct {
	msg string
	at  time.Time
}

// Status returns a snapshot of every stream, swarm and limit.
func (s *Seeder) Status() Status {
	st := Status{
		Version: s.version,
		Started: s.started,
		Ready:   s.Ready(),
		Peers:   Usage{Used: s.limits.peers.Load(), Limit: int64(s.cfg.Peers.Max)},
		Cache:   Usage{Used: s.budget.usedBytes(), Limit: int64(s.cfg.Cache.MaxBytes)},
	}
	for _, c := range s.trackers.clients() {
		st.Trackers = append(st.Trackers, TrackerStatus{URL: c.URL(), Connected: c.Connected()})
	}
	st.Replicas = ReplicasStatus{Self: s.assign.self, Members: s.assign.members, Redundancy: s.assign.redundancy}
	for _, str := range s.streamList() {
		ss := str.status()
		ss.Replicas = s.assign.owners(str.cfg.ID)
		st.Streams = append(st.Streams, ss)
	}
	s.streamsMu.Lock()
	configured := slices.Clone(s.cfg.Streams)
	s.streamsMu.Unlock()
	for _, sc := range configured {
		if !s.assign.mine(sc.ID) {
			st.Elsewhere = append(st.Elsewhere, AssignedStream{ID: sc.ID, Replicas: s.assign.owners(sc.ID)})
		}
	}
	return st
}

func (st *stream) status() StreamStatus {
	ss := StreamStatus{
		ID:           st.cfg.ID,
		URL:          st.cfg.URL,
		Ready:        st.ready.Load(),
		SentBytes:    st.env.stats.sentBytes.Load(),
		FetchedBytes: st.env.stats.fetchedBytes.Load(),
		Served:       st.env.stats.served.Load(),
		Absent:       st.env.stats.absent.Load(),
	}
	if ns := st.env.stats.lastPlaylist.Load(); ns != 0 {
		ss.LastPlaylist = time.Unix(0, ns).UTC()
	}
	if e := st.env.stats.lastError.Load(); e != nil {
		ss.LastFetchError, ss.LastErrorAt = e.msg, e.at.UTC()
	}
	view := st.view.Load()
	if view == nil {
		return ss // manifest not loaded yet
	}
	ss.SwarmBase = view.base
	for _, v := range view.variants {
		set := v.set.Load()
		vs := VariantStatus{Label: v.label, URL: v.pv.URL, Live: set.Live, Bytes: set.heldBytes()}
		for _, h := range set.Current {
			if h.Loaded() {
				vs.Loaded++
			} else {
				vs.Loading++
			}
		}
		for _, sw := range v.swarms {
			vs.Swarms = append(vs.Swarms, sw.status())
		}
		ss.Variants = append(ss.Variants, vs)
	}
	return ss
}

func (sw *swarm) status() SwarmStatus {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	size := int64(-1)
	for _, n := range sw.sizes {
		size = max(size, n)
	}
	return SwarmStatus{
		Generation: string(sw.gen),
		SwarmID:    sw.id.SwarmID,
		InfoHash:   printableHash(sw.id.InfoHash),
		PeerID:     sw.peerID,
		Joined:     sw.joined.Load(),
		Peers:      len(sw.peers),
		SwarmSize:  size,
	}
}

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": func(n int64) string { return ByteSize(n).Human() },
	"since": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"pct": func(u Usage) int64 {
		if u.Limit <= 0 {
			return 0
		}
		return 100 * u.Used / u.Limit
	},
}).Parse(statusHTML))

func (s *Seeder) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, s.Status()); err != nil {
		s.log.Debug().Err(err).Msg("status page")
	}
}

func (s *Seeder) serveStatusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(s.Status())
}
