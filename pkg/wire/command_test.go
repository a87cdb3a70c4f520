package wire

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// commandVectors mirrors testdata/v2/command-vectors.json, produced by the
// published p2p-media-loader-core 2.2.2 and 2.3.1 serializers.
type commandVectors struct {
	Commands []struct {
		Name    string    `json:"name"`
		Command jsCommand `json:"command"`
		Frames  []string  `json:"frames"`
		Decoded jsCommand `json:"decoded"`
	} `json:"commands"`
	Ints []struct {
		N     int64  `json:"n"`
		Hex   string `json:"hex"`
		Hex22 string `json:"hex22"`
	} `json:"ints"`
	Split struct {
		Command      jsCommand `json:"command"`
		MaxChunkSize int       `json:"maxChunkSize"`
		Frames       []string  `json:"frames"`
		Rejoined     jsCommand `json:"rejoined"`
	} `json:"split"`
	SegmentBodyChunks struct {
		Total      int   `json:"total"`
		MaxMessage int   `json:"maxMessage"`
		Sizes      []int `json:"sizes"`
	} `json:"segmentBodyChunks"`
	Classification []struct {
		Name           string `json:"name"`
		Hex            string `json:"hex"`
		IsCommandChunk bool   `json:"isCommandChunk"`
	} `json:"classification"`
}

// jsCommand is the JavaScript object form of a command.
type jsCommand struct {
	C int     `json:"c"`
	I *int64  `json:"i"`
	R *int64  `json:"r"`
	B *int64  `json:"b"`
	S *int64  `json:"s"`
	L []int64 `json:"l"`
	P []int64 `json:"p"`
}

func (j jsCommand) command() Command {
	c := Command{Type: CommandType(j.C), Loaded: j.L, Loading: j.P}
	for _, f := range []struct {
		src *int64
		dst *int64
	}{{j.I, &c.SegmentID}, {j.R, &c.RequestID}, {j.B, &c.BytesFrom}, {j.S, &c.Size}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if len(c.Loaded) == 0 {
		c.Loaded = nil
	}
	if len(c.Loading) == 0 {
		c.Loading = nil
	}
	return c
}

func loadCommandVectors(t *testing.T) commandVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/v2/command-vectors.json")
	require.NoError(t, err)
	var v commandVectors
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.Commands)
	return v
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestCommandVectors(t *testing.T) {
	v := loadCommandVectors(t)
	for _, tc := range v.Commands {
		t.Run(tc.Name, func(t *testing.T) {
			frames, err := EncodeCommand(tc.Command.command(), DefaultMaxMessageSize)
			require.NoError(t, err)
			require.Len(t, frames, len(tc.Frames))
			for i, f := range frames {
				require.Equal(t, tc.Frames[i], hex.EncodeToString(f), "frame %d", i)
			}

			var j Joiner
			var payload []byte
			for _, f := range tc.Frames {
				msg := mustHex(t, f)
				require.True(t, IsCommandFrame(msg))
				payload, err = j.Push(msg)
				require.NoError(t, err)
			}
			require.NotNil(t, payload)
			got, err := DecodePayload(payload)
			require.NoError(t, err)
			require.Equal(t, tc.Decoded.command(), got)
		})
	}
}

func TestIntVectors(t *testing.T) {
	v := loadCommandVectors(t)
	require.NotEmpty(t, v.Ints)
	for _, tc := range v.Ints {
		require.Equal(t, tc.Hex, tc.Hex22, "2.2 and 2.3 agree on %d", tc.N)
		require.Equal(t, tc.Hex, hex.EncodeToString(appendInt(nil, tc.N)), "encode %d", tc.N)
		got, n, err := decodeInt(mustHex(t, tc.Hex))
		require.NoError(t, err)
		require.Equal(t, tc.N, got)
		require.Equal(t, len(tc.Hex)/2, n)
	}
}

func TestIntRoundTripExtremes(t *testing.T) {
	for _, n := range []int64{math.MaxInt64, math.MinInt64 + 1, 1 << 53, -(1 << 53), 1<<32 - 1} {
		b := appendInt(nil, n)
		got, used, err := decodeInt(b)
		require.NoError(t, err, "%d", n)
		require.Equal(t, n, got)
		require.Equal(t, len(b), used)
	}
}

func TestSplitVector(t *testing.T) {
	v := loadCommandVectors(t)
	frames, err := EncodeCommand(v.Split.Command.command(), v.Split.MaxChunkSize)
	require.NoError(t, err)
	require.Len(t, frames, len(v.Split.Frames))
	var j Joiner
	var payload []byte
	for i, f := range frames {
		require.Equal(t, v.Split.Frames[i], hex.EncodeToString(f))
		require.LessOrEqual(t, len(f), v.Split.MaxChunkSize)
		payload, err = j.Push(f)
		require.NoError(t, err)
		if i < len(frames)-1 {
			require.Nil(t, payload)
		}
	}
	got, err := DecodePayload(payload)
	require.NoError(t, err)
	require.Equal(t, v.Split.Rejoined.command(), got)
}

func TestSegmentBodyChunks(t *testing.T) {
	v := loadCommandVectors(t).SegmentBodyChunks
	data := make([]byte, v.Total)
	var sizes []int
	for rest := data; len(rest) > 0; {
		n := NextChunkLen(rest, v.MaxMessage)
		sizes = append(sizes, n)
		rest = rest[n:]
	}
	require.Equal(t, v.Sizes, sizes)
}

func TestClassificationVectors(t *testing.T) {
	for _, tc := range loadCommandVectors(t).Classification {
		require.Equal(t, tc.IsCommandChunk, IsCommandFrame(mustHex(t, tc.Hex)), tc.Name)
	}
}

func TestNextChunkLenAvoidsCommandLookalikes(t *testing.T) {
	// Segment bytes that start with "dstr" and end, at the chunk boundary, with "cend".
	data := []byte("dstr" + "payload" + "cend" + "tail")
	n := NextChunkLen(data, 15)
	require.Equal(t, 14, n)
	require.False(t, IsCommandFrame(data[:n]))
	require.Equal(t, 4, NextChunkLen([]byte("abcd"), 15))
	require.Equal(t, 0, NextChunkLen(nil, 15))
}

func TestEncodeLimits(t *testing.T) {
	full := make([]int64, 256)
	for i := range full {
		full[i] = int64(i)
	}
	_, err := EncodeCommand(Command{Type: SegmentsAnnouncement, Loaded: full}, 0)
	require.ErrorIs(t, err, ErrLimit, "256 ids in one block would be written as count 0")
	_, err = EncodeCommand(Command{Type: SegmentsAnnouncement, Loaded: full[:255]}, 0)
	require.NoError(t, err)

	blocks := make([]int64, 256)
	for i := range blocks {
		blocks[i] = int64(i) * 256
	}
	_, err = EncodeCommand(Command{Type: SegmentsAnnouncement, Loading: blocks}, 0)
	require.ErrorIs(t, err, ErrLimit, "256 groups would wrap the group count")
	_, err = EncodeCommand(Command{Type: SegmentsAnnouncement, Loading: blocks[:255]}, 0)
	require.NoError(t, err)

	_, err = EncodeCommand(Command{Type: 9}, 0)
	require.ErrorIs(t, err, ErrLimit)
}

func TestLargeAnnouncementRoundTrip(t *testing.T) {
	// 255 blocks of 255 ids: the most a browser can decode, in several frames.
	var ids []int64
	for b := int64(0); b < MaxBlocks; b++ {
		for i := int64(0); i < MaxIDsPerBlock; i++ {
			ids = append(ids, b*256+i)
		}
	}
	frames, err := EncodeCommand(Command{Type: SegmentsAnnouncement, Loaded: ids}, DefaultMaxMessageSize)
	require.NoError(t, err)
	require.Greater(t, len(frames), 1)
	j := Joiner{Limit: 1 << 20}
	var payload []byte
	for _, f := range frames {
		require.LessOrEqual(t, len(f), DefaultMaxMessageSize)
		payload, err = j.Push(f)
		require.NoError(t, err)
	}
	c, err := DecodePayload(payload)
	require.NoError(t, err)
	require.Equal(t, ids, c.Loaded)
}

func TestJoinerErrors(t *testing.T) {
	frames, err := FramePayload(make([]byte, 100), 40)
	require.NoError(t, err)
	require.Len(t, frames, 4)

	t.Run("continuation without first frame", func(t *testing.T) {
		var j Joiner
		_, err := j.Push(frames[1])
		require.ErrorIs(t, err, ErrNoFirstFrame)
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("new command restarts a partial one", func(t *testing.T) {
		var j Joiner
		_, err := j.Push(frames[0])
		require.NoError(t, err)
		single, err := EncodeCommand(Command{Type: SegmentAbsent, SegmentID: 7, RequestID: 3}, 0)
		require.NoError(t, err)
		p, err := j.Push(single[0])
		require.NoError(t, err)
		c, err := DecodePayload(p)
		require.NoError(t, err)
		require.Equal(t, Command{Type: SegmentAbsent, SegmentID: 7, RequestID: 3}, c)
	})
	t.Run("limit", func(t *testing.T) {
		j := Joiner{Limit: 50}
		_, err := j.Push(frames[0])
		require.NoError(t, err)
		_, err = j.Push(frames[1])
		require.NoError(t, err)
		_, err = j.Push(frames[2])
		require.ErrorIs(t, err, ErrCommandTooLarge)
		_, err = j.Push(frames[3])
		require.ErrorIs(t, err, ErrNoFirstFrame, "the oversized command was dropped")
	})
	t.Run("not a frame", func(t *testing.T) {
		var j Joiner
		_, err := j.Push([]byte("raw segment bytes"))
		require.ErrorIs(t, err, ErrMalformed)
	})
}

func TestDecodeMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, hex string
	}{
		{"empty", ""},
		{"field without value", "0169"},
		{"truncated int", "01690301"},
		{"zero-length int", "016900"},
		{"unknown value type", "016930"},
		{"truncated id list", "006c1001010500"},
		{"id list header only", "006c10"},
		{"string overrun", "0061200a41"},
		{"int over 64 bits", "01690f7fffffffffffffffffffffffffffffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePayload(mustHex(t, tc.hex))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
		})
	}
}

func TestDecodeTolerance(t *testing.T) {
	// Unknown command code and unknown fields (an int "z" and a string "n") are
	// kept/skipped as the browser does.
	c, err := DecodePayload(mustHex(t, "09"+"7a0105"+"6e20026869"+"690107"))
	require.NoError(t, err)
	require.Equal(t, Command{Type: 9, SegmentID: 7}, c)
	// Non-minimal integer lengths are accepted.
	c, err = DecodePayload(mustHex(t, "01"+"6903000007"))
	require.NoError(t, err)
	require.Equal(t, int64(7), c.SegmentID)
}

func FuzzDecodeCommand(f *testing.F) {
	b, err := os.ReadFile("testdata/v2/command-vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var v commandVectors
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, c := range v.Commands {
		for _, fr := range c.Frames {
			raw, _ := hex.DecodeString(fr)
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		j := Joiner{Limit: 1 << 16}
		if !IsCommandFrame(msg) {
			return
		}
		payload, err := j.Push(msg)
		if err != nil || payload == nil {
			return
		}
		c, err := DecodePayload(payload)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes (within the limits) to something that
		// decodes to the same command.
		if c.Type > CancelSegmentRequest {
			return
		}
		enc, err := AppendPayload(nil, c)
		if err != nil {
			require.ErrorIs(t, err, ErrLimit)
			return
		}
		c2, err := DecodePayload(enc)
		require.NoError(t, err)
		normalize := func(c Command) Command {
			switch c.Type {
			case SegmentsAnnouncement:
				// Groups of one block may repeat on the wire; re-encoding
				// merges them, so compare the ids as sorted sets.
				return Command{Type: c.Type, Loaded: sortedOrNil(c.Loaded), Loading: sortedOrNil(c.Loading)}
			case SegmentRequest:
				if c.BytesFrom < 0 {
					c.BytesFrom = 0
				}
				return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID, BytesFrom: c.BytesFrom}
			case SegmentData:
				return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID, Size: c.Size}
			}
			return Command{Type: c.Type, SegmentID: c.SegmentID, RequestID: c.RequestID}
		}
		require.Equal(t, normalize(c), normalize(c2))
	})
}

func sortedOrNil(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	return slices.Sorted(slices.Values(ids))
}
