// Package trackerserver is superpeer's embedded WebTorrent tracker: Server,
// which browsers of every P2P Media Loader generation (5.x, 2.3, 2.2 and 0.6)
// and the client of package tracker can announce to. It shares only the codec,
// pkg/wire, with that client (as tailscale's derpserver sits beside derp).
//
// It implements Novage/wt-tracker's FastTracker algorithm (src/fast-tracker.ts):
// peers keyed by peer_id across swarms and connections, offers relayed to
// min(others, offers, MaxOffers, numwant) distinct peers (all of them when
// that covers the swarm, else the seeds and a window from a random start over
// the others), answers routed
// by to_peer_id within their info hash with to_peer_id removed, "stopped"
// removing one membership, memberships expiring after 2 × Interval without an
// announce. Where it deviates, it does so to keep one client's fault from
// costing it (or others) every swarm.
//
// One deviation is by design: trusted connections (Config.TrustedToken:
// superpeer's own) are seeds, and an announce's offers go to the swarm's
// seeds first, the rest to a window from a random start over everyone else.
// A browser then reaches the seed on its first announce however large the
// swarm, instead of by chance.
//
// Dialects: a socket may carry one peer id in many swarms (P2PML 5.x and 0.6,
// which wt-tracker requires) or a peer id per swarm (2.x); numwant is the
// number of offers to relay, 0 (5.x at its peer limit, with offers []) only
// registers the peer, which still receives others' offers; no "tracker id"
// is issued (neither wt-tracker nor bittorrent-tracker's ws server does) and a
// "trackerid" in requests is ignored; when two peers offer to each other at
// once (glare), both offers and both answers are relayed and the peers pick
// one handshake. Deviations from wt-tracker:
//   - an answer to a peer not in its swarm is counted and dropped; wt-tracker
//     closes the answerer's socket, which a browser shares for all swarms of
//     the page;
//   - several peer ids may share a socket (2.x); wt-tracker closes it;
//   - other bad messages get a "failure reason" (bittorrent-tracker wording)
//     and the socket stays; 16 invalid messages in a row, or a frame over
//     MaxMessageBytes, close it (1008, 1009);
//   - an announce without numwant relays all its offers (bittorrent-tracker);
//     wt-tracker relays none;
//   - only the socket that announced a peer may stop it;
//   - a peer id belongs to the socket that announced it while that socket is
//     open: another socket announcing or answering as it is refused ("peer_id
//     in use by another connection") and the holder is pinged, and closed
//     if it does not answer (wt-tracker moves the id to the new socket, so
//     anyone who learnt the seed's id could take its offers); a trusted
//     socket may take over another trusted socket's id (the seed
//     reconnecting), and no one may take over a trusted socket's;
//   - events "update" and "paused" count as plain announces
//     (bittorrent-tracker); other unknown events and actions are refused;
//   - a scrape must name its info hashes (at most 64);
//   - limits: connections (in all, per client address and per /24 or /64,
//     the address taken from X-Forwarded-For only behind a trusted proxy),
//     swarms, peers per swarm, memberships per connection, messages per
//     second per connection (scaled by its memberships), a bounded head-drop
//     send queue per connection; a WebSocket must send its first message
//     within FirstMessageTimeout, and NewHTTPServer's server bounds request
//     headers and idle keep-alive connections.
//
// Internals (server.go, swarm.go): one reader goroutine per connection and a
// writer goroutine only while frames are queued; the swarm state under one
// mutex; frames decoded in place by wire.DecodeRawTrackerMessage, so SDP and
// offer_id are relayed as the JSON literals they arrived in (validated, not
// unescaped); data frames written in batches with one writev. Measurements
// and the reasons are in docs/tracker-benchmark.md.
package trackerserver
