package wire

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// commandVectorsV3 mirrors testdata/v3/commands.json, the byte examples of
// protocol-v3.md §1 (hex, spaces allowed).
type commandVectorsV3 struct {
	Commands []struct {
		Name    string    `json:"name"`
		Command jsCommand `json:"command"`
		Frame   string    `json:"frame"`
	} `json:"commands"`
	Ints []struct {
		N   int64  `json:"n"`
		Hex string `json:"hex"`
	} `json:"ints"`
	SimilarIntArrays []struct {
		IDs []int64 `json:"ids"`
		Hex string  `json:"hex"`
	} `json:"similarIntArrays"`
	Split struct {
		PayloadLen int   `json:"payloadLen"`
		MaxMessage int   `json:"maxMessage"`
		FrameLens  []int `json:"frameLens"`
	} `json:"split"`
}

func loadCommandVectorsV3(t testing.TB) commandVectorsV3 {
	t.Helper()
	b, err := os.ReadFile("testdata/v3/commands.json")
	require.NoError(t, err)
	var v commandVectorsV3
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Commands)
	return v
}

func spacedHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

func TestCommandVectorsV3(t *testing.T) {
	v := loadCommandVectorsV3(t)
	for _, tc := range v.Commands {
		t.Run(tc.Name, func(t *testing.T) {
			want := spacedHex(t, tc.Frame)
			c := tc.Command.command()
			frames, err := EncodeCommandV3(c, 0)
			require.NoError(t, err)
			require.Equal(t, [][]byte{want}, frames)
			// The 2.x encoder writes the same bytes for these.
			frames, err = EncodeCommand(c, 0)
			require.NoError(t, err)
			require.Equal(t, [][]byte{want}, frames)

			var j Joiner
			p, err := j.Push(want)
			require.NoError(t, err)
			got, err := DecodePayloadV3(p)
			require.NoError(t, err)
			require.Equal(t, c, got)
			require.NoError(t, ValidateCommandV3(got))
		})
	}
	for _, tc := range v.Ints {
		require.Equal(t, spacedHex(t, tc.Hex), appendInt(nil, tc.N))
	}
	for _, tc := range v.SimilarIntArrays {
		require.Equal(t, spacedHex(t, tc.Hex), appendSimilarIntArrayV3(nil, tc.IDs))
		ids, n, err := decodeSimilarIntArrayV3(spacedHex(t, tc.Hex))
		require.NoError(t, err)
		require.Equal(t, tc.IDs, ids)
		require.Equal(t, len(spacedHex(t, tc.Hex)), n)
	}
}

func TestSplitVectorV3(t *testing.T) {
	s := loadCommandVectorsV3(t).Split
	frames, err := FramePayload(make([]byte, s.PayloadLen), s.MaxMessage)
	require.NoError(t, err)
	var lens []int
	for _, f := range frames {
		lens = append(lens, len(f))
	}
	require.Equal(t, s.FrameLens, lens)
	require.Equal(t, "cstr", string(frames[0][:4]))
	require.Equal(t, "dend", string(frames[0][len(frames[0])-4:]))
	require.Equal(t, "dstr", string(frames[1][:4]))
	require.Equal(t, "cend", string(frames[1][len(frames[1])-4:]))
}

func TestFullBlockV3(t *testing.T) {
	// 0..511: two full blocks, each written with count 0.
	ids := make([]int64, 512)
	for i := range ids {
		ids[i] = int64(i)
	}
	p, err := AppendPayloadV3(nil, Command{Type: SegmentsAnnouncement, Loaded: ids, Loading: []int64{512}})
	require.NoError(t, err)
	require.Equal(t, []byte{0, 'l', 0x10, 2, 0x01, 0x00}, p[:6])
	require.Equal(t, []byte{0x02, 0x01, 0x00}, p[6+256:6+256+3])
	c, err := DecodePayloadV3(p)
	require.NoError(t, err)
	require.Equal(t, ids, c.Loaded)
	require.Equal(t, []int64{512}, c.Loading)

	// The 2.x decoder cannot read it; the 2.x encoder refuses it.
	_, err = DecodePayload(p)
	require.Error(t, err)
	_, err = AppendPayload(nil, Command{Type: SegmentsAnnouncement, Loaded: ids})
	require.ErrorIs(t, err, ErrLimit)
}

func TestAnnouncementOrderV3(t *testing.T) {
	// Blocks in first-seen order, ids within a block in list order, as upstream's Map.
	p, err := AppendPayloadV3(nil, Command{Type: SegmentsAnnouncement, Loaded: []int64{254, 255, 256, 257, 3}})
	require.NoError(t, err)
	require.Equal(t, spacedHex(t, "00 6c 10 02 01 03 fe ff 03 02 01 02 00 01"), p)
	empty, err := EncodeCommandV3(Command{Type: SegmentsAnnouncement}, 0)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("cstr\x00cend")}, empty)
}

func TestValidateCommandV3(t *testing.T) {
	blocks := make([]int64, MaxBlocks+1)
	for i := range blocks {
		blocks[i] = int64(i) << 8
	}
	for _, tc := range []struct {
		name string
		c    Command
		want error
	}{
		{"unknown type", Command{Type: 6}, ErrUnknownCommandV3},
		{"empty SegmentData", Command{Type: SegmentData, SegmentID: 1, RequestID: 1}, ErrMalformed},
		{"negative size", Command{Type: SegmentData, SegmentID: 1, RequestID: 1, Size: -1}, ErrMalformed},
		{"negative bytes from", Command{Type: SegmentRequest, SegmentID: 1, RequestID: 1, BytesFrom: -5}, ErrMalformed},
		{"id beyond 2^53", Command{Type: SegmentAbsent, SegmentID: 1 << 53, RequestID: 1}, ErrLimit},
		{"repeated id", Command{Type: SegmentsAnnouncement, Loaded: []int64{4, 5, 4}}, ErrMalformed},
		{"repeated loading id", Command{Type: SegmentsAnnouncement, Loading: []int64{4, 4}}, ErrMalformed},
		{"too many blocks", Command{Type: SegmentsAnnouncement, Loaded: blocks}, ErrLimit},
		{"listed id beyond 2^53", Command{Type: SegmentsAnnouncement, Loaded: []int64{-1 << 53}}, ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateCommandV3(tc.c)
			require.ErrorIs(t, err, tc.want)
			_, err = AppendPayloadV3(nil, tc.c)
			require.ErrorIs(t, err, tc.want)
		})
	}
	require.NoError(t, ValidateCommandV3(Command{Type: SegmentsAnnouncement, Loaded: blocks[:MaxBlocks]}))
	require.NoError(t, ValidateCommandV3(Command{Type: SegmentData, SegmentID: -3, RequestID: 0, Size: 1}))
}

func TestDecodePayloadV3Strict(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"unknown command", "06690105720101", ErrUnknownCommandV3},
		{"unknown command without fields", "ff", ErrUnknownCommandV3},
		{"request without r", "01690105", ErrMalformed},
		{"absent without i", "04720101", ErrMalformed},
		{"data without s", "02690105720101", ErrMalformed},
		{"8-byte integer", "0169080000000000000005720101", ErrMalformed},
		{"zero-length integer", "016900720101", ErrMalformed},
		{"unknown value type", "016930", ErrMalformed},
		{"field without value", "0169", ErrMalformed},
		{"full block truncated", "006c10010100" + strings.Repeat("00", 255), ErrMalformed},
		{"truncated string", "0061200a41", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePayloadV3(spacedHex(t, tc.hex))
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	// Any field order, unknown fields skipped, a 7-byte integer accepted.
	c, err := DecodePayloadV3(spacedHex(t, "02 7a0101 720109 6e20026869 730301e240 6907000000000000 05"))
	require.NoError(t, err)
	require.Equal(t, Command{Type: SegmentData, SegmentID: 5, RequestID: 9, Size: 123456}, c)
}

func FuzzDecodePayloadV3(f *testing.F) {
	v := loadCommandVectorsV3(f)
	for _, c := range v.Commands {
		b := spacedHex(f, c.Frame)
		f.Add(b[4 : len(b)-4])
	}
	f.Add([]byte{0, 'l', 0x10, 1, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := DecodePayloadV3(p)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		if ValidateCommandV3(c) != nil {
			return
		}
		// What decodes and validates re-encodes to what decodes the same.
		enc, err := AppendPayloadV3(nil, c)
		require.NoError(t, err)
		c2, err := DecodePayloadV3(enc)
		require.NoError(t, err)
		norm := func(c Command) Command {
			switch c.Type {
			case SegmentsAnnouncement:
				return Command{Type: c.Type, Loaded: sortedOrNil(c.Loaded), Loading: sortedOrNil(c.Loading)}
			case SegmentRequest:
				return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID, BytesFrom: c.BytesFrom}
			case SegmentData:
				return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID, Size: c.Size}
			}
			return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID}
		}
		require.Equal(t, norm(c), norm(c2))
	})
}
