package seeder

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/superpeer/superpeer/pkg/wire"
)

func idRange(lo, hi int64) []int64 {
	var ids []int64
	for i := lo; i < hi; i++ {
		ids = append(ids, i)
	}
	return ids
}

// encodable checks ids against the real decoder's limits by encoding them.
func encodable(t *testing.T, ids []int64) {
	t.Helper()
	_, err := wire.EncodeCommand(wire.Command{Type: wire.SegmentsAnnouncement, Loaded: ids}, 0)
	require.NoError(t, err)
}

func TestFitAnnouncement(t *testing.T) {
	t.Run("short lists pass unchanged", func(t *testing.T) {
		ids := idRange(0, 200)
		require.Equal(t, ids, fitAnnouncement(ids, 0, wire.MaxIDsPerBlock))
	})
	t.Run("full block loses the id farthest from focus", func(t *testing.T) {
		ids := idRange(0, 300) // block 0 is full (0..255)
		got := fitAnnouncement(ids, 10, wire.MaxIDsPerBlock)
		encodable(t, got)
		require.Len(t, got, 299)
		require.NotContains(t, got, int64(255))
		require.Contains(t, got, int64(0))

		got = fitAnnouncement(ids, 290, wire.MaxIDsPerBlock)
		require.NotContains(t, got, int64(0), "focus beyond the block: drop its start")
		require.Contains(t, got, int64(255))
	})
	t.Run("a 2 h VOD of 2 s segments stays decodable", func(t *testing.T) {
		ids := idRange(0, 3600)
		got := fitAnnouncement(ids, 1800, wire.MaxIDsPerBlock)
		encodable(t, got)
		require.Len(t, got, 3600-14, "one id left out of each of the 14 full blocks")
		require.Contains(t, got, int64(1800))
		require.Contains(t, got, int64(1801))
	})
	t.Run("too many blocks keeps those around focus", func(t *testing.T) {
		var ids []int64
		for b := int64(0); b < 400; b++ {
			ids = append(ids, b*256)
		}
		got := fitAnnouncement(ids, 300*256, wire.MaxIDsPerBlock)
		encodable(t, got)
		require.Len(t, got, wire.MaxBlocks)
		require.Contains(t, got, int64(300*256))
		require.Equal(t, got[len(got)-1], int64(399*256))

		got = fitAnnouncement(ids, 0, wire.MaxIDsPerBlock)
		require.Equal(t, int64(0), got[0])
	})
	t.Run("live ids far from zero", func(t *testing.T) {
		ids := idRange(1_700_000_000, 1_700_000_010)
		require.Equal(t, ids, fitAnnouncement(ids, 1_700_000_009, wire.MaxIDsPerBlock))
	})
}

func TestDefaultFocus(t *testing.T) {
	require.Equal(t, int64(3), (&catalog2x{loaded: []int64{3, 4, 5}}).defaultFocus())
	require.Equal(t, int64(1005), (&catalog2x{loaded: []int64{1000, 1005}, live: true}).defaultFocus())
	require.Equal(t, int64(7), (&catalog2x{loading: []int64{7, 8}}).defaultFocus())
	require.Equal(t, int64(0), (&catalog2x{}).defaultFocus())
}
