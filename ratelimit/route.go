package ratelimit

import (
	"fmt"
	"net/http"
	"path"
	"strings"
)

// routeSet matches requests against ServeMux-style patterns without
// allocating. It answers only "does any pattern match": a policy either
// covers a request or does not, so there is no precedence to resolve. The
// patterns are compiled into a trie of path segments, so a match costs one
// walk of the path however many patterns there are.
type routeSet struct {
	root *routeNode // nil: no patterns
}

// routeNode is the trie node reached after some path segments.
type routeNode struct {
	lits   []routeEdge // literal next segments
	wild   *routeNode  // a {name} next segment
	exact  methodSet   // patterns ending here
	prefix methodSet   // patterns ending here in "/" or "/{name...}"
	slash  methodSet   // patterns ending here in "/{$}"
}

type routeEdge struct {
	seg  string
	node *routeNode
}

// methodSet is the methods of the patterns ending at a node.
type methodSet struct {
	any     bool
	methods []string
}

func (m *methodSet) add(method string) {
	if method == "" {
		m.any = true
		return
	}
	m.methods = append(m.methods, method)
	if method == http.MethodGet {
		m.methods = append(m.methods, http.MethodHead) // as ServeMux does
	}
}

func (m *methodSet) has(method string) bool {
	if m.any {
		return true
	}
	for _, x := range m.methods {
		if x == method {
			return true
		}
	}
	return false
}

// route is one parsed pattern: "[METHOD ]/seg/{name}/seg[/{rest...}|/|/{$}]".
type route struct {
	method string    // "" matches every method
	segs   []segment // the path's segments after the leading slash
	tail   tailKind
}

type segment struct {
	lit  string
	wild bool // {name}: any one non-empty segment
}

type tailKind uint8

const (
	tailExact  tailKind = iota // the path ends after the last segment
	tailPrefix                 // a trailing "/" or "{name...}": the path continues with "/"
	tailSlash                  // a trailing "/{$}": the path ends in exactly one more "/"
)

// parseRoutes compiles patterns in the syntax of net/http.ServeMux, without
// host patterns: "GET /keys", "PUT /key/{id}", "/admin/", "/files/{path...}".
func parseRoutes(patterns []string) (routeSet, error) {
	var rs routeSet
	for _, p := range patterns {
		r, err := parseRoute(p)
		if err != nil {
			return routeSet{}, err
		}
		if rs.root == nil {
			rs.root = &routeNode{}
		}
		rs.root.insert(r)
	}
	return rs, nil
}

func (n *routeNode) insert(r route) {
	for _, s := range r.segs {
		n = n.child(s)
	}
	switch r.tail {
	case tailPrefix:
		n.prefix.add(r.method)
	case tailSlash:
		n.slash.add(r.method)
	default:
		n.exact.add(r.method)
	}
}

func (n *routeNode) child(s segment) *routeNode {
	if s.wild {
		if n.wild == nil {
			n.wild = &routeNode{}
		}
		return n.wild
	}
	for _, e := range n.lits {
		if e.seg == s.lit {
			return e.node
		}
	}
	c := &routeNode{}
	n.lits = append(n.lits, routeEdge{s.lit, c})
	return c
}

func parseRoute(pattern string) (route, error) {
	fail := func(why string) (route, error) {
		return route{}, fmt.Errorf("ratelimit: route %q: %s", pattern, why)
	}
	var r route
	p := pattern
	if method, rest, ok := strings.Cut(p, " "); ok {
		if method == "" || strings.TrimLeft(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return fail("the method must be an upper-case HTTP method")
		}
		r.method, p = method, strings.TrimLeft(rest, " ")
	}
	if !strings.HasPrefix(p, "/") {
		return fail("the path must start with / (host patterns are not supported)")
	}
	p = p[1:]
	if p == "" {
		r.tail = tailPrefix // "/" matches everything, as in ServeMux
		return r, nil
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "" && last:
			r.tail = tailPrefix
		case part == "":
			return fail("empty path segment")
		case part == "{$}":
			if !last {
				return fail("{$} must end the pattern")
			}
			r.tail = tailSlash
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "...}"):
			if !last {
				return fail("a {name...} wildcard must end the pattern")
			}
			r.tail = tailPrefix
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			if strings.ContainsAny(part[1:len(part)-1], "{}/") || len(part) == 2 {
				return fail("bad wildcard " + part)
			}
			r.segs = append(r.segs, segment{wild: true})
		case strings.ContainsAny(part, "{}"):
			return fail("a wildcard must be a whole segment")
		default:
			r.segs = append(r.segs, segment{lit: part})
		}
	}
	return r, nil
}

// match reports whether any pattern matches method and p, an absolute and
// clean path (see cleanPath).
func (rs routeSet) match(method, p string) bool {
	return rs.root != nil && rs.root.match(method, p)
}

// match reports whether a pattern below n matches the rest of a path, p,
// which is empty or starts with "/".
func (n *routeNode) match(method, p string) bool {
	if p == "" {
		return n.exact.has(method)
	}
	if n.prefix.has(method) || p == "/" && n.slash.has(method) {
		return true
	}
	seg, rest := p[1:], ""
	if j := strings.IndexByte(seg, '/'); j >= 0 {
		seg, rest = seg[:j], seg[j:]
	}
	for _, e := range n.lits {
		if e.seg == seg {
			if e.node.match(method, rest) {
				return true
			}
			break
		}
	}
	return n.wild != nil && seg != "" && n.wild.match(method, rest)
}

// cleanPath returns the request's path as routing sees it, with "." and
// ".." elements and repeated slashes resolved so that a request cannot
// step around a prefix ("/v1/x/../limited"). A path with escaped slashes
// ("%2F") keeps them escaped, as one segment, as ServeMux routes it. It
// allocates only for paths that need cleaning.
func cleanPath(r *http.Request) string {
	p := r.URL.Path
	if r.URL.RawPath != "" {
		p = r.URL.EscapedPath()
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if !needsClean(p) {
		return p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// needsClean reports whether p has a "//", "/." or "/.." element.
func needsClean(p string) bool {
	for i := 1; i < len(p); i++ {
		if p[i-1] == '/' && (p[i] == '/' || p[i] == '.') {
			return true
		}
	}
	return false
}

// underPrefix reports whether p is prefix itself or below it; slashed is
// prefix + "/", precomputed.
func underPrefix(p, prefix, slashed string) bool {
	return p == prefix || strings.HasPrefix(p, slashed)
}
