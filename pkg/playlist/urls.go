package playlist

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// URL strings matter in two places:
//
//   - The swarm base is the manifest's XHR responseURL, a WHATWG URL
//     serialization, cut at '?' (p2p-media-loader-core Core.setManifestResponseUrl).
//     It is hashed into the info hash, so it must match the browser's byte for byte.
//   - Stream and segment runtime IDs are hls.js level/fragment URLs, which hls.js
//     builds with url-toolkit's buildAbsoluteURL(base, uri, {alwaysNormalize:
//     true}) against the response URL. They never leave the browser, but using
//     the same strings means two URIs that hls.js merges (or keeps apart) are
//     merged (or kept apart) here too, and Segment.Key equals P2PML's runtimeId.

// responseURL serializes u as a browser reports XHR responseURL for common
// URLs: scheme and ASCII host lowercased, IPv6 in canonical form, default port
// dropped, dot segments resolved ("%2e" counts as "."), an empty path becoming
// "/", WHATWG percent-encoding of the path and query, and no fragment.
//
// Not reproduced: IDNA (non-ASCII hosts are only lowercased), IPv4 shorthand
// hosts such as "0x7f.1", IPv4-mapped IPv6 serialization, and backslashes in
// special URLs.
func responseURL(u *url.URL) string {
	var sb strings.Builder
	scheme := strings.ToLower(u.Scheme)
	sb.WriteString(scheme)
	sb.WriteByte(':')
	if u.Opaque != "" {
		sb.WriteString(u.Opaque)
	} else {
		sb.WriteString("//")
		if u.User != nil {
			sb.WriteString(u.User.String())
			sb.WriteByte('@')
		}
		host := strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			if a, err := netip.ParseAddr(host); err == nil {
				host = a.String()
			}
			host = "[" + host + "]"
		}
		sb.WriteString(host)
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err == nil && n != defaultPort(scheme) {
				sb.WriteByte(':')
				sb.WriteString(strconv.Itoa(n))
			}
		}
		sb.WriteString(whatwgPath(originalPath(u)))
	}
	if u.RawQuery != "" || u.ForceQuery {
		sb.WriteByte('?')
		percentEncode(&sb, u.RawQuery, "\"#<>'")
	}
	return sb.String()
}

// swarmBase is what P2PML uses as the base swarm id: the response URL up to
// the first '?'.
func swarmBase(u *url.URL) string {
	s, _, _ := strings.Cut(responseURL(u), "?")
	return s
}

func defaultPort(scheme string) int {
	switch scheme {
	case "http", "ws":
		return 80
	case "https", "wss":
		return 443
	case "ftp":
		return 21
	}
	return -1
}

// originalPath returns u's path as it was written when u was parsed (Go keeps
// it in RawPath whenever its own escaping would differ), else EscapedPath.
func originalPath(u *url.URL) string {
	if u.RawPath != "" {
		if p, err := url.PathUnescape(u.RawPath); err == nil && p == u.Path {
			return u.RawPath
		}
	}
	return u.EscapedPath()
}

// whatwgPath resolves dot segments the way the WHATWG path state does and
// percent-encodes with the path percent-encode set.
func whatwgPath(p string) string {
	if p == "" {
		return "/"
	}
	p = strings.TrimPrefix(p, "/")
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case isDoubleDot(s):
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case isSingleDot(s):
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	var sb strings.Builder
	sb.WriteByte('/')
	percentEncode(&sb, strings.Join(out, "/"), "\"#<>?`{}")
	return sb.String()
}

func isSingleDot(s string) bool {
	return s == "." || strings.EqualFold(s, "%2e")
}

func isDoubleDot(s string) bool {
	switch strings.ToLower(s) {
	case "..", ".%2e", "%2e.", "%2e%2e":
		return true
	}
	return false
}

// percentEncode writes s, percent-encoding C0 controls, space, bytes above
// 0x7E and the bytes in extra. Existing %XX escapes are left alone, as WHATWG
// does.
func percentEncode(sb *strings.Builder, s, extra string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || strings.IndexByte(extra, c) >= 0 {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
}

// urlParts is url-toolkit's parseURL result; every part keeps its delimiter.
type urlParts struct {
	scheme, netLoc, path, params, query, fragment string
}

// parseURLParts ports url-toolkit's URL_REGEX (RFC 1808 split). The regex
// always matches, so neither does this fail.
func parseURLParts(s string) urlParts {
	var p urlParts
	i := 0
	for i < len(s) && isSchemeChar(s[i]) {
		i++
	}
	pos := 0
	if i > 0 && i < len(s) && s[i] == ':' {
		p.scheme = s[:i+1]
		pos = i + 1
	}
	if strings.HasPrefix(s[pos:], "//") {
		j := pos + 2
		for j < len(s) && s[j] != '/' && s[j] != '?' && s[j] != '#' {
			j++
		}
		p.netLoc = s[pos:j]
		pos = j
	}
	k := len(s)
	if q := strings.IndexAny(s[pos:], "?#"); q >= 0 {
		k = pos + q
	}
	// (?:[^?#/]*/)*[^;?#/]* : everything up to the last '/', then up to ';'.
	pathEnd := pos
	if slash := strings.LastIndexByte(s[pos:k], '/'); slash >= 0 {
		pathEnd = pos + slash + 1
	}
	if semi := strings.IndexByte(s[pathEnd:k], ';'); semi >= 0 {
		pathEnd += semi
	} else {
		pathEnd = k
	}
	p.path = s[pos:pathEnd]
	p.params = s[pathEnd:k]
	rest := s[k:]
	if strings.HasPrefix(rest, "?") {
		q, _, _ := strings.Cut(rest, "#")
		p.query = q
		rest = rest[len(q):]
	}
	p.fragment = rest
	return p
}

func isSchemeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

func (p urlParts) String() string {
	return p.scheme + p.netLoc + p.path + p.params + p.query + p.fragment
}

// maxDotDot bounds the ".." sequences in a URI. url-toolkit removes
// "<segment>/../" one nesting level per pass, so normalising costs a pass over
// the path per ".."; a playlist of URIs made of thousands of them would take
// minutes. Real URIs have a handful.
const maxDotDot = 32

// checkURI rejects URIs whose resolution would be too costly.
func checkURI(uri string) error {
	if strings.Count(uri, "..") > maxDotDot {
		return fmt.Errorf("%w: URI with more than %d \"..\"", ErrUnsupported, maxDotDot)
	}
	return nil
}

// resolveURL ports url-toolkit buildAbsoluteURL(base, rel, {alwaysNormalize:
// true}), which hls.js uses for every playlist and segment URI.
func resolveURL(base, rel string) string {
	base = jsTrim(base)
	rel = jsTrim(rel)
	if rel == "" {
		b := parseURLParts(base)
		b.path = normalizePath(b.path)
		return b.String()
	}
	r := parseURLParts(rel)
	if r.scheme != "" {
		r.path = normalizePath(r.path)
		return r.String()
	}
	b := parseURLParts(base)
	if b.netLoc == "" && b.path != "" && b.path[0] != '/' {
		// url-toolkit treats "example.com/a" as "//example.com/a".
		i := strings.IndexAny(b.path, "/?#")
		if i < 0 {
			i = len(b.path)
		}
		b.netLoc, b.path = b.path[:i], b.path[i:]
	}
	if b.netLoc != "" && b.path == "" {
		b.path = "/"
	}
	out := urlParts{scheme: b.scheme, netLoc: r.netLoc, params: r.params, query: r.query, fragment: r.fragment}
	pathSet := false
	if r.netLoc == "" {
		out.netLoc = b.netLoc
		if !strings.HasPrefix(r.path, "/") {
			if r.path == "" {
				out.path, pathSet = b.path, true
				if r.params == "" {
					out.params = b.params
					if r.query == "" {
						out.query = b.query
					}
				}
			} else {
				out.path = normalizePath(b.path[:strings.LastIndexByte(b.path, '/')+1] + r.path)
				pathSet = true
			}
		}
	}
	if !pathSet {
		out.path = normalizePath(r.path)
	}
	return out.String()
}

// normalizePath ports url-toolkit normalizePath: it reverses the path, strips
// "./" with SLASH_DOT_REGEX, repeatedly strips "<segment>/../" with
// SLASH_DOT_DOT_REGEX, and reverses back.
func normalizePath(p string) string {
	r := reverse(p)
	r = replaceSlashDot(r)
	for {
		n := replaceSlashDotDot(r)
		if len(n) == len(r) {
			break
		}
		r = n
	}
	return reverse(r)
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// replaceSlashDot is s.replace(/(?:\/|^)\.(?=\/)/g, "").
func replaceSlashDot(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '/' && strings.HasPrefix(s[i+1:], "./"):
			i += 2
		case i == 0 && strings.HasPrefix(s, "./"):
			i++
		default:
			sb.WriteByte(s[i])
			i++
		}
	}
	return sb.String()
}

// replaceSlashDotDot is s.replace(/(?:\/|^)\.\.\/(?!\.\.\/)[^\/]*(?=\/)/g, "").
func replaceSlashDotDot(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		if n := matchSlashDotDot(s, i); n > 0 {
			i += n
			continue
		}
		sb.WriteByte(s[i])
		i++
	}
	return sb.String()
}

func matchSlashDotDot(s string, i int) int {
	var p int
	switch {
	case s[i] == '/' && strings.HasPrefix(s[i+1:], "../"):
		p = i + 4
	case i == 0 && strings.HasPrefix(s, "../"):
		p = 3
	default:
		return 0
	}
	if strings.HasPrefix(s[p:], "../") {
		return 0
	}
	q := strings.IndexByte(s[p:], '/')
	if q < 0 {
		return 0
	}
	return p + q - i
}
