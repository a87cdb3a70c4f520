package playlist

import (
	"regexp"
	"strings"
)

// sampleEntryCodes is hls.js 1.6 sampleEntryCodesISO: the four-character
// sample entry codes it sorts CODECS entries by. The key is the first four
// characters of a codec string, compared case-sensitively.
var sampleEntryCodes = map[string]map[string]bool{
	"audio": setOf("a3ds", "ac-3", "ac-4", "alac", "alaw", "dra1", "dts+", "dts-", "dtsc", "dtse", "dtsh",
		"ec-3", "enca", "fLaC", "flac", "FLAC", "g719", "g726", "m4ae", "mha1", "mha2", "mhm1", "mhm2",
		"mlpa", "mp4a", "raw ", "Opus", "opus", "samr", "sawb", "sawp", "sevc", "sqcp", "ssmv", "twos", "ulaw"),
	"video": setOf("avc1", "avc2", "avc3", "avc4", "avcp", "av01", "dav1", "drac", "dva1", "dvav", "dvh1",
		"dvhe", "encv", "hev1", "hvc1", "mjp2", "mp4v", "mvc1", "mvc2", "mvc3", "mvc4", "resv", "rv60",
		"s263", "svc1", "svc2", "vc-1", "vp08", "vp09"),
	"text": setOf("stpp", "wvtt"),
}

func setOf(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// codecSepRE is the /[ ,]+/ hls.js splits CODECS on.
var codecSepRE = regexp.MustCompile(`[ ,]+`)

// levelCodecs is what hls.js setCodecs stores on a level; "" is undefined.
type levelCodecs struct {
	video, audio, text string
	unknown            []string
}

// isCodecType is hls.js isCodecType: the first four characters (JS UTF-16
// units; the table is ASCII so bytes compare the same) looked up in the table.
func isCodecType(codec, typ string) bool {
	key := codec
	if len(key) > 4 {
		key = key[:4]
	}
	return sampleEntryCodes[typ][key]
}

// setCodecs is hls.js setCodecs(attrs.CODECS, level).
func setCodecs(value string) levelCodecs {
	var lc levelCodecs
	var codecs []string
	for _, c := range codecSepRE.Split(value, -1) {
		if c != "" {
			codecs = append(codecs, c)
		}
	}
	for _, typ := range []string{"video", "audio", "text"} {
		var filtered, rest []string
		for _, c := range codecs {
			if isCodecType(c, typ) {
				filtered = append(filtered, c)
			} else {
				rest = append(rest, c)
			}
		}
		if len(filtered) == 0 {
			continue
		}
		names := make([]string, len(filtered))
		for i, c := range filtered {
			names[i], _, _ = strings.Cut(c, "/")
		}
		joined := strings.Join(names, ",")
		switch typ {
		case "video":
			lc.video = joined
		case "audio":
			lc.audio = joined
		case "text":
			lc.text = joined
		}
		codecs = rest
	}
	lc.unknown = codecs
	return lc
}

// convertAVC1ToAVCOTI is hls.js convertAVC1ToAVCOTI, which the level
// controller applies to level.videoCodec in place on MANIFEST_LOADED before
// P2PML's listener reads it: "avc1.66.30" becomes "avc1.42001e".
func convertAVC1ToAVCOTI(videoCodecs string) string {
	codecs := strings.Split(videoCodecs, ",")
	for i, c := range codecs {
		avc := strings.Split(c, ".")
		if len(avc) > 2 && avc[0] == "avc1" {
			level := "000" + jsIntToString16(jsParseInt(avc[2], 0))
			codecs[i] = "avc1." + jsIntToString16(jsParseInt(avc[1], 0)) + level[len(level)-4:]
		}
	}
	return strings.Join(codecs, ",")
}
