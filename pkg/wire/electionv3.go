package wire

import (
	"strconv"
	"unicode/utf16"
)

// AnnouncementAllowanceV3 is the slack, in seconds, a 5.x backup allows
// for the owner's announcement before stepping in
// (ANNOUNCEMENT_ALLOWANCE_SECONDS in p2p-media-loader-core/src/utils/election.ts).
const AnnouncementAllowanceV3 = 0.5

// Hash32V3 is the 5.x election hash (hash32 in utils/election.ts): 32-bit
// FNV-1a over the UTF-16 code units of s, then murmur3's fmix32.
func Hash32V3(s string) uint32 {
	h := uint32(0x811c9dc5)
	for _, r := range s {
		if r > 0xFFFF { // a surrogate pair in JavaScript: two code units
			r1, r2 := utf16.EncodeRune(r)
			h = (h ^ uint32(r1)) * 0x01000193
			h = (h ^ uint32(r2)) * 0x01000193
			continue
		}
		h = (h ^ uint32(r)) * 0x01000193
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// ElectionScoreV3 returns a peer's score for a segment,
// Hash32V3(peerID + "|" + segmentID in decimal) (scoreForSegment). The
// lowest score among a peer and its connected neighbours fetches the
// segment over HTTP.
func ElectionScoreV3(peerID string, segmentID int64) uint32 {
	return Hash32V3(peerID + "|" + strconv.FormatInt(segmentID, 10))
}

// ElectionRankV3 returns how many of neighbours outscore peerID for the
// segment (rankForSegment): 0 makes peerID the owner, r > 0 its r-th backup.
// A tie goes to the peer id that is smaller in JavaScript's string order
// (UTF-16 code units). neighbours are the peer's connected peers; peerID
// itself should not be among them.
func ElectionRankV3(peerID string, neighbours []string, segmentID int64) int {
	own := ElectionScoreV3(peerID, segmentID)
	rank := 0
	for _, n := range neighbours {
		s := ElectionScoreV3(n, segmentID)
		if s < own || (s == own && lessUTF16(n, peerID)) {
			rank++
		}
	}
	return rank
}

// IsHTTPOwnerV3 reports whether a browser with peer id peerID and these
// connected neighbours fetches the segment over HTTP itself, without
// waiting (isHttpOwner). It does so only for a segment in its HTTP window
// that no connected peer has announced and that it does not hold: a seed
// that announces a segment (field l, or p while fetching it) keeps its
// neighbours from electing anyone for it.
func IsHTTPOwnerV3(peerID string, neighbours []string, segmentID int64) bool {
	return ElectionRankV3(peerID, neighbours, segmentID) == 0
}

// ShouldFetchNowV3 reports whether a peer of the given rank fetches now
// (shouldFetchNow): the owner always; a backup only when the seconds left
// before the segment turns urgent are at most
// fetchSeconds × (1 + 1/rank) + AnnouncementAllowanceV3.
func ShouldFetchNowV3(rank int, secondsToUrgent, fetchSeconds float64) bool {
	if rank == 0 {
		return true
	}
	factor := 1 + 1/float64(rank)
	// The conversion keeps Go from fusing a multiply-add JavaScript rounds twice.
	return secondsToUrgent <= float64(fetchSeconds*factor)+AnnouncementAllowanceV3
}

// lessUTF16 compares as JavaScript's < on strings: by UTF-16 code units.
func lessUTF16(a, b string) bool {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}
