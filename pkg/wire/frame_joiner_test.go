package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJoinerReleasesLargeBuffers: after a large command the Joiner does not
// keep its buffer for the next one, and Reset drops a partial command's.
func TestJoinerReleasesLargeBuffers(t *testing.T) {
	var j Joiner
	big, err := FramePayload(make([]byte, 200<<10), DefaultMaxMessageSize)
	require.NoError(t, err)
	for _, f := range big {
		_, err = j.Push(f)
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, cap(j.buf), 200<<10)
	small, err := FramePayload([]byte{1, 2, 3}, DefaultMaxMessageSize)
	require.NoError(t, err)
	p, err := j.Push(small[0])
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2, 3}, p)
	require.LessOrEqual(t, cap(j.buf), keepJoinBuffer, "large buffer dropped")

	_, err = j.Push(big[0])
	require.NoError(t, err)
	j.Reset()
	require.Nil(t, j.buf)
}
