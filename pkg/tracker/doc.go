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
// The embedded tracker server these clients (and browsers) can announce to
// is the sibling package trackerserver.
package tracker
