package udpbatch

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"
)

// gsoSupported reports whether the kernel knows UDP_SEGMENT.
func gsoSupported() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	_, err = unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// writeGSO sends b to the kernel as one datagram to be cut into segments of
// size bytes (the last may be shorter).
func (c *Conn) writeGSO(b []byte, size int, to netip.AddrPort) error {
	var oob [unix.SizeofCmsghdr + 8]byte // ≥ CmsgSpace(2)
	putCmsgHeader(oob[:], unix.IPPROTO_UDP, unix.UDP_SEGMENT, unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	_, _, err := c.UDPConn.WriteMsgUDPAddrPort(b, oob[:unix.CmsgSpace(2)], to)
	return err
}

// putCmsgHeader writes a struct cmsghdr (size_t len; int level; int type)
// at the start of b.
func putCmsgHeader(b []byte, level, typ, length int) {
	if unix.SizeofCmsghdr == 16 { // 64-bit size_t
		binary.NativeEndian.PutUint64(b, uint64(length))
		binary.NativeEndian.PutUint32(b[8:], uint32(level))
		binary.NativeEndian.PutUint32(b[12:], uint32(typ))
		return
	}
	binary.NativeEndian.PutUint32(b, uint32(length))
	binary.NativeEndian.PutUint32(b[4:], uint32(level))
	binary.NativeEndian.PutUint32(b[8:], uint32(typ))
}

// gsoUnsupported reports whether err means the path cannot offload
// segmentation at all (EIO: the device has no checksum offload).
func gsoUnsupported(err error) bool {
	return errors.Is(err, unix.EIO)
}
