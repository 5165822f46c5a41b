package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Forwarding headers a trusted proxy may set; see Config.ForwardedHeader.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// ipResolver finds the client address of a request: the peer address, or,
// when the peer is a trusted proxy, the first untrusted address in the
// forwarding header read from the right.
type ipResolver struct {
	trusted []netip.Prefix
	header  string // canonical header name; "" when no proxy is trusted
}

func newIPResolver(trusted []string, header string) (ipResolver, error) {
	var res ipResolver
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		var p netip.Prefix
		var err error
		if strings.Contains(t, "/") {
			p, err = netip.ParsePrefix(t)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(t)
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if err != nil {
			return res, fmt.Errorf("ratelimit: trusted proxy %q: want an address or CIDR prefix", t)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return res, fmt.Errorf("ratelimit: trusted proxy %q: an IPv4-mapped prefix must be /96 or longer", t)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		res.trusted = append(res.trusted, p.Masked())
	}
	switch http.CanonicalHeaderKey(header) {
	case "", HeaderXForwardedFor:
		header = HeaderXForwardedFor
	case HeaderForwarded:
		header = HeaderForwarded
	default:
		return res, fmt.Errorf("ratelimit: forwarded header %q: want %s or %s", header, HeaderXForwardedFor, HeaderForwarded)
	}
	if len(res.trusted) > 0 {
		res.header = header
	}
	return res, nil
}

func (res *ipResolver) isTrusted(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// resolve returns the client's address and, when text is not empty, the
// canonical text of it taken from the request without allocating. ok is
// false when the peer address cannot be parsed (a Unix socket, or a test
// that left RemoteAddr empty).
func (res *ipResolver) resolve(r *http.Request) (addr netip.Addr, text string, ok bool) {
	addr, text, ok = parseHostPort(r.RemoteAddr)
	if !ok || res.header == "" || !res.isTrusted(addr) {
		return addr, text, ok
	}
	values := r.Header[res.header]
	// Walk the hops from the right: the last value was appended by the
	// nearest proxy. Stop at the first hop that is not a trusted proxy; an
	// unparsable hop ends the walk at the proxy that reported it.
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var hop string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				hop, v = v, ""
			}
			a, t, ok := parseHop(res.header, strings.TrimSpace(hop))
			if !ok {
				return addr, text, true
			}
			addr, text = a, t
			if !res.isTrusted(a) {
				return addr, text, true
			}
		}
	}
	return addr, text, true
}

// parseHostPort parses a RemoteAddr ("192.0.2.1:1234", "[2001:db8::1]:80")
// or a bare address. text is non-empty when the host part is already the
// canonical text of a plain IPv4 address.
func parseHostPort(s string) (netip.Addr, string, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return canonical(ap.Addr(), s[:strings.LastIndexByte(s, ':')])
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return canonical(a, s)
	}
	return netip.Addr{}, "", false
}

// canonical strips a zone and unmaps an IPv4-mapped address. text, the
// address as written, is passed back for a plain IPv4 address, whose
// parsed form is always canonical.
func canonical(a netip.Addr, text string) (netip.Addr, string, bool) {
	if a.Is4() {
		return a, text, true
	}
	return a.WithZone("").Unmap(), "", true
}

// parseHop parses one hop of a forwarding header.
func parseHop(header, hop string) (netip.Addr, string, bool) {
	if header == HeaderForwarded {
		return parseForwardedFor(hop)
	}
	// X-Forwarded-For hops are bare addresses; some proxies add a port.
	return parseHostPort(hop)
}

// parseForwardedFor returns the address in the for= parameter of one
// RFC 7239 forwarded-element ("for=192.0.2.60;proto=http;by=203.0.113.43",
// `for="[2001:db8:cafe::17]:4711"`). An element without for=, or with an
// obfuscated identifier ("unknown", "_hidden"), is not an address.
func parseForwardedFor(element string) (netip.Addr, string, bool) {
	for element != "" {
		var pair string
		pair, element, _ = strings.Cut(element, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(name, "for") {
			continue
		}
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if strings.HasPrefix(value, "[") {
			if end := strings.IndexByte(value, ']'); end > 0 {
				if rest := value[end+1:]; rest != "" && !validPort(rest) {
					return netip.Addr{}, "", false
				}
				value = value[1:end]
			}
		} else if host, port, ok := strings.Cut(value, ":"); ok && !strings.Contains(port, ":") {
			if !validPort(":" + port) {
				return netip.Addr{}, "", false
			}
			value = host
		}
		a, err := netip.ParseAddr(value)
		if err != nil {
			return netip.Addr{}, "", false
		}
		return canonical(a, value)
	}
	return netip.Addr{}, "", false
}

// validPort accepts ":<digits>" and RFC 7239's obfuscated ":_port".
func validPort(s string) bool {
	if len(s) < 2 || s[0] != ':' {
		return false
	}
	if s[1] == '_' {
		return true
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ipKey is the IP key of a client: its IPv4 address, or its IPv6 /64
// prefix, which is what one subscriber typically holds. text, when not
// empty, is the address's canonical text already in the request.
func ipKey(a netip.Addr, text string) string {
	if a.Is4() {
		if text != "" {
			return text
		}
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
