// Package tracker is the WebTorrent tracker client: one Client per tracker
// URL, one WebSocket shared by every swarm (info hash) the seeder joins, as
// browsers share one socket per tracker (bittorrent-tracker
// lib/client/websocket-tracker.js socketPool).
//
// A Client announces each joined swarm with event "started" on every
// (re)connect, then again at the interval the tracker's announce response
// gives ("interval", else "min interval", floored at Config.MinInterval),
// asking the swarm's Handler for fresh offers each time. Offers and answers
// the tracker relays are handed to the Handler of the swarm named by their
// info_hash; SDP is an opaque string here (no pion import). Messages are
// encoded and decoded by pkg/wire, byte-exact with what browsers send.
//
// Connection handling:
//   - exactly one writer goroutine per connection, fed by a bounded queue that
//     drops (and counts) when full; one reader goroutine; one announcer
//     goroutine per swarm, so a slow ICE gather never holds up other swarms;
//   - pings every Config.PingInterval, and a read deadline of twice that,
//     extended by every pong and message, detects dead connections;
//   - reconnects with capped exponential backoff and full jitter, reset after
//     a connection stayed up for a minute;
//   - answers to offers that arrived on an earlier connection, or longer ago
//     than Config.AnswerTimeout, are dropped: wt-tracker closes the socket of
//     a peer that answers someone who already left;
//   - malformed frames are counted and logged (sampled) and the connection is
//     kept, as browsers do; binary frames are decoded like text frames (the
//     browser client does the same); a frame over Config.MaxMessageBytes
//     (wire or inflated size) ends the connection, which is then redialled;
//   - when Run's context ends, a best-effort "stopped" announce is written for
//     every joined swarm within 2 s before the socket is closed.
//
// The package also holds Server, an embedded WebTorrent tracker that browsers
// of every P2P Media Loader generation (2.3, 2.2 and 0.6) can announce to. It
// implements Novage/wt-tracker's FastTracker algorithm (src/fast-tracker.ts):
// peers keyed by peer_id across swarms and connections, offers relayed to
// min(others, offers, MaxOffers, numwant) distinct peers (all of them when
// that covers the swarm, else a window from a random start), answers routed
// by to_peer_id with to_peer_id removed, "stopped" removing one membership,
// memberships expiring after 2 × Interval without an announce, a peer_id seen
// on a new socket removed from the old one first. Where it deviates, it does
// so to keep one client's fault from costing it (or others) every swarm:
//   - an answer to an unknown peer is counted and dropped; wt-tracker closes
//     the answerer's socket, which a browser shares for all swarms of the page;
//   - other bad messages get a "failure reason" (bittorrent-tracker wording)
//     and the socket stays; 16 invalid messages in a row, or a frame over
//     MaxMessageBytes, close it (1008, 1009);
//   - an announce without numwant relays all its offers (bittorrent-tracker);
//     wt-tracker relays none;
//   - only the socket that announced a peer may stop it;
//   - events "update" and "paused" count as plain announces
//     (bittorrent-tracker); other unknown events and actions are refused;
//   - a scrape must name its info hashes (at most 64);
//   - limits: connections, swarms, peers per swarm, memberships per
//     connection, messages per second per connection (scaled by its
//     memberships), a bounded head-drop send queue per connection.
//
// Server internals (server.go, server_swarm.go): one reader goroutine per
// connection and a writer goroutine only while frames are queued; the swarm
// state under one mutex; frames decoded in place by
// wire.DecodeRawTrackerMessage, so SDP and offer_id are relayed as the JSON
// literals they arrived in (validated, not unescaped); data frames written in
// batches with one writev. Measurements and
// the reasons are in docs/tracker-benchmark.md.
package tracker
