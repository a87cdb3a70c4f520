// Package wire holds the pure codecs superpeer speaks with P2P Media Loader
// browsers: the binary data-channel commands of P2P Media Loader 1.0.4–2.3.x,
// the JSON commands of the legacy 0.6.x line, the swarm identities (stream
// swarm ids and tracker infoHashes) of the 0.6, 2.2 and 2.3 release lines,
// and the WebTorrent tracker JSON messages.
//
// Nothing here does I/O, logs, or keeps state beyond a command Joiner. Every
// decoder returns an error wrapping ErrMalformed for bad input and never
// panics; fuzz tests hold it to that. Byte-exactness is checked against golden
// vectors produced by running the published npm packages
// (testdata/v2/*.json and testdata/v0.6/*.json, copied from the project's
// shared vectors, plus files written by the node scripts in testdata/gen).
//
// # Data-channel messages
//
// Each WebRTC data-channel message is either a command frame or a raw chunk
// of segment bytes. A frame starts with "cstr" or "dstr" and ends with "cend"
// or "dend" (see IsCommandFrame); a command longer than the peers' maximum
// message size is split over several frames (cstr…dend, dstr…dend,
// dstr…cend) and reassembled by a Joiner. The payload is one command-type
// byte followed by fields, each a one-letter name and a typed value: Int
// (sign-magnitude, big-endian, length in the low nibble), SimilarIntArray
// (ids grouped by 256-aligned block) or String. Upstream:
// p2p-media-loader-core/src/p2p/commands/binary-serialization.ts.
//
// # P2P Media Loader 0.6 commands
//
// Version 0.6.2 (upstream tag 0.6.2 of Novage/p2p-media-loader;
// p2p-media-loader-core/lib/media-peer.ts, p2p-media-manager.ts,
// p2p-media-loader-hlsjs/lib/segment-manager.ts,
// p2p-media-loader-shaka/lib/parser-segment.ts) sends each command as one
// data-channel message of compact JSON and each chunk of segment bytes as
// another. A message is a command iff its first byte is '{', its second '"',
// its last '}' (IsCommand06) and JSON.parse accepts it; anything else is
// segment data (DecodeCommand06 reports ErrNotCommand06). Commands (Command06):
//
//	{"c":0,"i":"<segment id>","s":<bytes>}  SegmentData06 header, then s bytes in chunks ≤ 65535
//	{"c":1,"i":"<segment id>"}              SegmentAbsent06
//	{"c":2,"m":{"<stream swarm id>":["<short id>|…",[<status>,…]],…}}  SegmentsMap06
//	{"c":3,"i":"<segment id>"}              SegmentRequest06
//	{"c":4,"i":"<segment id>"}              CancelSegmentRequest06
//
// A map is the sender's complete state (status 0 Loaded06, 1 LoadingByHTTP06)
// and replaces the previous one; one malformed entry empties it, so an empty
// list is left out rather than sent as ["",[]]. Any command arriving during a
// transfer aborts it, so NextChunkLen06 keeps chunks from looking like one.
//
// Identity: the master swarm id is the page's segments.swarmId or the
// manifest URL cut at '?' (MasterSwarmID06); each variant is a stream swarm
// master+"+V"+i (StreamSwarmID06; i is the hls.js/HLS variant index or
// Shaka's DASH stream.id), or, for hls.js with no master playlist, the media
// playlist URL cut at '?'. A segment id is swarm+"+"+short id
// (SegmentID06), the short id being the media sequence number
// (ShortIDFromSequence) or, for Shaka DASH, toFixed(3) of the start time
// (FormatToFixed3). The tracker info_hash is the raw SHA-1 of "2"+swarm
// (Gen06.InfoHash). 0.6 and 2.x peers never share a swarm.
//
// # Tracker messages
//
// TrackerMessage is every WebTorrent tracker message in either direction
// (announce with offers, answer, relayed offer and answer, response,
// scrape). Its info_hash, peer_id, offer_id and to_peer_id are JavaScript
// "binary strings", one code point per byte; Go strings hold the bytes, and
// AppendJSON writes them, and SDP text, exactly as JSON.stringify does, in
// the field order of the browsers' bittorrent-tracker client.
// DecodeTrackerMessage copies every value out of the frame; a tracker, which
// forwards most of what it reads, uses DecodeRawTrackerMessage instead: the
// same lexer and rules, decoding in place into a reused RawTrackerMessage
// whose SDP and offer ids stay the JSON literals they arrived as.
package wire
