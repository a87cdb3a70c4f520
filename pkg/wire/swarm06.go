package wire

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// PeerProtocolVersion06 is PEER_PROTOCOL_VERSION of P2P Media Loader 0.5 and
// 0.6 (p2p-media-loader-core/lib/p2p-media-manager.ts@0.6.2 L28): the text
// prepended to a stream swarm id before hashing it into the info_hash.
const PeerProtocolVersion06 = "2"

// MasterSwarmID06 returns the default 0.6 master swarm id of a manifest
// request URL: everything before the first '?' (url.split("?")[0]), with no
// other normalisation. A page's segments.swarmId setting, when set, replaces
// it (hlsjs/segment-manager.ts@0.6.2 L345-354, shaka/integration.ts@0.6.2 L109).
//
// hls.js without a master playlist uses this of the media playlist URL as the
// stream swarm id itself, with no "+V" suffix.
func MasterSwarmID06(manifestURL string) string {
	id, _, _ := strings.Cut(manifestURL, "?")
	return id
}

// StreamSwarmID06 returns the 0.6 stream swarm id master+"+V"+variant, one
// tracker swarm per quality level. variant is the 0-based index of the
// EXT-X-STREAM-INF in the master playlist (hls.js, and Shaka playing HLS), or
// Shaka's internal stream.id for DASH.
func StreamSwarmID06(master string, variant int) string {
	return master + "+V" + strconv.Itoa(variant)
}

// SegmentID06 returns the full 0.6 segment id streamSwarmID+"+"+shortID,
// used in requests, data headers, absent and cancel commands.
func SegmentID06(streamSwarmID, shortID string) string {
	return streamSwarmID + "+" + shortID
}

// SplitSegmentID06 splits a full 0.6 segment id at its last '+' into stream
// swarm id and short id. It reports false when there is no '+'. Short ids
// from ShortIDFromSequence never contain '+'; a FormatToFixed3 id does only
// for times of 1e21 s and more ("1e+21"), which no stream reaches.
func SplitSegmentID06(segmentID string) (streamSwarmID, shortID string, ok bool) {
	i := strings.LastIndexByte(segmentID, '+')
	if i < 0 {
		return "", "", false
	}
	return segmentID[:i], segmentID[i+1:], true
}

// ShortIDFromSequence returns the 0.6 short id of an HLS segment (hls.js and
// Shaka playing HLS): its media sequence number, EXT-X-MEDIA-SEQUENCE plus
// its index in the playlist, in decimal.
func ShortIDFromSequence(seq int64) string {
	return strconv.FormatInt(seq, 10)
}

// FormatToFixed3 formats x as JavaScript's Number.prototype.toFixed(3) does,
// which Shaka 0.6 integrations use for the short id of a DASH segment (its
// start time in seconds from the Period start). Unlike
// strconv.FormatFloat(x, 'f', 3, 64), which rounds half to even, toFixed
// rounds the exact binary value half away from zero: 0.0625 gives "0.063".
// Negative values keep their sign even when they round to zero
// (-0.0004 gives "-0.000"), -0 gives "0.000", magnitudes of 1e21 and more
// print as String(x) does ("1e+21"), and NaN and ±Inf as "NaN" and
// "±Infinity" (ECMA-262 Number.prototype.toFixed).
func FormatToFixed3(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return FormatJSNumber(x)
	}
	sign := ""
	if x < 0 {
		sign, x = "-", -x
	}
	if x >= 1e21 {
		return sign + FormatJSNumber(x)
	}
	// x = mant·2^exp exactly; n = floor(x·1000 + 1/2).
	frac, exp := math.Frexp(x)
	mant := int64(frac * (1 << 53)) // exact: frac has at most 53 significant bits
	exp -= 53
	n := new(big.Int).Mul(big.NewInt(mant), big.NewInt(1000))
	if exp >= 0 {
		n.Lsh(n, uint(exp))
	} else {
		half := new(big.Int).Lsh(big.NewInt(1), uint(-exp-1))
		n.Add(n, half).Rsh(n, uint(-exp))
	}
	digits := n.String()
	if len(digits) < 4 {
		digits = strings.Repeat("0", 4-len(digits)) + digits
	}
	return sign + digits[:len(digits)-3] + "." + digits[len(digits)-3:]
}
