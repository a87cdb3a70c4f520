//go:build !linux

package udpsock

import "syscall"

func setBuffers(syscall.Conn, int) (Info, error) { return Info{}, ErrUnsupported }

func read(syscall.Conn) (Info, error) { return Info{}, ErrUnsupported }
