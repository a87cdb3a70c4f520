package playlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Reasons a request is refused, the "reason" label of
// superpeer_origin_refused_total.
const (
	// RefusedScheme: the URL is not http or https.
	RefusedScheme = "scheme"
	// RefusedOtherOrigin: the URL's origin is neither the stream's own nor
	// a listed one.
	RefusedOtherOrigin = "other_origin"
	// RefusedPrivate: the address is loopback, private, link-local, shared
	// (CGNAT), unspecified or multicast, and not written as a literal in the
	// configuration.
	RefusedPrivate = "private_address"
	// RefusedMetadata: the address is a cloud metadata service's.
	RefusedMetadata = "metadata_address"
)

// maxRedirects is the redirect limit, net/http's default.
const maxRedirects = 10

// PolicyConfig configures a Policy.
type PolicyConfig struct {
	// URL is the stream's configured manifest URL; its origin is allowed.
	URL string
	// AllowedOrigins are further origins ("https://cdn.example.com") that
	// playlists and redirects may point to.
	AllowedOrigins []string
	// AllowPrivate lets the allowed host names resolve to loopback, private,
	// link-local and shared addresses (an origin on an internal name). Cloud
	// metadata addresses stay refused unless written as a literal.
	AllowPrivate bool
}

// Policy confines the requests made for one stream. A playlist is hostile
// input: whatever URL it or a redirect names is fetched by superpeer and its
// body served to every browser in the swarm. So:
//
//   - A URL must have the stream's own origin (scheme, host and port of its
//     configured URL) or a listed one; anything else is refused before any
//     connection is made. This is checked for the first request and for
//     every redirect hop.
//   - When a connection is made, the address actually dialled is checked
//     (so DNS rebinding cannot move an allowed name onto an internal
//     address). An origin whose host is written as an IP literal is trusted
//     at that address, whatever it is: the operator chose it. An origin
//     given by name must resolve to public addresses, unless AllowPrivate is
//     set; even then a cloud metadata address is refused.
//
// A Policy is immutable and safe for concurrent use.
type Policy struct {
	origins      map[Origin]bool
	hosts        map[string]bool // hosts of origins given by name
	literals     map[netip.Addr]bool
	allowPrivate bool
}

// NewPolicy returns the policy of cfg. It fails when cfg.URL or an allowed
// origin is not an absolute http(s) URL, or an allowed origin has a path.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("fetch policy: %w", err)
	}
	own, err := originOf(u)
	if err != nil {
		return nil, fmt.Errorf("fetch policy: stream url: %w", err)
	}
	p := &Policy{
		origins:      map[Origin]bool{},
		hosts:        map[string]bool{},
		literals:     map[netip.Addr]bool{},
		allowPrivate: cfg.AllowPrivate,
	}
	p.add(own)
	for _, s := range cfg.AllowedOrigins {
		o, err := ParseOrigin(s)
		if err != nil {
			return nil, fmt.Errorf("fetch policy: %w", err)
		}
		p.add(o)
	}
	return p, nil
}

func (p *Policy) add(o Origin) {
	p.origins[o] = true
	if ip, err := netip.ParseAddr(o.Host); err == nil {
		p.literals[ip] = true
	} else {
		p.hosts[o.Host] = true
	}
}

// CheckURL returns a *RefusedError when the policy does not allow a request
// to u. It does no I/O.
func (p *Policy) CheckURL(u *url.URL) error {
	o, err := originOf(u)
	if err != nil {
		return &RefusedError{Host: u.Host, Reason: RefusedScheme}
	}
	if p.origins[o] {
		return nil
	}
	reason := RefusedOtherOrigin
	if ip, err := netip.ParseAddr(o.Host); err == nil {
		if r := addressClass(ip); r != "" {
			reason = r
		}
	}
	return &RefusedError{Host: u.Host, Reason: reason}
}

// checkDial returns a *RefusedError when the policy does not allow a
// connection to ip for host, the host name or literal of the URL.
func (p *Policy) checkDial(host string, ip netip.Addr) error {
	host = normalHost(host)
	ip = ip.WithZone("").Unmap()
	if lit, err := netip.ParseAddr(host); err == nil {
		if p.literals[lit.WithZone("").Unmap()] && lit.WithZone("").Unmap() == ip {
			return nil
		}
		return &RefusedError{Host: host, Reason: RefusedOtherOrigin}
	}
	if !p.hosts[host] {
		return &RefusedError{Host: host, Reason: RefusedOtherOrigin}
	}
	switch addressClass(ip) {
	case RefusedMetadata:
		return &RefusedError{Host: host + " (" + ip.String() + ")", Reason: RefusedMetadata}
	case RefusedPrivate:
		if !p.allowPrivate {
			return &RefusedError{Host: host + " (" + ip.String() + ")", Reason: RefusedPrivate}
		}
	}
	return nil
}

// Transport returns a clone of base (nil means http.DefaultTransport) whose
// connections are checked by the policy at dial time, on the address
// actually connected to. Proxies are not used: a proxy resolves names
// itself, out of reach of the check.
func (p *Policy) Transport(base *http.Transport) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	t.Proxy = nil
	t.OnProxyConnectResponse = nil
	t.Dial, t.DialTLS, t.DialTLSContext = nil, nil, nil
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		d := net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
			// Called for every address tried, after resolution: a name
			// that resolves to several addresses gets the allowed ones.
			ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("dial %s: %w", address, err)
				}
				return p.checkDial(host, ap.Addr())
			},
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// Client returns an HTTP client over rt that checks every request, and every
// redirect hop before it is followed, against the policy (up to 10 hops).
// Give it a Transport of this policy, so connections are checked as well.
func (p *Policy) Client(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: checkedTransport{p: p, rt: rt},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if err := p.CheckURL(req.URL); err != nil {
				return err
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
}

// checkedTransport refuses requests the policy does not allow before they
// reach the network.
type checkedTransport struct {
	p  *Policy
	rt http.RoundTripper
}

func (c checkedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := c.p.CheckURL(r.URL); err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	return c.rt.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the wrapped transport.
func (c checkedTransport) CloseIdleConnections() {
	if ci, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

var _ error = (*RefusedError)(nil)

// RefusedError reports a request or connection the fetch policy refused. It
// matches ErrRefused with errors.Is.
type RefusedError struct {
	// Host is the URL's host[:port], with the address when one was
	// dialled; never the path or query, which may carry tokens.
	Host string
	// Reason is one of the Refused* constants.
	Reason string
}

// Error implements error.
func (e *RefusedError) Error() string {
	return ErrRefused.Error() + ": " + e.Reason + ": " + e.Host
}

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// refusal returns the RefusedError in err's chain, or nil.
func refusal(err error) *RefusedError {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// Origin is a URL's scheme, host and port, normalised: lower-case scheme and
// host, no trailing dot, IPv6 literals in canonical form without brackets,
// and the port always written (80 for http, 443 for https).
type Origin struct {
	Scheme, Host, Port string
}

// String formats the origin as scheme://host:port.
func (o Origin) String() string {
	return o.Scheme + "://" + net.JoinHostPort(o.Host, o.Port)
}

// ParseOrigin parses an origin as an operator writes it: an absolute
// http(s) URL with a host and at most a port, and no user, path, query or
// fragment ("https://cdn.example.com", "http://10.0.0.5:8080").
func ParseOrigin(s string) (Origin, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Origin{}, fmt.Errorf("%q is not an origin: %w", s, err)
	}
	o, err := originOf(u)
	if err != nil {
		return Origin{}, fmt.Errorf("%q is not an origin: %w", s, err)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return Origin{}, fmt.Errorf("%q is not an origin: want scheme://host[:port] without path, query or fragment", s)
	}
	return o, nil
}

// originOf returns the origin of an absolute http(s) URL.
func originOf(u *url.URL) (Origin, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" || u.Host == "" {
		return Origin{}, errors.New("want an absolute http(s) url such as https://cdn.example.com")
	}
	if scheme != "http" && scheme != "https" {
		return Origin{}, fmt.Errorf("want an http or https url, got scheme %q", u.Scheme)
	}
	host := normalHost(u.Hostname())
	if host == "" {
		return Origin{}, errors.New("want an absolute http(s) url such as https://cdn.example.com")
	}
	port := u.Port()
	switch {
	case port == "" && scheme == "http":
		port = "80"
	case port == "" && scheme == "https":
		port = "443"
	}
	return Origin{Scheme: scheme, Host: host, Port: port}, nil
}

// normalHost lower-cases a host name and drops a trailing dot; an IP
// literal is written canonically.
func normalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// Metadata services of cloud providers: AWS, GCP, Azure, OpenStack and
// others at 169.254.169.254 (and AWS's IPv6 fd00:ec2::254), AWS ECS task
// metadata at 169.254.170.2, Alibaba Cloud at 100.100.100.200.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("169.254.170.2"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
}

var (
	sharedPrefix   = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 carrier-grade NAT
	thisNetPrefix  = netip.MustParsePrefix("0.0.0.0/8")
	nat64Prefix    = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, embeds an IPv4 address
	benchmarkRange = netip.MustParsePrefix("198.18.0.0/15")
)

// addressClass returns RefusedMetadata for a metadata service address,
// RefusedPrivate for any other address that is not public, and "" for a
// public one.
func addressClass(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if nat64Prefix.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case metadataAddrs[ip]:
		return RefusedMetadata
	case !ip.IsValid(), ip.IsLoopback(), ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified(),
		sharedPrefix.Contains(ip), thisNetPrefix.Contains(ip), benchmarkRange.Contains(ip):
		return RefusedPrivate
	}
	return ""
}
