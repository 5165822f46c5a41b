package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
)

// Page limits as DESIGN.md sets them.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Page is a parsed ?limit= and ?offset= pair.
type Page struct {
	Limit  int
	Offset int
}

// ParsePage reads ?limit= (default 50, at most 1000) and ?offset= (default 0).
// A value that is not a non-negative integer, or a limit over the maximum, is
// a *DecodeError with status 400.
func ParsePage(r *http.Request) (Page, error) {
	p := Page{Limit: DefaultLimit}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, &DecodeError{http.StatusBadRequest, "invalid_parameter", "limit must be an integer from 1 to 1000"}
		}
		p.Limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, &DecodeError{http.StatusBadRequest, "invalid_parameter", "offset must be a non-negative integer"}
		}
		p.Offset = n
	}
	return p, nil
}

// SetPageHeaders sets X-Total-Count and, when more items follow this page, a
// Link header with rel="next" that keeps the request's other parameters.
func SetPageHeaders(w http.ResponseWriter, r *http.Request, p Page, total int) {
	h := w.Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	if p.Offset+p.Limit >= total {
		return
	}
	q := r.URL.Query()
	q.Set("limit", strconv.Itoa(p.Limit))
	q.Set("offset", strconv.Itoa(p.Offset+p.Limit))
	// The path as the client sent it: http.StripPrefix rewrites r.URL.Path
	// but leaves RequestURI, so the link keeps the mount prefix.
	path := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.EscapedPath()
	}
	h.Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// Window returns the items a limit and offset select: at most limit of
// them (all if limit is 0) starting at offset, never nil.
func Window[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return []T{}
	}
	items = items[offset:]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}
