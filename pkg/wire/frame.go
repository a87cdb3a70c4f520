package wire

import (
	"bytes"
	"fmt"
)

// DefaultMaxMessageSize is P2P Media Loader's webRtcMaxMessageSize: both
// sides cut every data-channel message (command frame or segment chunk) to at
// most this many bytes.
const DefaultMaxMessageSize = 64*1024 - 1

// Frame markers (binary-command-creator.ts).
var (
	frameStart    = []byte("cstr") // first frame of a command
	frameDivStart = []byte("dstr") // a continuation frame
	frameEnd      = []byte("cend") // last frame of a command
	frameDivEnd   = []byte("dend") // a frame that more frames follow
)

const markerLen = 4

// IsCommandFrame reports whether a data-channel message is a command frame
// rather than raw segment bytes, exactly as the browser's isCommandChunk
// decides: it starts with cstr or dstr and ends with cend or dend.
func IsCommandFrame(msg []byte) bool {
	if len(msg) < markerLen {
		return false
	}
	head, tail := msg[:markerLen], msg[len(msg)-markerLen:]
	return (bytes.Equal(head, frameStart) || bytes.Equal(head, frameDivStart)) &&
		(bytes.Equal(tail, frameEnd) || bytes.Equal(tail, frameDivEnd))
}

// EncodeCommand serializes c into the frames the browser would send for it
// with the given maximum message size (DefaultMaxMessageSize when <= 0): one
// cstr…cend frame when it fits, otherwise equal slices framed
// cstr…dend, dstr…dend, …, dstr…cend.
func EncodeCommand(c Command, maxMessage int) ([][]byte, error) {
	payload, err := AppendPayload(nil, c)
	if err != nil {
		return nil, err
	}
	return FramePayload(payload, maxMessage)
}

// FramePayload splits an encoded payload into frames the way
// BinaryCommandCreator.complete does.
func FramePayload(payload []byte, maxMessage int) ([][]byte, error) {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	if maxMessage <= 2*markerLen {
		return nil, fmt.Errorf("%w: max message size %d leaves no room for a payload", ErrLimit, maxMessage)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrLimit)
	}
	if len(payload)+2*markerLen <= maxMessage {
		return [][]byte{frame(frameStart, payload, frameEnd)}, nil
	}
	// Same arithmetic as upstream: the number of slices is the payload over
	// the maximum, plus one if the marker overhead then makes a slice too big.
	count := ceilDiv(len(payload), maxMessage)
	if ceilDiv(len(payload), count)+2*markerLen > maxMessage {
		count++
	}
	size := ceilDiv(len(payload), count)
	frames := make([][]byte, 0, count)
	for i := 0; i < count; i++ {
		lo, hi := min(i*size, len(payload)), min((i+1)*size, len(payload))
		start, end := frameDivStart, frameDivEnd
		if i == 0 {
			start = frameStart
		}
		if i == count-1 {
			end = frameEnd
		}
		frames = append(frames, frame(start, payload[lo:hi], end))
	}
	return frames, nil
}

func frame(start, payload, end []byte) []byte {
	b := make([]byte, 0, len(start)+len(payload)+len(end))
	b = append(b, start...)
	b = append(b, payload...)
	return append(b, end...)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Errors a Joiner reports; both wrap ErrMalformed.
var (
	// ErrNoFirstFrame is a continuation frame (dstr…) with no command being joined.
	ErrNoFirstFrame = fmt.Errorf("%w: continuation frame without a first frame", ErrMalformed)
	// ErrCommandTooLarge is a multi-frame command longer than the Joiner's limit.
	ErrCommandTooLarge = fmt.Errorf("%w: command exceeds size limit", ErrMalformed)
)

// Joiner reassembles command frames into payloads. It is the receive side of
// FramePayload and holds at most Limit payload bytes, so a peer cannot make
// it grow without bound. The zero value is ready to use with no limit; set
// Limit for network input.
//
// It is more forgiving than the browser in one case: a cstr frame that
// arrives while another command is being joined drops the partial command
// and starts the new one, where the browser drops both.
type Joiner struct {
	// Limit caps the joined payload size in bytes; 0 means no limit.
	Limit   int
	buf     []byte
	joining bool
}

// Push adds one command frame (IsCommandFrame must hold). It returns the
// complete payload once the final frame arrives, or nil while more frames
// are expected. After an error the Joiner is reset and ready for the next
// command. The returned payload is valid until the next call to Push.
func (j *Joiner) Push(msg []byte) ([]byte, error) {
	if !IsCommandFrame(msg) {
		return nil, fmt.Errorf("%w: not a command frame", ErrMalformed)
	}
	first := bytes.HasPrefix(msg, frameStart)
	if first {
		if cap(j.buf) > keepJoinBuffer {
			j.buf = nil // one large command must not pin its buffer for the connection's life
		}
		j.buf, j.joining = j.buf[:0], true
	} else if !j.joining {
		return nil, ErrNoFirstFrame
	}
	body := msg[markerLen : len(msg)-markerLen]
	if j.Limit > 0 && len(j.buf)+len(body) > j.Limit {
		j.Reset()
		return nil, fmt.Errorf("%w: more than %d bytes", ErrCommandTooLarge, j.Limit)
	}
	j.buf = append(j.buf, body...)
	if !bytes.HasSuffix(msg, frameEnd) {
		return nil, nil
	}
	j.joining = false
	return j.buf, nil
}

// Reset drops any partially joined command.
func (j *Joiner) Reset() {
	j.buf, j.joining = nil, false
}

// keepJoinBuffer is the largest buffer a Joiner keeps between commands.
const keepJoinBuffer = 16 << 10

// NextChunkLen returns how many bytes of data to send in the next raw
// segment-data message, at most maxMessage (DefaultMaxMessageSize when <= 0).
// A chunk that happens to start with cstr/dstr and end with cend/dend would be
// taken by the browser for a command frame and lost, so such a chunk is
// shortened by one byte; the byte goes out at the start of the next chunk.
func NextChunkLen(data []byte, maxMessage int) int {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	n := min(len(data), maxMessage)
	if n > 1 && IsCommandFrame(data[:n]) {
		n--
	}
	return n
}
