// Package udpsock reads and sets the kernel's side of a UDP socket: its
// buffer sizes and the datagrams it dropped because its receive buffer was
// full.
//
// A socket that every browser shares (webrtc.udp_port) receives all of
// their acknowledgements and requests. The kernel's default receive buffer
// (about 208 KiB on Linux) holds a few hundred of them, so a reader that
// falls a millisecond behind loses datagrams, and SCTP then waits for a
// retransmission timeout: a stalled download. Operators see that here first.
package udpsock

import (
	"errors"
	"syscall"
)

// Info is a socket's kernel state.
type Info struct {
	// ReceiveBuffer and SendBuffer are the buffer sizes in force, in bytes
	// of payload (half of what the kernel reserves for bookkeeping).
	ReceiveBuffer, SendBuffer int
	// Drops counts datagrams that arrived to a full receive buffer.
	Drops uint64
}

// ErrUnsupported is returned where the platform cannot report socket state.
var ErrUnsupported = errors.New("udpsock: not supported on this platform")

// SetBuffers asks for receive and send buffers of size bytes each. The
// kernel caps the request at net.core.rmem_max and wmem_max; a process with
// CAP_NET_ADMIN may go past them, and SetBuffers tries that next. It
// returns the sizes in force, which may be smaller than asked for.
func SetBuffers(c syscall.Conn, size int) (Info, error) {
	return setBuffers(c, size)
}

// Read returns c's kernel state.
func Read(c syscall.Conn) (Info, error) {
	return read(c)
}
