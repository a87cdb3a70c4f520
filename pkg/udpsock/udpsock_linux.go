package udpsock

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func setBuffers(c syscall.Conn, size int) (Info, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Info{}, err
	}
	var info Info
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct{ normal, force int }{
			{unix.SO_RCVBUF, unix.SO_RCVBUFFORCE},
			{unix.SO_SNDBUF, unix.SO_SNDBUFFORCE},
		} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o.normal, size); e != nil {
				serr = fmt.Errorf("set socket buffer: %w", e)
				return
			}
			// The kernel doubles what it grants; below the request, the
			// cap was hit. Past it only with CAP_NET_ADMIN: EPERM is the
			// usual answer and leaves the capped size.
			if got, e := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, o.normal); e == nil && got/2 < size {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o.force, size)
			}
		}
		info, serr = meminfo(fd)
	})
	if err != nil {
		return Info{}, err
	}
	return info, serr
}

func read(c syscall.Conn) (Info, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Info{}, err
	}
	var info Info
	var merr error
	if err := rc.Control(func(fd uintptr) { info, merr = meminfo(fd) }); err != nil {
		return Info{}, err
	}
	return info, merr
}

// meminfo reads SO_MEMINFO (Linux 4.7+ for the drop count).
func meminfo(fd uintptr) (Info, error) {
	var mi [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(mi))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mi[0])), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return Info{}, fmt.Errorf("read socket memory info: %w", errno)
	}
	info := Info{ReceiveBuffer: int(mi[unix.SK_MEMINFO_RCVBUF]) / 2, SendBuffer: int(mi[unix.SK_MEMINFO_SNDBUF]) / 2}
	if size > unix.SK_MEMINFO_DROPS*4 {
		info.Drops = uint64(mi[unix.SK_MEMINFO_DROPS])
	}
	return info, nil
}
