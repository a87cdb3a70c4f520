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
// Dialects (shared/docs/protocol-v3.md §3, protocol-v2.md §3, protocol-v0.6.md
// §4): announces are written byte for byte as the bittorrent-tracker client
// of P2PML 2.x and 0.6 writes them, which every tracker accepts. numwant is
// the number of offers the announce carries, "offers" [] when none (what
// both that client and P2PML 5.x send), so wt-tracker, which relays only with
// an integer numwant, relays exactly those. "tracker id" is echoed as
// "trackerid" per swarm. "warning message" is reported with the response;
// "failure reason" stops its processing, as in both browser clients. Offers
// and answers are delivered as they come, also when one remote peer both
// offers to us and answers our offer (glare): the Handler decides which
// handshake to keep (5.x keeps the lower peer id's offer). Use one peer id
// for all swarms of a Client (see Client.Join): wt-tracker allows one per
// socket.
//
// The embedded tracker server these clients (and browsers) can announce to
// is the sibling package trackerserver.
package tracker
