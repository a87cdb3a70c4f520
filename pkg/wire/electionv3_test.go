package wire

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// electionVectorsV3 mirrors testdata/v3/election.json, the example of
// protocol-v3.md §4.
type electionVectorsV3 struct {
	Peers    []string `json:"peers"`
	Segments []struct {
		SegmentID int64             `json:"segmentId"`
		Scores    map[string]string `json:"scores"`
		Owner     string            `json:"owner"`
	} `json:"segments"`
}

func TestElectionVectorsV3(t *testing.T) {
	b, err := os.ReadFile("testdata/v3/election.json")
	require.NoError(t, err)
	var v electionVectorsV3
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Segments)
	for _, s := range v.Segments {
		t.Run(fmt.Sprint(s.SegmentID), func(t *testing.T) {
			for peer, score := range s.Scores {
				require.Equal(t, score, fmt.Sprintf("%08x", ElectionScoreV3(peer, s.SegmentID)), peer)
			}
			for i, peer := range v.Peers {
				other := v.Peers[1-i]
				owner := IsHTTPOwnerV3(peer, []string{other}, s.SegmentID)
				require.Equal(t, peer == s.Owner, owner, peer)
				require.Equal(t, map[bool]int{true: 0, false: 1}[owner], ElectionRankV3(peer, []string{other}, s.SegmentID))
			}
		})
	}
}

func TestHash32V3(t *testing.T) {
	// FNV-1a of "" is its offset basis; fmix32 then scrambles it.
	h := uint32(0x811c9dc5)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	require.Equal(t, h, Hash32V3(""))
	// A supplementary character is two UTF-16 code units, as charCodeAt sees it.
	require.Equal(t, Hash32V3("\U0001F600"), hash32Units(0xD83D, 0xDE00))
	require.Equal(t, Hash32V3("é|5"), hash32Units(0xE9, '|', '5'))
}

// hash32Units hashes code units directly, the way the JavaScript loop does.
func hash32Units(units ...uint16) uint32 {
	h := uint32(0x811c9dc5)
	for _, u := range units {
		h = (h ^ uint32(u)) * 0x01000193
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func TestElectionRankV3(t *testing.T) {
	peers := []string{"-PM0500-AAAAAAAAAAAA", "-PM0500-BBBBBBBBBBBB", "-PM0500-CCCCCCCCCCCC", "-PM0500-DDDDDDDDDDDD"}
	for seg := int64(0); seg < 50; seg++ {
		// Exactly one owner, ranks a permutation of 0..n-1.
		seen := map[int]bool{}
		for i, p := range peers {
			others := append(append([]string{}, peers[:i]...), peers[i+1:]...)
			seen[ElectionRankV3(p, others, seg)] = true
		}
		require.Len(t, seen, len(peers), "segment %d", seg)
		for r := range peers {
			require.True(t, seen[r])
		}
	}
	require.Equal(t, 0, ElectionRankV3("x", nil, 9), "alone: owner")
	// Ties go to the smaller id in UTF-16 order, where U+1F600 (D83D DE00)
	// sorts before U+FF61, unlike in UTF-8 and Go's string order.
	require.True(t, lessUTF16("\U0001F600", "\uff61"))
	require.False(t, lessUTF16("\uff61", "\U0001F600"))
	require.False(t, "\U0001F600" < "\uff61")
	require.True(t, lessUTF16("a", "ab"))
	require.False(t, lessUTF16("a", "a"))
}

func TestShouldFetchNowV3(t *testing.T) {
	require.True(t, ShouldFetchNowV3(0, 100, 1))
	// First backup: 2 × fetch + 0.5 s.
	require.True(t, ShouldFetchNowV3(1, 2.5, 1))
	require.False(t, ShouldFetchNowV3(1, 2.51, 1))
	// Second backup: 1.5 × fetch + 0.5 s.
	require.True(t, ShouldFetchNowV3(2, 2, 1))
	require.False(t, ShouldFetchNowV3(2, 2.01, 1))
}
