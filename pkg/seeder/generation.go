package seeder

import (
	"slices"
	"time"

	"github.com/superpeer/superpeer/pkg/playlist"
	"github.com/superpeer/superpeer/pkg/wire"
)

// A generation is one P2P Media Loader release line as superpeer serves it,
// and the only part of superpeer that differs between lines: which swarms
// the line forms for a stream and under which identity (swarm id, info
// hash), how it numbers segments, and the peer protocol spoken on the data
// channel. Following the stream, the segment cache, trackers, WebRTC,
// limits and metrics are shared by all generations, so that every segment is
// fetched from the origin once however many lines seed it.
//
// Adding a generation means: its codec and identity in pkg/wire, a value
// implementing generation (plus its protocol and session) in a file of its
// own here, and an entry in allGenerations.
type generation interface {
	// name is the generation's name in configuration, logs and metrics.
	name() wire.Generation
	// swarms returns the swarms the generation forms for a stream whose
	// manifest is m: one per variant it shares, in manifest order.
	swarms(id streamIdentity, m *playlist.Manifest) []swarmIdentity
	// newProtocol returns the per-swarm state of the generation's peer
	// protocol: the index its peers read segments from.
	newProtocol(id swarmIdentity) protocol
}

// streamIdentity is what a generation derives swarm identities from.
type streamIdentity struct {
	// SwarmID is the configured streams[].swarm_id, "" for the default.
	SwarmID string
	// RequestURL is the manifest URL as configured, which is the URL pages
	// load (P2PML 0.6 names swarms after it, not after the redirect target).
	RequestURL string
}

// swarmIdentity names one tracker swarm of a variant.
type swarmIdentity struct {
	// Variant indexes Manifest.Variants.
	Variant int
	// SwarmID is the stream swarm id browsers compute.
	SwarmID string
	// InfoHash is the tracker info_hash, 20 bytes (binary for 0.6).
	InfoHash string
	// Format is the manifest's: segment ids derive from media sequence
	// numbers (HLS) or presentation times (DASH).
	Format playlist.Format
	// ShakaStreamID is, for 0.6 DASH swarms, the Shaka 2.x stream id the
	// swarm is named after: segments of other periods belong to others.
	ShakaStreamID int
}

// protocol is a generation's view of one swarm's segments. The stream
// goroutine calls publish with every new segment set; peer goroutines read
// through their sessions, so implementations swap an immutable index in
// atomically.
type protocol interface {
	// publish indexes a new segment set for the swarm's peers.
	publish(set *segmentSet)
	// counts reports the announced segments, for the status page.
	counts() (loaded, loading int)
	// newSession starts the peer protocol of one data channel.
	newSession(cfg sessionConfig) session
}

// sessionConfig is what every session is told when it starts.
type sessionConfig struct {
	// MaxMessage is the largest data-channel message to send.
	MaxMessage int
	// MaxCommandBytes bounds a command joined from several messages.
	MaxCommandBytes int
}

// session is a generation's peer protocol on one data channel: it decodes
// what the browser sends and decides what to send back. The peer goroutine
// makes every call, so a session keeps its state without locks; sending
// goes through the outbox, which owns flow control and pacing.
type session interface {
	// wants reports whether a message should reach handle. It runs on the
	// peer's reader goroutine, on a buffer that is reused afterwards, and
	// must not touch session state. Messages it refuses are counted as
	// unrequested data.
	wants(msg []byte) bool
	// start runs once the data channel is open.
	start(out outbox) error
	// handle acts on one message the browser sent. An error ends the peer.
	handle(msg []byte, out outbox) error
	// published runs after the swarm's protocol published a new index.
	published(out outbox) error
	// timer runs when a wait requested with outbox.after has elapsed.
	timer(out outbox) error
}

// outbox is the peer's sending side as a session sees it.
type outbox interface {
	// command queues one command, already split into data-channel messages.
	// Commands go out in order, and never between the header and the last
	// chunk of an exclusive upload. An error means the peer's queue is full.
	command(msgs [][]byte) error
	// serve starts sending u, replacing the current upload (counted as
	// superseded).
	serve(u *upload)
	// current returns the upload being sent, or nil.
	current() *upload
	// cancel drops the current upload's unsent remainder.
	cancel()
	// request counts the outcome of a browser's segment request.
	request(outcome string)
	// fault counts misbehaviour of the browser by reason.
	fault(reason string)
	// after asks for a timer call in d, replacing any earlier request.
	after(d time.Duration)
}

// upload is one segment being sent in answer to a request: command
// messages, the segment bytes in chunks, then more command messages.
type upload struct {
	// Tag identifies the request for the session (a request id or a
	// segment id), so that it can match a later cancel.
	Tag any
	// Header is sent before the data, Trailer after the last chunk.
	Header, Trailer [][]byte
	// Data is the bytes to send.
	Data []byte
	// Chunk returns how many bytes of data to send in the next message, at
	// most max and at least one.
	Chunk func(data []byte, max int) int
	// Exclusive holds back other commands between the header and the last
	// chunk: the browser would take them as the end of the transfer.
	Exclusive bool

	headerSent bool
	off        int
	reserved   bool // the next chunk already has its upload-rate reservation
}

// allGenerations are the generations superpeer can seed, oldest first.
var allGenerations = []generation{gen06{}, gen2x{gen: wire.Gen22}, gen2x{gen: wire.Gen23}, genV3{}}

// glarer is implemented by generations whose browsers resolve glare (both
// sides offering to each other at once) by keeping the handshake whose
// offerer has the lower peer id. Swarms of other generations keep the
// first handshake, as their browsers do.
type glarer interface{ glare() bool }

// generationNames lists the names of allGenerations, for configuration.
func generationNames() []wire.Generation {
	names := make([]wire.Generation, len(allGenerations))
	for i, g := range allGenerations {
		names[i] = g.name()
	}
	return names
}

// generationsNamed returns the generations with the given names, in the
// order of allGenerations.
func generationsNamed(names []wire.Generation) []generation {
	var out []generation
	for _, g := range allGenerations {
		if slices.Contains(names, g.name()) {
			out = append(out, g)
		}
	}
	return out
}
