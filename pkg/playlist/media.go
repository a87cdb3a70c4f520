package playlist

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grafov/m3u8"
)

// MaxSegments bounds the number of segments ParseMedia accepts.
const MaxSegments = 100_000

// maxTargetDuration bounds MediaPlaylist.TargetDuration (hls.js has no bound;
// this keeps a live reload from being scheduled absurdly far away).
const maxTargetDuration = time.Hour

// ByteRange is a segment's byte range within its URL; End is inclusive, as in
// P2PML's ByteRange.
type ByteRange struct {
	Start, End int64
}

// Len returns the number of bytes in the range.
func (r ByteRange) Len() int64 { return r.End - r.Start + 1 }

// Segment is one media segment as P2PML's hls.js integration registers it.
type Segment struct {
	// ID is P2PML's externalId, the number sent on the wire: the media
	// sequence number for live playlists, the 0-based position in the playlist
	// for VOD ones (EXT-X-ENDLIST present), whatever EXT-X-MEDIA-SEQUENCE says.
	ID int64
	// Sequence is the media sequence number, EXT-X-MEDIA-SEQUENCE plus the
	// position, live or not: P2PML 0.6's segment id. For DASH it is the
	// segment number ($Number$, startNumber-based, or the position in a
	// SegmentBase index); no P2PML generation uses it as an id for DASH.
	Sequence int64
	// URL is the absolute segment URL, spelled as hls.js spells fragment urls.
	URL string
	// Range is the EXT-X-BYTERANGE sub-range, nil for the whole resource.
	Range *ByteRange
	// Duration is the EXTINF duration in seconds.
	Duration float64
	// Key is P2PML's segment runtimeId: URL, or "URL|start-end" with a byte
	// range (p2p-media-loader-hlsjs utils.getSegmentRuntimeId). For DASH it
	// is built from Shaka's reference URIs as p2p-media-loader-shaka
	// getSegmentRuntimeId does, from uris[1] ?? uris[0]: with two or more
	// BaseURLs it names the second resolved URL, not URL.
	Key string

	// The fields below are set for DASH only; for HLS they are zero.

	// Start is the segment's presentation start in seconds, as Shaka 4
	// computes it: period start + (t - presentationTimeOffset) / timescale.
	// For DASH, ID is trunc(Start / 0.5) (p2p-media-loader-shaka
	// processDashSegmentReferences), and P2PML v3 counts it in 100 ms units.
	Start float64
	// PeriodStart is the start of the segment's period in seconds.
	PeriodStart float64
	// PeriodTime is the start relative to the period start as Shaka 2.x
	// computes it, without adding and subtracting PeriodStart: P2PML 0.6's
	// DASH segment id is its toFixed(3).
	PeriodTime float64
	// ShakaStreamID is the Shaka 2.x stream.id of the segment's
	// representation in its period (P2PML 0.6's "V<id>").
	ShakaStreamID int
}

// MediaPlaylist is one parsed media playlist.
type MediaPlaylist struct {
	// URL is the playlist's final URL after redirects, serialized as a
	// browser's XHR responseURL; segment URLs are resolved against it.
	URL string
	// Live reports that EXT-X-ENDLIST is absent (HLS) or that the MPD is
	// dynamic (DASH).
	Live bool
	// TargetDuration is EXT-X-TARGETDURATION as hls.js reads it (at least
	// 1 s), capped at one hour.
	TargetDuration time.Duration
	// MediaSequence is EXT-X-MEDIA-SEQUENCE (0 when absent).
	MediaSequence int64
	// Segments are the segments in playlist order.
	Segments []Segment
}

// scannedSegment is what the hls.js-rule scan learns about one segment.
type scannedSegment struct {
	uri      string // as hls.js captured it (leading spaces dropped)
	rng      *ByteRange
	duration float64
}

// mediaScan is the result of scanMedia.
type mediaScan struct {
	segments       []scannedSegment
	msn            int64
	endList        bool
	targetDuration float64 // seconds; 0 when the tag is missing
}

// ParseMedia parses a media playlist fetched from finalURL (the URL after
// redirects).
//
// Segment identity follows hls.js 1.6 parseLevelPlaylist exactly: its
// LEVEL_PLAYLIST_REGEX_FAST tokenizer decides what is a segment URI, EXTINF
// and tag, so that positions (VOD segment IDs) match. In particular
// EXT-X-BYTERANGE without "@offset" starts where the previous segment's range
// ended (Fragment.setByteRange), and EXT-X-ENDLIST and EXT-X-MEDIA-SEQUENCE
// use hls.js's matching.
//
// grafov/m3u8 decodes the same playlist as a second opinion and must find
// the same segment URIs; where they differ the playlist is rejected with
// ErrUnsupported rather than guessed. Before grafov sees the playlist, lines
// are split on CR as well as LF (hls.js does, grafov does not), blank lines are
// dropped (grafov turns a blank line after EXTINF into an empty-URI segment
// and loses the real one), and #WV- lines are dropped (grafov panics on
// "#WV-CYPHER-VERSION" and "#WV-VIDEO-RESOLUTION" without a value); any other
// grafov panic is recovered. grafov's own EXT-X-BYTERANGE offsets (0 when
// "@offset" is absent) are not used.
//
// Rejected: playlists hls.js rejects (no #EXTM3U, no EXT-X-TARGETDURATION,
// misplaced EXT-X-MEDIA-SEQUENCE), EXT-X-SKIP, EXT-X-DEFINE, {$variable}
// URIs and URIs with more than 32 ".." (ErrUnsupported), empty or negative
// byte ranges, sequence numbers above 2^53-1 and more than MaxSegments
// segments. A live playlist with no segments is valid.
func ParseMedia(body []byte, finalURL *url.URL) (*MediaPlaylist, error) {
	if finalURL == nil {
		return nil, fmt.Errorf("%w: no playlist url", ErrMalformed)
	}
	text := decodeUTF8(body)
	sc, err := scanMedia(text)
	if err != nil {
		return nil, err
	}
	if err := crossCheck(text, sc); err != nil {
		return nil, err
	}
	base := responseURL(finalURL)
	pl := &MediaPlaylist{
		URL:            base,
		Live:           !sc.endList,
		TargetDuration: targetDuration(sc.targetDuration),
		MediaSequence:  sc.msn,
		Segments:       make([]Segment, len(sc.segments)),
	}
	for i, s := range sc.segments {
		seg := Segment{
			ID:       int64(i),
			Sequence: sc.msn + int64(i),
			URL:      resolveURL(base, s.uri),
			Range:    s.rng,
			Duration: s.duration,
		}
		if pl.Live {
			seg.ID = sc.msn + int64(i)
		}
		seg.Key = seg.URL
		if seg.Range != nil {
			seg.Key += "|" + strconv.FormatInt(seg.Range.Start, 10) + "-" + strconv.FormatInt(seg.Range.End, 10)
		}
		pl.Segments[i] = seg
	}
	return pl, nil
}

// crossCheck decodes text with grafov/m3u8 and requires the segment URIs the
// hls.js rules found.
func crossCheck(text string, sc *mediaScan) error {
	var lines []string
	for _, raw := range splitLines(text) {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#WV-") {
			continue
		}
		lines = append(lines, line)
	}
	mp, err := decodeGrafov(strings.Join(lines, "\n") + "\n")
	if err != nil {
		return err
	}
	n := int(mp.Count())
	if n != len(sc.segments) {
		return fmt.Errorf("%w: hls.js rules find %d segments, grafov/m3u8 %d", ErrUnsupported, len(sc.segments), n)
	}
	for i := range n {
		if gs := mp.Segments[i]; gs == nil || gs.URI != jsTrim(sc.segments[i].uri) {
			return fmt.Errorf("%w: hls.js rules and grafov/m3u8 disagree on segment %d", ErrUnsupported, i)
		}
	}
	return nil
}

func targetDuration(sec float64) time.Duration {
	if math.IsNaN(sec) || sec <= 0 {
		return 0
	}
	if sec >= maxTargetDuration.Seconds() {
		return maxTargetDuration
	}
	return time.Duration(sec * float64(time.Second))
}

// decodeGrafov runs grafov/m3u8 on text, turning its panics into errors.
func decodeGrafov(text string) (mp *m3u8.MediaPlaylist, err error) {
	defer func() {
		if r := recover(); r != nil {
			mp, err = nil, fmt.Errorf("%w: m3u8 decoder panic: %v", ErrMalformed, r)
		}
	}()
	p, lt, err := m3u8.DecodeFrom(strings.NewReader(text), false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	mp, ok := p.(*m3u8.MediaPlaylist)
	if lt != m3u8.MEDIA || !ok {
		return nil, fmt.Errorf("%w: not a media playlist", ErrMalformed)
	}
	return mp, nil
}

// splitLines splits on CRLF, CR and LF, the line breaks hls.js's regexes use.
func splitLines(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' })
}

// jsSpaceClass is the body of JavaScript's \s character class.
const jsSpaceClass = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

// levelPlaylistRE is hls.js LEVEL_PLAYLIST_REGEX_FAST:
//
//	/#EXTINF:\s*(\d*(?:\.\d+)?)(?:,(.*)\s+)?|(?!#) *(\S[^\r\n]*)|#.*/g
//
// with the (?!#) lookahead, which RE2 lacks, spelled out: a URI is either
// spaces then any non-space character (even '#'), or a first character that
// is neither space nor '#'. Groups: 1 duration, 2 title, 3 or 4 URI.
var levelPlaylistRE = regexp.MustCompile(`#EXTINF:[` + jsSpaceClass + `]*(\d*(?:\.\d+)?)(?:,(` + jsDot + `*)[` + jsSpaceClass + `]+)?` +
	`| +([^` + jsSpaceClass + `][^\r\n]*)|([^#` + jsSpaceClass + `][^\r\n]*)` +
	`|#` + jsDot + `*`)

// scanMedia tokenizes a media playlist the way hls.js parseLevelPlaylist does
// and keeps what segment identity needs.
func scanMedia(text string) (*mediaScan, error) {
	sc := &mediaScan{}
	matches := levelPlaylistRE.FindAllStringSubmatch(text, -1)
	if len(matches) == 0 || matches[0][0] != "#EXTM3U" {
		return nil, fmt.Errorf("%w: missing format identifier #EXTM3U", ErrMalformed)
	}
	seenMSN, seenTarget := false, false
	var pending scannedSegment // the fragment being built
	var prevEnd int64          // exclusive end of the previous segment's range, 0 if none
	for _, m := range matches[1:] {
		tok := m[0]
		switch uri := m[3] + m[4]; {
		case m[1] != "": // #EXTINF with a duration
			pending.duration, _ = strconv.ParseFloat(m[1], 64)
			if math.IsNaN(pending.duration) || math.IsInf(pending.duration, 0) {
				pending.duration = 0
			}
		case uri != "":
			if variableRefRE.MatchString(uri) {
				return nil, fmt.Errorf("%w: variable reference in segment URI", ErrUnsupported)
			}
			if err := checkURI(uri); err != nil {
				return nil, err
			}
			if len(sc.segments) >= MaxSegments {
				return nil, fmt.Errorf("%w: more than %d segments", ErrTooLarge, MaxSegments)
			}
			pending.uri = uri
			sc.segments = append(sc.segments, pending)
			prevEnd = 0
			if pending.rng != nil {
				prevEnd = pending.rng.End + 1
			}
			pending = scannedSegment{}
		case strings.HasPrefix(tok, "#EXT-X-BYTERANGE:") && len(tok) > len("#EXT-X-BYTERANGE:"):
			r, err := parseByteRange(tok[len("#EXT-X-BYTERANGE:"):], prevEnd)
			if err != nil {
				return nil, err
			}
			pending.rng = &r
		case strings.HasPrefix(tok, "#EXT-X-MEDIA-SEQUENCE:"):
			n, ok := tagInteger(tok[len("#EXT-X-MEDIA-SEQUENCE:"):])
			if !ok {
				break // hls.js skips it as an unknown tag
			}
			if seenMSN || len(sc.segments) > 0 {
				return nil, fmt.Errorf("%w: misplaced or repeated EXT-X-MEDIA-SEQUENCE", ErrMalformed)
			}
			if n > maxSafeInteger {
				return nil, fmt.Errorf("%w: media sequence %v too large", ErrMalformed, n)
			}
			seenMSN, sc.msn = true, int64(n)
		case strings.HasPrefix(tok, "#EXT-X-TARGETDURATION:"):
			if n, ok := tagInteger(tok[len("#EXT-X-TARGETDURATION:"):]); ok {
				seenTarget, sc.targetDuration = true, max(n, 1)
			}
		case strings.HasPrefix(tok, "#EXT-X-ENDLIST"):
			sc.endList = true
		case strings.HasPrefix(tok, "#EXT-X-SKIP:"):
			return nil, fmt.Errorf("%w: EXT-X-SKIP (delta playlist)", ErrUnsupported)
		case strings.HasPrefix(tok, "#EXT-X-DEFINE:"):
			return nil, fmt.Errorf("%w: EXT-X-DEFINE in media playlist", ErrUnsupported)
		}
	}
	if !seenTarget {
		return nil, fmt.Errorf("%w: missing EXT-X-TARGETDURATION", ErrMalformed)
	}
	if last := sc.msn + int64(len(sc.segments)); last > maxSafeInteger {
		return nil, fmt.Errorf("%w: media sequence %d too large", ErrMalformed, sc.msn)
	}
	return sc, nil
}

// tagInteger parses the " *(\d+)" value of hls.js's numeric tags.
func tagInteger(v string) (float64, bool) {
	v = strings.TrimLeft(v, " ")
	if v == "" || v[0] < '0' || v[0] > '9' {
		return 0, false
	}
	return jsParseInt(v, 10), true
}

// parseByteRange parses an EXT-X-BYTERANGE value, "<n>[@<o>]", with hls.js
// semantics (parseInt; a missing offset continues from prevEnd). Ranges P2PML
// would not treat as ranges (empty, negative) and absurd ones are errors.
func parseByteRange(v string, prevEnd int64) (ByteRange, error) {
	lenText, offText, hasOffset := strings.Cut(v, "@")
	n := jsParseInt(lenText, 10)
	start := float64(prevEnd)
	if hasOffset {
		start = jsParseInt(offText, 10)
	}
	if math.IsNaN(n) || math.IsNaN(start) || n <= 0 || start < 0 || start+n > maxSafeInteger {
		return ByteRange{}, fmt.Errorf("%w: bad EXT-X-BYTERANGE %q", ErrMalformed, v)
	}
	return ByteRange{Start: int64(start), End: int64(start+n) - 1}, nil
}
