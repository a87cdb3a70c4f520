//go:build !linux

package udpbatch

import (
	"errors"
	"net/netip"
)

var errNoGSO = errors.New("udpbatch: no UDP segmentation offload on this OS")

func gsoSupported() bool { return false }

func (c *Conn) writeGSO([]byte, int, netip.AddrPort) error { return errNoGSO }

func gsoUnsupported(err error) bool { return errors.Is(err, errNoGSO) }
