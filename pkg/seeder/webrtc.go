package seeder

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/superpeer/superpeer/pkg/udpbatch"
	"github.com/superpeer/superpeer/pkg/udpsock"
)

// newWebRTC builds the process's one pion API from the configuration. The
// returned closer releases the shared UDP socket, if one was configured,
// and the UDP batch sender. udp, if not nil, is given the batch sender to
// export its counters. nom, if not nil, makes every connection follow the
// browser's latest nomination.
func newWebRTC(cfg WebRTCConfig, log zerolog.Logger, tcpRejected prometheus.Counter, udp *udpCollector, nom *nominations) (*webrtc.API, webrtc.Configuration, io.Closer, error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = &pionLogger{log: log}
	// One view of the host's interfaces for every connection. pion
	// otherwise builds a stdnet.Net per PeerConnection, each reading the
	// interface table over netlink at setup and keeping its own copy (~6
	// KiB per connection) for the connection's life. Interfaces that
	// change after start are not offered; superpeer runs on a server.
	hostNet, err := stdnet.NewNet()
	if err != nil {
		return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc: list network interfaces: %w", err)
	}
	var (
		closer io.Closer     = nopCloser{}
		netUDP transport.Net = hostNet
	)
	if cfg.SendBatching {
		// Every UDP socket pion opens (one per connection, or the shared
		// udp_port) queues its datagrams for a few sender goroutines, which
		// hand runs of them to the kernel in one sendmsg each (GSO). On a
		// 2-core node one sender does best: it is never the bottleneck, and
		// the longer it is busy the more each batch carries.
		sender := udpbatch.NewSender(udpbatch.Options{
			Workers:    (runtime.GOMAXPROCS(0) + 3) / 4,
			QueueBytes: int(cfg.SendQueue),
		})
		if udp != nil {
			udp.set(sender, int64(cfg.SendQueue))
		}
		closer = sender
		netUDP = &batchNet{Net: hostNet, sender: sender}
	}
	se.SetNet(netUDP)
	// Detached channels give the peer goroutine a plain reader and writer.
	se.DetachDataChannels()
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// No mDNS: browsers' ".local" host candidates resolve only on their own
	// LAN, which superpeer does not share; they reach superpeer through its
	// host or server-reflexive candidates (and are learned as peer-reflexive).
	// pion otherwise opens multicast sockets and a goroutine per connection.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Failed after 20 s without a packet from the selected pair's remote
	// candidate (disconnected at 5 s, failed 15 s later) instead of pion's
	// 30 s: a browser that is gone frees its slot sooner. No keepalive
	// checks of superpeer's own: browsers check their selected pair (every
	// 2.5 s from Chromium, measured; RFC 7675 asks for about every 5 s),
	// and with nominations followed that is the pair pion watches, whichever
	// side offered (test/interop TestSuperpeerOfferToChromium). pion's keepalive goes out on
	// every tick whatever else arrives; at 4 s it cost 0.06-0.09 cores per
	// 1,000 idle browsers (docs/performance.md).
	se.SetICETimeouts(5*time.Second, 15*time.Second, 0)
	if nom != nil {
		se.SetICEBindingRequestHandler(nom.handle)
	}
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort > 0 {
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	var keepIface func(string) bool
	if len(cfg.Interfaces) > 0 {
		keepIface = func(name string) bool { return slices.Contains(cfg.Interfaces, name) }
		se.SetInterfaceFilter(keepIface)
	}
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc public_ips: %w", err)
		}
	}
	if cfg.UDPPort > 0 {
		muxNet := netUDP
		if cfg.UDPPortBuffer > 0 {
			// Every browser's acknowledgements and requests arrive at this
			// one socket: the kernel's default buffer (~208 KiB) overflows
			// whenever its reader is a moment late, and each datagram lost
			// there is an SCTP retransmission timeout for some browser.
			muxNet = &bufferNet{Net: netUDP, size: int(cfg.UDPPortBuffer), log: log, report: udp}
		}
		opts := []ice.UDPMuxFromPortOption{
			ice.UDPMuxFromPortWithLogger(se.LoggerFactory.NewLogger("udpmux")),
			ice.UDPMuxFromPortWithNet(muxNet),
		}
		if cfg.IncludeLoopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		if keepIface != nil {
			opts = append(opts, ice.UDPMuxFromPortWithInterfaceFilter(keepIface))
		}
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
		if err != nil {
			_ = closer.Close()
			return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc udp_port %d: %w", cfg.UDPPort, err)
		}
		se.SetICEUDPMux(mux)
		// The mux first: its sockets are the sender's.
		closer = multiCloser{mux, closer}
	}
	if cfg.TCPPort > 0 {
		// ICE-TCP, passive: browsers connect to this one port (RFC 6544),
		// for networks that block UDP. pion's TCP mux shares it.
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{Port: cfg.TCPPort})
		if err != nil {
			_ = closer.Close()
			return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc tcp_port %d: %w", cfg.TCPPort, err)
		}
		// Bounded per address: pion holds a connection that sends nothing
		// for 30 s waiting for its first STUN request.
		limited := &perIPListener{Listener: ln, max: cfg.TCPMaxPerIP, rejected: tcpRejected, open: map[netip.Addr]int{},
			warn: log.With().Str("component", "ice_tcp").Logger().Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})}
		tcp := webrtc.NewICETCPMux(se.LoggerFactory.NewLogger("tcpmux"), limited, 8)
		se.SetICETCPMux(tcp)
		closer = multiCloser{closer, tcp}
	}
	// One certificate for every connection: browsers check the fingerprint
	// in the SDP, not a chain, so a per-connection key (pion's default: an
	// ECDSA key generated for each PeerConnection) only costs CPU at setup
	// and memory while connected.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		_ = closer.Close()
		return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc certificate key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		_ = closer.Close()
		return nil, webrtc.Configuration{}, nil, fmt.Errorf("webrtc certificate: %w", err)
	}
	pcc := webrtc.Configuration{Certificates: []webrtc.Certificate{*cert}}
	for _, srv := range cfg.ICEServers {
		is := webrtc.ICEServer{URLs: srv.URLs, Username: srv.Username}
		if srv.Credential != "" {
			is.Credential, is.CredentialType = srv.Credential, webrtc.ICECredentialTypePassword
		}
		pcc.ICEServers = append(pcc.ICEServers, is)
	}
	// Data channels only: no RTP, so none of pion's default interceptors
	// (NACK, RTCP reports, TWCC), each of which runs a goroutine and a
	// ticker per connection, and no codecs: pion copies the media engine's
	// codec list into every connection (2.5 KiB each with its defaults).
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&webrtc.MediaEngine{}),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	return api, pcc, closer, nil
}

// batchNet is the host's network with UDP sockets whose writes go through
// a udpbatch.Sender.
type batchNet struct {
	*stdnet.Net
	sender *udpbatch.Sender
}

// ListenUDP opens a UDP socket whose writes are batched.
func (n *batchNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return n.sender.Wrap(c), nil
}

// ListenPacket opens a UDP socket whose writes are batched; other networks
// are the host's.
func (n *batchNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return listenPacket(n.Net, n.ListenUDP, network, address)
}

// listenPacket opens UDP sockets with listenUDP and other networks with
// inner.
func listenPacket(inner transport.Net, listenUDP func(string, *net.UDPAddr) (transport.UDPConn, error), network, address string) (net.PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6":
		laddr, err := net.ResolveUDPAddr(network, address)
		if err != nil {
			return nil, err
		}
		return listenUDP(network, laddr)
	}
	return inner.ListenPacket(network, address)
}

// bufferNet opens UDP sockets with kernel buffers of size bytes, and says
// so when the host allows less.
type bufferNet struct {
	transport.Net
	size   int
	log    zerolog.Logger
	report *udpCollector // may be nil
	warn   sync.Once
}

// ListenUDP opens a socket and sizes its buffers.
func (n *bufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c, nil
	}
	info, err := udpsock.SetBuffers(sc, n.size)
	switch {
	case errors.Is(err, udpsock.ErrUnsupported):
		return c, nil
	case err != nil:
		_ = c.Close()
		return nil, fmt.Errorf("size the buffers of UDP %s: %w", laddr, err)
	}
	if n.report != nil {
		n.report.setBuffers(info)
	}
	if info.ReceiveBuffer < n.size || info.SendBuffer < n.size {
		n.warn.Do(func() {
			n.log.Warn().Str("addr", c.LocalAddr().String()).Int("udp_port_buffer", n.size).
				Int("receive_buffer", info.ReceiveBuffer).Int("send_buffer", info.SendBuffer).
				Msg("the host caps the udp_port socket's buffers below webrtc.udp_port_buffer; " +
					"raise net.core.rmem_max and net.core.wmem_max (docs/operations.md)")
		})
	}
	return c, nil
}

// ListenPacket opens a UDP socket with sized buffers; other networks are
// the wrapped Net's.
func (n *bufferNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return listenPacket(n.Net, n.ListenUDP, network, address)
}

// perIPListener closes, as they are accepted, TCP connections from an
// address that already holds max of them open, so that one source cannot
// take the descriptors every browser needs.
type perIPListener struct {
	net.Listener
	max      int
	rejected prometheus.Counter
	warn     zerolog.Logger

	mu   sync.Mutex
	open map[netip.Addr]int
}

// Accept returns the next connection within the limit.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var src netip.Addr
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			src = ap.Addr().Unmap()
		}
		l.mu.Lock()
		full := l.open[src] >= l.max
		if !full {
			l.open[src]++
		}
		l.mu.Unlock()
		if full {
			// Counted before the close so that whoever sees the close also sees the count.
			l.rejected.Inc()
			_ = c.Close()
			l.warn.Warn().Str("source", src.String()).Int("limit", l.max).Msg("ICE-TCP connection closed at accept: too many from one address")
			continue
		}
		return &perIPConn{Conn: c, l: l, src: src}, nil
	}
}

// perIPConn is counted against its address until closed.
type perIPConn struct {
	net.Conn
	l    *perIPListener
	src  netip.Addr
	once sync.Once
}

// Close closes the connection and gives its address the slot back.
func (c *perIPConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.src]--; c.l.open[c.src] <= 0 {
			delete(c.l.open, c.src)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// multiCloser closes each of its closers.
type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// pionLogger bridges pion's leveled loggers into zerolog, as
// component=pion.<scope>. pion's warnings describe one connection in its
// normal course (an offer not yet answered, a browser gone) and become
// debug; its errors become sampled warnings. Below warn pion is too chatty
// to pass at all.
//
// pion asks for a dozen loggers per PeerConnection; each scope gets one
// logger for the whole process, so connections share it (and its sampler,
// which then bounds a scope's log rate for the process, not per peer).
type pionLogger struct {
	log    zerolog.Logger
	mu     sync.Mutex
	scopes map[string]logging.LeveledLogger
}

// NewLogger returns the logger of one pion scope (ice, dtls, sctp…).
func (f *pionLogger) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.scopes[scope]; ok {
		return l
	}
	l := pionScope{log: f.log.With().Str("component", "pion."+scope).Logger().
		Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Minute})}
	if f.scopes == nil {
		f.scopes = map[string]logging.LeveledLogger{}
	}
	f.scopes[scope] = l
	return l
}

type pionScope struct{ log zerolog.Logger }

func (p pionScope) Trace(string)                   {}
func (p pionScope) Tracef(string, ...any)          {}
func (p pionScope) Debug(string)                   {}
func (p pionScope) Debugf(string, ...any)          {}
func (p pionScope) Info(string)                    {}
func (p pionScope) Infof(string, ...any)           {}
func (p pionScope) Warn(msg string)                { p.log.Debug().Msg(msg) }
func (p pionScope) Warnf(format string, a ...any)  { p.log.Debug().Msg(fmt.Sprintf(format, a...)) }
func (p pionScope) Error(msg string)               { p.log.Warn().Msg(msg) }
func (p pionScope) Errorf(format string, a ...any) { p.log.Warn().Msg(fmt.Sprintf(format, a...)) }
