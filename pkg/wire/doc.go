// Package wire holds the pure codecs superpeer speaks with P2P Media Loader
// browsers: the binary data-channel commands of P2P Media Loader 1.0.4–2.3.x,
// the swarm identities (stream swarm ids and tracker infoHashes) of the 2.2
// and 2.3 release lines, and the WebTorrent tracker JSON messages.
//
// Nothing here does I/O, logs, or keeps state beyond a command Joiner. Every
// decoder returns an error wrapping ErrMalformed for bad input and never
// panics; fuzz tests hold it to that. Byte-exactness is checked against golden
// vectors produced by running the published npm packages
// (testdata/v2/*.json, copied from the project's shared vectors).
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
