// Package playlist follows one HLS or DASH stream at its origin and exposes it
// exactly as the hls.js integration of P2P Media Loader (p2p-media-loader-hlsjs
// 2.2.x and 2.3.x on hls.js 1.6) or its Shaka integration
// (p2p-media-loader-shaka 2.x on Shaka 4, and 0.6 on Shaka 2.5) sees it, and
// downloads segment bytes. It knows nothing about peers, swarms or trackers.
//
// The format is detected from the manifest body (Manifest.Format): an XML
// document is a DASH MPD, parsed by ParseMPD and listed by DASH.Playlist;
// anything else is HLS. Both come out as the same Manifest, Variant,
// MediaPlaylist and Segment types and the same Follower events;
// docs/dash.md describes the DASH side, what it supports and what not.
//
// # Streams
//
// ParseMaster turns a manifest into Variants: the streams P2PML registers,
// one per media playlist. For each it gives what the swarm id is built from:
//
//   - Manifest.SwarmBase, the default base swarm id: the manifest's final URL
//     (after redirects) as XHR responseURL serializes it, cut at the first '?'
//     (p2p-media-loader-core core.ts setManifestResponseUrl).
//   - Variant.Type and Variant.Ordinal, the 2.2.x stream index: the position
//     in hls.js MANIFEST_LOADED levels or audioTracks
//     (p2p-media-loader-hlsjs@2.2.2 segment-mananger.ts).
//   - Variant.Rendition, the inputs of 2.3.x generateStreamShortId
//     (p2p-media-loader-hlsjs@2.3.1 segment-manager.ts).
//
// hls.js's parser is reproduced rule by rule (hls.js 1.6 src/loader/m3u8-parser.ts,
// attr-list.ts, utils/codecs.ts, playlist-loader.ts), not approximated with a
// generic M3U8 library: which levels hls.js keeps, in what order, and what
// codec strings it reports all change swarm ids.
//
// # Segments
//
// ParseMedia gives each segment P2PML's externalId (Segment.ID, the number on
// the wire): the media sequence number when the playlist is live, the 0-based
// position when it has EXT-X-ENDLIST (segment-manager.ts updatePlaylist:
// `live ? sn : index`). Segment.Key is P2PML's runtimeId. Which lines are
// segments follows hls.js's own tokenizer; grafov/m3u8 decodes the playlist
// too and must agree, else the playlist is rejected (see ParseMedia).
//
// # Following and fetching
//
// A Follower loads the manifest once and reloads live media playlists as
// hls.js does, sending an Event for every changed snapshot. A Fetcher
// downloads segments with byte ranges, retries and size limits. Both report
// to a shared Metrics.
//
// # Fetch policy
//
// A playlist is hostile input: the URLs it and redirects name would be
// fetched and their bodies served to the swarm. A Policy confines a stream's
// client to the stream's own origin and listed ones, checked before each
// request and redirect hop and, at dial time, on the address connected to
// (names must resolve to public addresses unless allowed; IP literals in the
// configuration are trusted as written). Follower and Fetcher count and log
// what the policy refuses (superpeer_origin_refused_total), and the Fetcher
// never retries it.
//
// # Known differences from a browser
//
//   - A media playlist URL that redirects: hls.js resolves segments against
//     the redirect target (so does this package), but P2PML looks the stream
//     up by details.url, which is that target, not the level url it
//     registered, so browsers never register segments for such a stream.
//   - Unknown CODECS entries that the browser's MediaSource accepts are added
//     to hls.js videoCodec/audioCodec; here they never are.
//   - URL serialization follows WHATWG for common URLs only (see
//     Manifest.SwarmBase): no IDNA, no IPv4 shorthand.
//   - hls.js parses a few malformed playlists into extra 0 s fragments (a URI
//     without EXTINF, "#EXTINF:-1,"); ParseMedia rejects those instead.
//
// The golden files in testdata/vectors come from the real JavaScript:
// testdata/hlsjs-vectors.mjs runs hls.js and both P2PML SegmentManagers on
// the playlists it lists.
package playlist
