package wire

import (
	"crypto/sha1"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
)

// GenV3 is the P2P Media Loader 5.x line ("v3"): stream identity hashed from
// the manifest's own attributes (IdentityHashesV3), segment ids from the
// media sequence or the DASH presentation time, the 2.x binary commands with
// the stricter rules of ValidateCommandV3. Its infoHash is derived as 2.3's:
// Base64 of SHA-1(stream swarm id) bytes 0..14 (computeInfoHash in
// p2p-media-loader-core/src/stream-identity.ts). It is not in Generations
// until the seeder serves it.
const GenV3 Generation = "v3"

// PeerProtocolVersionV3 prefixes every 5.x stream swarm id
// (PEER_PROTOCOL_VERSION in p2p-media-loader-core/src/stream-identity.ts).
// It is the only place "v3" appears: nothing on the data channel carries it.
const PeerProtocolVersionV3 = "v3"

// StreamPropsV3 is the StreamProperties object a 5.x core hashes into a
// stream's identity, each field as JavaScript's String(value) prints it and
// "" for an absent value (null, undefined and "" hash alike). Fill it with
// the HLS…PropsV3 and DASH…PropsV3 helpers, which read manifest attributes
// as the core's parsers do; nothing here is normalized.
type StreamPropsV3 struct {
	// Bitrate is "" when absent, which hashes as "0", like 0 itself.
	Bitrate    string
	Codecs     string
	Width      string
	Height     string
	Language   string
	Channels   string
	Name       string
	FrameRate  string
	VideoRange string
}

// StreamV3 is one stream a manifest declares: its type and properties.
type StreamV3 struct {
	Type  StreamType
	Props StreamPropsV3
}

// IdentityStringV3 returns the string the identity hash covers:
// "{bitrate|0}-{codecs}-{width}-{height}-{language}-{channels}-{name}-{frameRate}-{videoRange}"
// (computeStreamIdentityHash in stream-identity.ts).
func IdentityStringV3(p StreamPropsV3) string {
	bitrate := p.Bitrate
	if bitrate == "" {
		bitrate = "0"
	}
	return strings.Join([]string{
		bitrate, p.Codecs, p.Width, p.Height, p.Language,
		p.Channels, p.Name, p.FrameRate, p.VideoRange,
	}, "-")
}

// IdentityHashV3 returns standard Base64 (28 characters, padded) of the
// SHA-1 of IdentityStringV3(p). It hashes p as given; use IdentityHashesV3
// to apply the bitrate rule first.
func IdentityHashV3(p StreamPropsV3) string {
	sum := sha1.Sum([]byte(IdentityStringV3(p)))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// IdentityHashesV3 returns the identity hash of every stream of one
// manifest, in order, applying the core's bitrate rule (identityProperties
// in stream-identity.ts, called from ManifestRegistry.apply): a stream's
// bitrate is dropped unless another stream of the same type in the same
// manifest has the same hash without it. streams must be every stream that
// manifest declares (a media playlist loaded alone is one stream with empty
// properties), since the rule looks across all of them.
func IdentityHashesV3(streams []StreamV3) []string {
	type key struct {
		t    StreamType
		hash string
	}
	keys := make([]key, len(streams))
	seen := make(map[key]int, len(streams))
	for i, s := range streams {
		p := s.Props
		p.Bitrate = ""
		keys[i] = key{s.Type, IdentityHashV3(p)}
		seen[keys[i]]++
	}
	hashes := make([]string, len(streams))
	for i, s := range streams {
		if seen[keys[i]] > 1 {
			hashes[i] = IdentityHashV3(s.Props)
		} else {
			hashes[i] = keys[i].hash
		}
	}
	return hashes
}

// StreamSwarmIDV3 returns the 5.x stream swarm id
// "v3-{swarmID}-{type}-{identityHash}" (buildStreamSwarmId in
// stream-identity.ts). A page's streamSwarmIdBuilder replaces it.
func StreamSwarmIDV3(swarmID string, t StreamType, identityHash string) string {
	return PeerProtocolVersionV3 + "-" + swarmID + "-" + string(t) + "-" + identityHash
}

// SwarmIDV3 returns the default 5.x swarm id: the URL the player asked for
// (before any redirect) of the first manifest that registers a stream, with
// its whole query string removed. A page's swarmId setting replaces it.
func SwarmIDV3(requestedManifestURL string) string {
	id, _, _ := strings.Cut(requestedManifestURL, "?")
	return id
}

// SegmentIDHLSV3 returns the wire id of an HLS segment: its media sequence
// number, EXT-X-MEDIA-SEQUENCE plus its index in the playlist
// (manifest/hls.ts mediaStream), for VOD and live alike.
func SegmentIDHLSV3(mediaSequence int64, index int) int64 {
	return mediaSequence + int64(index)
}

// SegmentIDDASHV3 returns the wire id of a DASH segment: its presentation
// start time in seconds, in 100 ms units, rounded as JavaScript's
// Math.round(t * 10) does (halves towards +Infinity, so -0.25 s gives -2)
// (externalIdOf in manifest/registry.ts). For SegmentBase the time is the
// period start plus the preceding sidx subsegment durations, each
// subsegmentDuration/timescale, summed in that order in float64.
func SegmentIDDASHV3(presentationTime float64) int64 {
	x := float64(presentationTime * 10) // explicit conversion: no fused multiply-add
	if math.IsNaN(x) {
		return 0 // JavaScript yields NaN, which no peer can announce
	}
	r := math.Floor(x)
	if x-r >= 0.5 {
		r++
	}
	return int64(r)
}

// HLSVariantAttrsV3 holds the EXT-X-STREAM-INF attributes a 5.x core reads,
// as written in the playlist (quotes removed), "" when absent.
type HLSVariantAttrsV3 struct {
	Bandwidth  string // BANDWIDTH
	Codecs     string // CODECS
	Resolution string // RESOLUTION, e.g. "640x360"
	FrameRate  string // FRAME-RATE
	VideoRange string // VIDEO-RANGE
}

// HLSVariantPropsV3 returns the properties of an HLS variant, a main stream
// (videoStreamProperties in manifest/properties.ts over m3u8-parser):
// BANDWIDTH and each side of RESOLUTION through parseInt, only the video
// codecs of CODECS (VideoCodecsV3), FRAME-RATE and VIDEO-RANGE as written.
func HLSVariantPropsV3(a HLSVariantAttrsV3) StreamPropsV3 {
	p := StreamPropsV3{
		Codecs:     VideoCodecsV3(a.Codecs),
		FrameRate:  a.FrameRate,
		VideoRange: a.VideoRange,
	}
	if a.Bandwidth != "" {
		p.Bitrate = jsParseInt(a.Bandwidth)
	}
	if a.Resolution != "" {
		parts := strings.Split(a.Resolution, "x")
		if parts[0] != "" {
			p.Width = jsParseInt(parts[0])
		}
		if len(parts) > 1 && parts[1] != "" {
			p.Height = jsParseInt(parts[1])
		}
	}
	return p
}

// HLSVideoRenditionPropsV3 returns the properties of an EXT-X-MEDIA
// TYPE=VIDEO rendition with its own URI, a main stream: the attributes of
// the first variant that references its group, plus the rendition's own
// NAME and LANGUAGE (videoRenditionProperties in manifest/properties.ts).
func HLSVideoRenditionPropsV3(variant HLSVariantAttrsV3, name, language string) StreamPropsV3 {
	p := HLSVariantPropsV3(variant)
	p.Name, p.Language = name, language
	return p
}

// HLSAudioAttrsV3 holds what a 5.x core reads for an EXT-X-MEDIA TYPE=AUDIO
// rendition with a URI, in a group some variant references.
type HLSAudioAttrsV3 struct {
	// VariantCodecs is the CODECS of the first variant (in playlist order)
	// that references the group and lists an audio codec.
	VariantCodecs string
	Name          string // NAME
	Language      string // LANGUAGE
	// Channels is CHANNELS as written, e.g. "2" or "16/JOC".
	Channels string
}

// HLSAudioPropsV3 returns the properties of an HLS audio rendition, a
// secondary stream (audioStreamProperties in manifest/properties.ts):
// bitrate 0, the audio codecs of the variant's CODECS, and the rendition's
// LANGUAGE, CHANNELS and NAME as written.
func HLSAudioPropsV3(a HLSAudioAttrsV3) StreamPropsV3 {
	return StreamPropsV3{
		Bitrate:  "0",
		Codecs:   AudioCodecsV3(a.VariantCodecs),
		Language: a.Language,
		Channels: a.Channels,
		Name:     a.Name,
	}
}

// DASHRepresentationAttrsV3 holds the attributes of a DASH Representation a
// 5.x core reads through mpd-parser, inherited from the AdaptationSet where
// the Representation lacks them, as written, "" when absent.
type DASHRepresentationAttrsV3 struct {
	ID        string // @id
	Bandwidth string // @bandwidth
	Codecs    string // @codecs
	Width     string // @width
	Height    string // @height
	FrameRate string // @frameRate, e.g. "25" or "30000/1001"
	Lang      string // AdaptationSet @lang
	// Channels is the value of the first AudioChannelConfiguration with the
	// MPEG scheme (urn:mpeg:dash:23003:3:audio_channel_configuration:2011)
	// whose value is a positive integer, on the Representation or else on
	// its AdaptationSet; vendor schemes are ignored.
	Channels string
}

// DASHVideoPropsV3 returns the properties of a DASH video Representation, a
// main stream: @bandwidth, @width and @height through parseInt, the video
// codecs of @codecs, @frameRate as mpd-parser divides it (30000/1001 →
// 29.97002997002997).
func DASHVideoPropsV3(a DASHRepresentationAttrsV3) StreamPropsV3 {
	p := StreamPropsV3{Codecs: VideoCodecsV3(a.Codecs)}
	if a.Bandwidth != "" {
		p.Bitrate = jsParseInt(a.Bandwidth)
	}
	if a.Width != "" {
		p.Width = jsParseInt(a.Width)
	}
	if a.Height != "" {
		p.Height = jsParseInt(a.Height)
	}
	if a.FrameRate != "" {
		p.FrameRate = divisionValue(a.FrameRate)
	}
	return p
}

// DASHAudioPropsV3 returns the properties of a DASH audio Representation, a
// secondary stream: bitrate 0, @codecs whole (not filtered), the
// AdaptationSet's @lang, the channel count, and the Representation @id as
// the name (manifest/dash.ts).
func DASHAudioPropsV3(a DASHRepresentationAttrsV3) StreamPropsV3 {
	p := StreamPropsV3{Bitrate: "0", Codecs: a.Codecs, Language: a.Lang, Name: a.ID}
	if f, ok := parseJSNumber(a.Channels); ok && a.Channels != "" && f > 0 && f == math.Trunc(f) && !math.IsInf(f, 0) {
		p.Channels = FormatJSNumber(f)
	}
	return p
}

// VideoCodecsV3 returns the video codecs of a CODECS list, trimmed, in
// order, joined with ",", as @videojs/vhs-utils parseCodecs classifies them
// (case-insensitive prefixes av01, av1, avc1–avc4, avc01–avc04, vp8, vp9,
// vp08, vp09, hvc1, hev1, theora, mp4v); "" when there are none.
func VideoCodecsV3(codecs string) string { return codecsOfType(codecs, isVideoCodec) }

// AudioCodecsV3 returns the audio codecs of a CODECS list as VideoCodecsV3
// does the video ones (prefixes mp4a, flac, vorbis, opus, ac-3, ac-4, ec-3,
// alac, mp3, speex, aac).
func AudioCodecsV3(codecs string) string { return codecsOfType(codecs, isAudioCodec) }

func codecsOfType(codecs string, match func(lower string) bool) string {
	if codecs == "" {
		return ""
	}
	var out []string
	for _, c := range strings.Split(codecs, ",") {
		c = strings.TrimSpace(c)
		if match(strings.ToLower(c)) {
			out = append(out, c)
		}
	}
	return strings.Join(out, ",")
}

// isVideoCodec is vhs-utils' /^(av0?1|avc0?[1234]|vp0?[89]|hvc1|hev1|theora|mp4v)/.
func isVideoCodec(c string) bool {
	for _, p := range []string{"av01", "av1", "hvc1", "hev1", "theora", "mp4v", "vp8", "vp9", "vp08", "vp09"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	for _, p := range []string{"avc", "avc0"} {
		if len(c) > len(p) && strings.HasPrefix(c, p) && c[len(p)] >= '1' && c[len(p)] <= '4' {
			return true
		}
	}
	return false
}

// isAudioCodec is vhs-utils' /^(mp4a|flac|vorbis|opus|ac-[34]|ec-3|alac|mp3|speex|aac)/.
func isAudioCodec(c string) bool {
	for _, p := range []string{"mp4a", "flac", "vorbis", "opus", "ac-3", "ac-4", "ec-3", "alac", "mp3", "speex", "aac"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// jsParseInt returns String(parseInt(s, 10)): leading white space, an
// optional sign, then the longest run of decimal digits; "NaN" without one.
func jsParseInt(s string) string {
	s = strings.TrimLeft(s, " \t\n\v\f\r\u00a0\ufeff")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 {
		return "NaN"
	}
	f, _ := strconv.ParseFloat(s[:n], 64) // digits only: cannot fail, overflows to +Inf as JS does
	if neg {
		f = -f
	}
	return FormatJSNumber(f)
}

// divisionValue returns String(parseFloat(a / b / …)) for mpd-parser's
// "30000/1001" frame rates; a single value is parseFloat(s).
func divisionValue(s string) string {
	parts := strings.Split(s, "/")
	if len(parts) == 1 {
		return jsParseFloat(s)
	}
	acc, ok := parseJSNumber(parts[0])
	for _, p := range parts[1:] {
		d, ok2 := parseJSNumber(p)
		ok = ok && ok2
		acc /= d
	}
	if !ok {
		return "NaN"
	}
	// parseFloat(String(x)) is x for every number but a round trip of its text.
	return jsParseFloat(FormatJSNumber(acc))
}

// jsParseFloat returns String(parseFloat(s)): the longest decimal prefix
// after leading white space, "Infinity" allowed; "NaN" without one.
func jsParseFloat(s string) string {
	s = strings.TrimLeft(s, " \t\n\v\f\r\u00a0\ufeff")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if strings.HasPrefix(s[i:], "Infinity") {
		if s[0] == '-' {
			return "-Infinity"
		}
		return "Infinity"
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return "NaN"
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil && !math.IsInf(f, 0) && f != 0 {
		return "NaN"
	}
	return FormatJSNumber(f)
}
