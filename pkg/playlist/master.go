package playlist

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

// StreamType is P2PML's stream.type.
type StreamType string

// Stream types, as P2PML's hls.js integration assigns them.
const (
	// Main is an hls.js level (EXT-X-STREAM-INF), video or muxed.
	Main StreamType = "main"
	// Secondary is an hls.js audio track (EXT-X-MEDIA TYPE=AUDIO with a URI).
	Secondary StreamType = "secondary"
)

// Rendition holds exactly the values P2PML 2.3's hls.js integration passes to
// generateStreamShortId (segment-manager.ts processMainManifest), as hls.js
// 1.6 exposes them on MANIFEST_LOADED. Empty strings stand for undefined; the
// consumer applies generateStreamShortId's own normalisation (lowercasing,
// sorting codecs, Number(frameRate), language/channels cuts).
type Rendition struct {
	// Bitrate is the JavaScript number hls.js reports: BANDWIDTH, or
	// AVERAGE-BANDWIDTH when BANDWIDTH parses to 0 or NaN, with parseInt
	// semantics. It is NaN when neither parses, +Inf above 2^53-1, and always 0
	// for audio tracks and for a media playlist loaded as the manifest.
	// Format it like JavaScript's Number#toString ("NaN", "Infinity").
	Bitrate float64
	// Codecs is hls.js videoCodec (after convertAVC1ToAVCOTI) for main
	// streams, audioCodec for audio tracks.
	Codecs string
	// Width and Height come from RESOLUTION; HasResolution tells 0 from absent.
	Width, Height int
	// HasResolution reports whether RESOLUTION parsed.
	HasResolution bool
	// FrameRate is the raw FRAME-RATE attribute text (main streams).
	FrameRate string
	// VideoRange is the raw VIDEO-RANGE attribute text (main streams).
	VideoRange string
	// Language is the raw LANGUAGE attribute (audio tracks).
	Language string
	// Channels is the raw CHANNELS attribute (audio tracks).
	Channels string
	// Name is NAME, else LANGUAGE, else "" (audio tracks).
	Name string
}

// Variant is one stream P2PML registers for the manifest: one media playlist.
type Variant struct {
	// URL is the absolute media playlist URL, spelled as hls.js spells the
	// level/track url (P2PML's stream runtimeId). For DASH it is the MPD URL
	// (Manifest.URL), the same for every variant.
	URL string
	// Type is main for hls.js levels and secondary for audio tracks.
	Type StreamType
	// Ordinal is the P2PML 2.2.x stream index: the position in hls.js
	// MANIFEST_LOADED levels (main) or audioTracks (secondary), counted after
	// hls.js dropped unknown-codec levels and prepended its fake "main" audio
	// track.
	Ordinal int
	// Rendition holds the P2PML 2.3.x stream short id inputs.
	Rendition Rendition
	// Attributes are the variant's attribute list as written (after variable
	// substitution): EXT-X-STREAM-INF for main streams, EXT-X-MEDIA for audio
	// tracks. For DASH: the Representation's id, bandwidth, codecs, width,
	// height, frameRate (inherited from its AdaptationSet), the set's lang,
	// and channels (the MPEG AudioChannelConfiguration). P2P Media Loader 5.x
	// derives stream identity from them.
	Attributes map[string]string
	// GroupCodecs is, for an audio track, the CODECS attribute of the first
	// level that references its group and lists an audio codec ("" if none).
	GroupCodecs string
	// StreamInf is the position of the variant's EXT-X-STREAM-INF in the
	// master playlist, counting every one (m3u8-parser order, before hls.js
	// drops unknown-codec levels): the "V<i>" of P2PML 0.6's swarm ids. It
	// is -1 for audio tracks, which 0.6 never shares, and for DASH.
	StreamInf int

	// The fields below are set for DASH only (see ParseMPD); for HLS they
	// are zero.

	// ContentType is the DASH content type of the variant's
	// representations: "video" or "audio".
	ContentType string
	// RepresentationID is the Representation@id of the variant in the first
	// period. Later periods (and reloaded MPDs) are matched to the variant
	// by this id, else by position among representations of ContentType.
	RepresentationID string
	// ShakaStreamID is the Shaka 2.x stream.id of the variant's
	// representation in the first period: P2PML 0.6 names a DASH video
	// swarm "<master swarm id>+V<ShakaStreamID>". Each later period has its
	// own id, carried by Segment.ShakaStreamID. Shaka ids start at 1.
	ShakaStreamID int
}

// Manifest is an HLS manifest as P2P Media Loader's hls.js integration sees
// it, or a DASH MPD as its Shaka integration sees it.
type Manifest struct {
	// Format is the manifest's format, detected from its body.
	Format Format
	// URL is the final manifest URL after redirects, serialized as a browser's
	// XHR responseURL (query kept, fragment dropped).
	URL string
	// SwarmBase is P2PML's default base swarm id: URL cut at the first '?'.
	SwarmBase string
	// MediaOnly reports that the manifest is a media playlist, not a master:
	// P2PML 0.6 then names its one swarm without a "+V<i>" suffix.
	MediaOnly bool
	// Variants are the streams with a media playlist URL, main streams first,
	// de-duplicated by URL keeping the first (P2PML addStreamIfNoneExists).
	// Audio tracks without a URI are skipped but keep their Ordinal slot.
	Variants []Variant
}

// masterPlaylistRE is hls.js MASTER_PLAYLIST_REGEX (1.6).
var masterPlaylistRE = regexp.MustCompile(`#EXT-X-STREAM-INF:([^\r\n]*)(?:[\r\n](?:#[^\r\n]*)?)*([^\r\n]+)|#EXT-X-(SESSION-DATA|SESSION-KEY|DEFINE|CONTENT-STEERING|START):([^\r\n]*)[\r\n]+`)

// masterMediaRE is hls.js MASTER_PLAYLIST_MEDIA_REGEX, /#EXT-X-MEDIA:(.*)/g.
var masterMediaRE = regexp.MustCompile(`#EXT-X-MEDIA:(` + jsDot + `*)`)

// level is the part of an hls.js LevelParsed this package needs.
type level struct {
	index   int // position among all EXT-X-STREAM-INF tags
	attrs   attrList
	bitrate float64
	url     string
	w, h    int
	hasRes  bool
	codecs  levelCodecs
}

// audioTrack is the part of an hls.js MediaPlaylist (audio track) needed here.
type audioTrack struct {
	name, lang, channels, codec, url string
	attrs                            attrList
	groupCodecs                      string // see Variant.GroupCodecs
}

// ParseMaster parses the manifest body fetched from finalURL (the URL after
// redirects) into the streams P2PML registers, reproducing hls.js 1.6
// (M3U8Parser.parseMasterPlaylist, parseMasterPlaylistMedia, the playlist
// loader's fake "main" audio track, the level controller's
// convertAVC1ToAVCOTI) and P2PML's hls.js SegmentManager.processMainManifest.
//
// A media playlist (a line starting "#EXTINF:" or "#EXT-X-TARGETDURATION:")
// becomes one main variant with bitrate 0 at the manifest URL, as in hls.js.
//
// Errors are those hls.js raises (ErrMalformed: no #EXTM3U, no levels,
// undefined variable references) plus ErrUnsupported for URIs with more than
// 32 "..", which would be too costly to normalise.
//
// Not reproduced: hls.js appends unknown codecs that the browser's
// MediaSource.isTypeSupported accepts to videoCodec/audioCodec; this depends
// on the browser, and here unknown codecs are never appended.
func ParseMaster(body []byte, finalURL *url.URL) (*Manifest, error) {
	if finalURL == nil {
		return nil, fmt.Errorf("%w: no manifest url", ErrMalformed)
	}
	text := decodeUTF8(body)
	base := responseURL(finalURL)
	m := &Manifest{URL: base, SwarmBase: swarmBase(finalURL), Format: FormatHLS}
	if isMediaPlaylist(text) {
		// playlist-loader.ts handleTrackOrLevelPlaylist: a single level with
		// bitrate 0 and no attributes; the level url is the response URL.
		m.Variants = []Variant{{URL: base, Type: Main}}
		m.MediaOnly = true
		return m, nil
	}
	levels, vs, err := parseLevels(text, base, finalURL)
	if err != nil {
		return nil, err
	}
	tracks, err := parseAudioTracks(text, base, levels, vs)
	if err != nil {
		return nil, err
	}

	seen := map[string]bool{}
	add := func(v Variant) {
		if v.URL == "" || seen[v.URL] {
			return
		}
		seen[v.URL] = true
		m.Variants = append(m.Variants, v)
	}
	for i, l := range levels {
		add(Variant{URL: l.url, Type: Main, Ordinal: i, Rendition: l.rendition(), StreamInf: l.index, Attributes: l.attrs})
	}
	for i, t := range tracks {
		add(Variant{URL: t.url, Type: Secondary, Ordinal: i, StreamInf: -1, Attributes: t.attrs, GroupCodecs: t.groupCodecs, Rendition: Rendition{
			Codecs: t.codec, Language: t.lang, Channels: t.channels, Name: t.name,
		}})
	}
	return m, nil
}

// isMediaPlaylist is hls.js M3U8Parser.isMediaPlaylist:
// /^#EXT(?:INF|-X-TARGETDURATION):/m.
func isMediaPlaylist(text string) bool {
	for _, tag := range []string{"#EXTINF:", "#EXT-X-TARGETDURATION:"} {
		for i := 0; ; {
			j := strings.Index(text[i:], tag)
			if j < 0 {
				break
			}
			j += i
			if j == 0 || isLineTerminatorBefore(text, j) {
				return true
			}
			i = j + 1
		}
	}
	return false
}

// isLineTerminatorBefore reports whether text[:j] ends with a JavaScript line
// terminator (what ^ matches after in multiline mode).
func isLineTerminatorBefore(text string, j int) bool {
	switch text[j-1] {
	case '\n', '\r':
		return true
	}
	return strings.HasSuffix(text[:j], "\u2028") || strings.HasSuffix(text[:j], "\u2029")
}

// parseLevels is hls.js parseMasterPlaylist: levels, unknown-codec stripping
// and the parsing errors that make hls.js reject the manifest.
func parseLevels(text, base string, finalURL *url.URL) ([]level, *varState, error) {
	if !strings.HasPrefix(text, "#EXTM3U") {
		return nil, nil, fmt.Errorf("%w: no EXTM3U delimiter", ErrMalformed)
	}
	vs := newVarState(text)
	var levels, known []level
	for _, m := range masterPlaylistRE.FindAllStringSubmatch(text, -1) {
		if m[1] != "" {
			attrs := parseAttrList(m[1], vs)
			uri := vs.substitute(m[2])
			if err := checkURI(uri); err != nil {
				return nil, nil, err
			}
			l := level{index: len(levels), attrs: attrs, url: resolveURL(base, uri)}
			l.bitrate = attrs.decimalInteger("BANDWIDTH")
			if !jsTruthy(l.bitrate) {
				l.bitrate = attrs.decimalInteger("AVERAGE-BANDWIDTH")
			}
			l.w, l.h, l.hasRes = attrs.decimalResolution("RESOLUTION")
			l.codecs = setCodecs(attrs["CODECS"])
			if sc := attrs["SUPPLEMENTAL-CODECS"]; sc != "" {
				_ = setCodecs(sc) // parsed by hls.js, not used by P2PML
			}
			if len(l.codecs.unknown) == 0 {
				known = append(known, l)
			}
			levels = append(levels, l)
			continue
		}
		switch m[3] {
		case "DEFINE":
			vs.define(parseAttrList(m[4], vs), finalURL)
		case "SESSION-DATA", "SESSION-KEY", "CONTENT-STEERING":
			// Only parsed for the variable-substitution errors they can raise.
			_ = parseAttrList(m[4], vs)
		}
	}
	if len(known) > 0 && len(known) < len(levels) {
		levels = known
	}
	if vs.err != nil {
		return nil, nil, vs.err
	}
	if len(levels) == 0 {
		return nil, nil, fmt.Errorf("%w: no levels found in manifest", ErrMalformed)
	}
	for i := range levels {
		if v := levels[i].codecs.video; v != "" {
			levels[i].codecs.video = convertAVC1ToAVCOTI(v)
		}
	}
	return levels, vs, nil
}

// jsTruthy is JavaScript truthiness for a number.
func jsTruthy(v float64) bool {
	return v != 0 && !math.IsNaN(v)
}

// parseAudioTracks is hls.js parseMasterPlaylistMedia for TYPE=AUDIO, plus the
// playlist loader's fake "main" track (handleMasterPlaylist).
func parseAudioTracks(text, base string, levels []level, vs *varState) ([]audioTrack, error) {
	var tracks []audioTrack
	for _, m := range masterMediaRE.FindAllStringSubmatch(text, -1) {
		attrs := parseAttrList(m[1], vs)
		if attrs["TYPE"] != "AUDIO" {
			continue
		}
		t := audioTrack{lang: attrs["LANGUAGE"], channels: attrs["CHANNELS"], attrs: attrs}
		switch {
		case attrs.truthy("NAME"):
			t.name = attrs["NAME"]
		case attrs.truthy("LANGUAGE"):
			t.name = attrs["LANGUAGE"]
		}
		if attrs.truthy("URI") {
			if err := checkURI(attrs["URI"]); err != nil {
				return nil, err
			}
			t.url = resolveURL(base, attrs["URI"])
		}
		// findGroup(groups, groupId) || groups[0]; groups are the levels.
		groupID := attrs["GROUP-ID"]
		group := &levels[0]
		for i := range levels {
			if id, ok := levels[i].attrs["AUDIO"]; ok && id == groupID {
				group = &levels[i]
				break
			}
		}
		t.codec = group.codecs.audio
		for i := range levels {
			if id, ok := levels[i].attrs["AUDIO"]; ok && id == groupID && levels[i].codecs.audio != "" {
				t.groupCodecs = levels[i].attrs["CODECS"]
				break
			}
		}
		tracks = append(tracks, t)
	}
	// Errors raised while parsing EXT-X-MEDIA are ignored by hls.js.
	if len(tracks) > 0 {
		embedded := false
		for _, t := range tracks {
			if t.url == "" {
				embedded = true
			}
		}
		if !embedded && levels[0].codecs.audio != "" && !levels[0].attrs.truthy("AUDIO") {
			tracks = append([]audioTrack{{name: "main"}}, tracks...)
		}
	}
	return tracks, nil
}

// rendition applies P2PML's processMainManifest: with a bitrate of 0 ("missing
// metadata") only the bitrate is passed on.
func (l *level) rendition() Rendition {
	b := l.bitrate
	if b == 0 {
		return Rendition{} // also turns -0 into 0, which JS prints as "0"
	}
	return Rendition{
		Bitrate:       b,
		Codecs:        l.codecs.video,
		Width:         l.w,
		Height:        l.h,
		HasResolution: l.hasRes,
		FrameRate:     l.attrs["FRAME-RATE"],
		VideoRange:    l.attrs["VIDEO-RANGE"],
	}
}
