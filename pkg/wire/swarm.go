package wire

import (
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"math"
	"sort"
	"strconv"
	"strings"
)

// PeerProtocolVersion prefixes every stream swarm id since core 1.0.4
// (PEER_PROTOCOL_VERSION in p2p-media-loader-core/src/utils/stream.ts).
const PeerProtocolVersion = "v2"

// StreamType is P2P Media Loader's stream.type.
type StreamType string

// The two stream types. A separate audio rendition is secondary; video, or
// audio in an audio-only stream, is main.
const (
	Main      StreamType = "main"
	Secondary StreamType = "secondary"
)

// Generation is a P2P Media Loader release line with its own swarm identity.
// Peers of different generations never meet in a swarm, so a seed announces
// every stream once per generation it serves.
type Generation string

// The generations whose identities this package derives.
const (
	// Gen06 is the legacy 0.6.x line (JSON peer commands): stream swarm ids
	// from StreamSwarmID06, SHA-1 infoHash of "2"+id as 20 raw bytes. It is
	// not in Generations until the seeder serves its peer protocol.
	Gen06 Generation = "0.6"
	// Gen22 is core 1.0.4 to 2.2.x: ordinal stream index, MD5-based infoHash.
	Gen22 Generation = "2.2"
	// Gen23 is core 2.3.x: SHA-1 short id of the stream's attributes, SHA-1-based infoHash.
	Gen23 Generation = "2.3"
)

// Generations lists every generation, oldest first.
var Generations = []Generation{Gen22, Gen23}

// StreamSwarmID22 returns the 2.2 stream swarm id
// "v2-{base}-{type}-{ordinal}". base is the page's swarmId setting or, by
// default, the manifest response URL without its query.
func StreamSwarmID22(base string, t StreamType, ordinal int) string {
	return PeerProtocolVersion + "-" + base + "-" + string(t) + "-" + strconv.Itoa(ordinal)
}

// StreamSwarmID23 returns the 2.3 stream swarm id
// "v2-{base}-{type}-{ShortID(props)}".
func StreamSwarmID23(base string, t StreamType, props StreamProps) string {
	return PeerProtocolVersion + "-" + base + "-" + string(t) + "-" + ShortID(props)
}

// InfoHash returns the 20-byte tracker info_hash the given generation
// derives from a stream swarm id, as a Go string of bytes (a JavaScript
// "binary string"; TrackerMessage.AppendJSON writes it as the browser does).
//
// 2.2: Base64 of MD5(id) bytes 1..15. 2.3: Base64 of SHA-1(id) bytes 0..14
// (getStreamHash in p2p-media-loader-core/src/utils/peer.ts). Both are plain
// ASCII. 0.6: the raw SHA-1 of "2"+id, the "2" being PEER_PROTOCOL_VERSION
// (p2p-media-loader-core/lib/p2p-media-manager.ts@0.6.2), so most of its
// bytes are not ASCII. GenV3 uses the 2.3 function (computeInfoHash in
// p2p-media-loader-core/src/stream-identity.ts), as does any other
// generation.
func (g Generation) InfoHash(streamSwarmID string) string {
	if g == Gen06 {
		sum := sha1.Sum([]byte(PeerProtocolVersion06 + streamSwarmID))
		return string(sum[:])
	}
	if g == Gen22 {
		sum := md5.Sum([]byte(streamSwarmID))
		return base64.StdEncoding.EncodeToString(sum[1:16])
	}
	sum := sha1.Sum([]byte(streamSwarmID))
	return base64.StdEncoding.EncodeToString(sum[0:15])
}

// StreamProps are the inputs of the 2.3 stream short id
// (GenerateStreamShortIdProps in p2p-media-loader-core/src/utils/stream.ts),
// holding what the player integration passes in. Empty strings stand for
// absent values, as the upstream normalisation treats them alike.
type StreamProps struct {
	// Bitrate is a JavaScript number: NaN and ±Inf print as JavaScript does
	// (hls.js yields NaN for a variant with neither BANDWIDTH nor AVERAGE-BANDWIDTH).
	Bitrate float64
	// Codecs is a comma-separated codec list.
	Codecs string
	// Width and Height print as numbers when HasSize, as "" otherwise.
	Width, Height int
	HasSize       bool
	Language      string
	Channels      string
	Name          string
	// FrameRate is the text the player passes (hls.js: the FRAME-RATE
	// attribute; shaka: a number, formatted with FormatJSNumber).
	FrameRate  string
	VideoRange string
}

// ShortIDString returns the canonical string the 2.3 short id hashes:
// "{bitrate}-{codecs}-{width}-{height}-{lang}-{channels}-{name}-{frameRate}-{videoRange}".
func ShortIDString(p StreamProps) string {
	var b strings.Builder
	b.WriteString(FormatJSNumber(p.Bitrate))
	b.WriteByte('-')
	b.WriteString(normalizeCodecs(p.Codecs))
	b.WriteByte('-')
	if p.HasSize {
		b.WriteString(strconv.Itoa(p.Width))
	}
	b.WriteByte('-')
	if p.HasSize {
		b.WriteString(strconv.Itoa(p.Height))
	}
	b.WriteByte('-')
	if p.Language != "" && p.Language != "und" {
		b.WriteString(strings.ToLower(firstUTF16Units(p.Language, 2)))
	}
	b.WriteByte('-')
	b.WriteString(strings.SplitN(p.Channels, "/", 2)[0])
	b.WriteByte('-')
	b.WriteString(strings.TrimSpace(strings.ToLower(p.Name)))
	b.WriteByte('-')
	if p.FrameRate != "" {
		if f, ok := parseJSNumber(p.FrameRate); ok {
			b.WriteString(FormatJSNumber(f))
		}
	}
	b.WriteByte('-')
	b.WriteString(strings.TrimSpace(strings.ToUpper(p.VideoRange)))
	return b.String()
}

// ShortID returns the 2.3 stream index: standard Base64 (with padding) of the
// SHA-1 of ShortIDString(p).
func ShortID(p StreamProps) string {
	sum := sha1.Sum([]byte(ShortIDString(p)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// normalizeCodecs splits on commas, trims and lower-cases each codec,
// rewrites decimal avc1.P.L as hex avc1.PP00LL, sorts and joins.
func normalizeCodecs(s string) string {
	if s == "" {
		return ""
	}
	codecs := strings.Split(s, ",")
	for i, c := range codecs {
		c = strings.ToLower(strings.TrimSpace(c))
		if parts := strings.Split(c, "."); len(parts) == 3 && (parts[0] == "avc1" || parts[0] == "avc") {
			profile, perr := strconv.Atoi(parts[1])
			level, lerr := strconv.Atoi(parts[2])
			// Only canonical decimals: parseInt(x) printed back must equal x.
			if perr == nil && lerr == nil && strconv.Itoa(profile) == parts[1] && strconv.Itoa(level) == parts[2] {
				c = parts[0] + "." + padHex(profile) + "00" + padHex(level)
			}
		}
		codecs[i] = c
	}
	sort.Strings(codecs)
	return strings.Join(codecs, ",")
}

func padHex(v int) string {
	s := strconv.FormatInt(int64(v), 16)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// firstUTF16Units returns the prefix of s that JavaScript's s.slice(0, n)
// keeps, counting UTF-16 code units.
func firstUTF16Units(s string, n int) string {
	units := 0
	for i, r := range s {
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

// parseJSNumber converts text as JavaScript's Number(s) does for the forms
// that occur in manifests: decimal numbers with surrounding whitespace, and
// "" as 0. It reports false where Number gives NaN.
func parseJSNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	for _, r := range s {
		// ParseFloat also takes "inf", "nan", hex floats and underscores, which Number does not.
		if !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-') {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// FormatJSNumber prints f as JavaScript's Number.prototype.toString does:
// the shortest round-tripping digits, in fixed notation for magnitudes in
// [1e-6, 1e21) and exponent notation ("1e+21") outside it.
func FormatJSNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // also -0
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64) // e.g. 1e+21, 1.5e-07
		mant, exp, _ := strings.Cut(s, "e")
		sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + digits
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
