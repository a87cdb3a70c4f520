// Package wire holds the pure codecs superpeer speaks with P2P Media Loader
// browsers: the binary data-channel commands of P2P Media Loader 1.0.4–2.3.x,
// the JSON commands of the legacy 0.6.x line, the swarm identities (stream
// swarm ids and tracker infoHashes) of the 0.6, 2.2, 2.3 and 5.x (v3)
// release lines, the stricter v3 command rules and HTTP election,
// and the WebTorrent tracker JSON messages.
//
// Nothing here does I/O, logs, or keeps state beyond a command Joiner. Every
// decoder returns an error wrapping ErrMalformed for bad input and never
// panics; fuzz tests hold it to that. Byte-exactness is checked against golden
// vectors produced by running the published npm packages
// (testdata/v2/*.json and testdata/v0.6/*.json, copied from the project's
// shared vectors, plus files written by the node scripts in testdata/gen);
// testdata/v3/*.json holds the worked examples of the project's
// protocol-v3.md, no 5.x build having been runnable here.
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
// # P2P Media Loader 5.x (v3)
//
// Version 5.0 (p2p-media-loader-core/src/stream-identity.ts,
// manifest/{hls,dash,properties,registry}.ts, utils/election.ts,
// p2p/commands/*) keeps the 2.x data-channel commands and framing byte for
// byte, so EncodeCommand, FramePayload and the Joiner serve it. Its decoder
// is stricter (DecodePayloadV3): an unknown command type, a missing i or r
// (or s in SegmentData), or an integer of more than 7 bytes ends the
// connection, and an id-list group of count 0 holds 256 ids, which
// AppendPayloadV3 uses for full blocks. ValidateCommandV3 adds the exchange
// rules: no empty SegmentData (answer SegmentAbsent), unique ids per list.
//
// Identity moved into the core, which parses the manifest itself: each
// stream's properties come from the manifest's attributes as written
// (HLSVariantPropsV3, HLSAudioPropsV3, HLSVideoRenditionPropsV3,
// DASHVideoPropsV3, DASHAudioPropsV3), bitrate is dropped unless a same-type
// stream of the manifest needs it (IdentityHashesV3), and the identity hash,
// Base64 of SHA-1 of
//
//	{bitrate|0}-{codecs}-{width}-{height}-{language}-{channels}-{name}-{frameRate}-{videoRange}
//
// ends the stream swarm id "v3-{swarmId}-{type}-{identityHash}"
// (StreamSwarmIDV3); swarmId defaults to the requested manifest URL without
// its query (SwarmIDV3). The infoHash is 2.3's function of that id
// (GenV3.InfoHash). A segment's wire id is its media sequence number (HLS,
// SegmentIDHLSV3) or Math.round(presentation time × 10) (DASH,
// SegmentIDDASHV3). v3 and 2.x peers never share a swarm.
//
// Which browser fetches a new segment over HTTP is elected, with nothing on
// the wire: each scores itself and its connected neighbours with
// ElectionScoreV3 (FNV-1a plus fmix32 of "peerId|segmentId") and the lowest
// score owns the segment (ElectionRankV3, IsHTTPOwnerV3); backups step in
// late (ShouldFetchNowV3). The election only runs for segments no connected
// peer has announced, so a seed that announces a segment takes it out.
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
