package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Policy is one limit: a token bucket per key, refilled at Limit tokens
// per Window, holding at most Burst. "20 per minute" is {Limit: 20,
// Window: time.Minute}; "10 per second with bursts of 50" is {Limit: 10,
// Window: time.Second, Burst: 50}.
//
// A policy covers a request when the request matches Routes (if set), no
// pattern in Except, one of Prefixes (if set) and Match (if set), and Key
// gives it a key. Requests under different prefixes of one policy count
// against different buckets; requests under one prefix share a bucket.
type Policy struct {
	// Name identifies the policy in headers, errors and stats: 1 to 64
	// letters, digits and "_.:-", unique within a Limiter.
	Name string
	// Limit is the number of requests allowed per Window; at least 1.
	Limit int
	// Window is the period Limit applies to, at least a second. Zero: a
	// minute.
	Window time.Duration
	// Burst is the bucket's capacity: the most requests allowed at once
	// after a quiet spell. Zero: Limit.
	Burst int
	// Key returns the request's key under the policy. Nil: ByIP.
	Key KeyFunc
	// Routes restricts the policy to requests matching one of these
	// net/http.ServeMux patterns ("POST /auth/login", "PUT /key/{id}",
	// "/admin/"); "GET" also matches HEAD. Host patterns are not supported.
	// Empty: every route.
	Routes []string
	// Except exempts requests matching one of these patterns.
	Except []string
	// Prefixes restricts the policy to paths equal to or under one of
	// these, with a bucket per prefix: with "/v1/clusterprofiles",
	// requests to /v1/clusterprofiles and /v1/clusterprofiles/macros count
	// against one bucket. Empty: every path, one bucket.
	Prefixes []string
	// Match, if set, further restricts the policy to requests it accepts.
	Match func(*http.Request) bool
}

// KeyFunc returns the key of a request's bucket under a policy, or false
// when the policy does not apply to the request. ip is the client's IP key:
// its IPv4 address or its IPv6 /64 prefix, resolved through
// Config.TrustedProxies, or "unknown" when the peer address is unparsable.
type KeyFunc func(r *http.Request, ip string) (key string, ok bool)

// ByIP keys a request by its client IP (IPv6 by /64).
func ByIP(_ *http.Request, ip string) (string, bool) { return ip, true }

// Global gives every request the same key: one bucket for everyone.
func Global(*http.Request, string) (string, bool) { return "", true }

// ByContext keys a request by a value in its context, such as the
// authenticated principal's subject or API key id; a request without one
// (get returns false or "") is not covered. Mount the limiter after the
// middleware that puts the value there.
func ByContext(get func(ctx context.Context) (string, bool)) KeyFunc {
	return func(r *http.Request, _ string) (string, bool) {
		k, ok := get(r.Context())
		return k, ok && k != ""
	}
}

// policy is a validated Policy with what the hot path needs precomputed.
type policy struct {
	Policy
	rate          rate.Limit
	key           KeyFunc
	routes        routeSet
	except        routeSet
	prefixes      []prefix
	limitText     string // X-RateLimit-Limit
	policyItem    string // the RateLimit-Policy list member
	quotedName    string // the name as a structured-field string
	needsPath     bool
	denied        atomic.Uint64
	windowSeconds int64
}

type prefix struct {
	path, slashed string
	bucket        string // the Hit.Bucket of this prefix: name + " " + path
}

func compilePolicy(p Policy) (*policy, error) {
	fail := func(format string, args ...any) (*policy, error) {
		return nil, fmt.Errorf("ratelimit: policy %q: %s", p.Name, fmt.Sprintf(format, args...))
	}
	if !validName(p.Name) {
		return fail("the name must be 1 to 64 letters, digits and _.:-")
	}
	if p.Window == 0 {
		p.Window = time.Minute
	}
	if p.Burst == 0 {
		p.Burst = p.Limit
	}
	switch {
	case p.Limit < 1:
		return fail("limit %d is below 1", p.Limit)
	case p.Window < time.Second:
		return fail("window %v is under a second", p.Window)
	case p.Burst < 1:
		return fail("burst %d is below 1", p.Burst)
	}
	c := &policy{Policy: p, key: p.Key}
	c.Prefixes = append([]string(nil), p.Prefixes...)
	c.rate = rate.Limit(float64(p.Limit) / p.Window.Seconds())
	if c.key == nil {
		c.key = ByIP
	}
	var err error
	if c.routes, err = parseRoutes(p.Routes); err != nil {
		return nil, err
	}
	if c.except, err = parseRoutes(p.Except); err != nil {
		return nil, err
	}
	for _, pre := range p.Prefixes {
		clean := path.Clean(pre)
		if !strings.HasPrefix(pre, "/") || (clean != pre && clean+"/" != pre) {
			return fail("prefix %q must be an absolute, clean path", pre)
		}
		for _, q := range c.prefixes {
			if q.path == clean {
				return fail("prefix %q is listed twice", pre)
			}
		}
		c.prefixes = append(c.prefixes, prefix{path: clean, slashed: strings.TrimSuffix(clean, "/") + "/", bucket: p.Name + " " + clean})
	}
	c.needsPath = c.routes.root != nil || c.except.root != nil || len(c.prefixes) > 0
	// The advertised window is the time an empty bucket takes to fill, so
	// that q requests per w seconds is the policy's rate at its burst.
	c.windowSeconds = int64(math.Ceil(float64(p.Burst) / float64(c.rate)))
	c.limitText = strconv.Itoa(p.Burst)
	c.quotedName = strconv.Quote(p.Name) // names need no escaping: validName
	c.policyItem = fmt.Sprintf("%s;q=%d;w=%d", c.quotedName, p.Burst, c.windowSeconds)
	return c, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.:-", c) >= 0) {
			return false
		}
	}
	return true
}

// covers returns the bucket a request counts against under p, or false
// when p does not cover it. path is the request's clean path ("" when no
// policy needs it).
func (p *policy) covers(r *http.Request, path string) (bucket string, ok bool) {
	if p.routes.root != nil && !p.routes.match(r.Method, path) {
		return "", false
	}
	if p.except.match(r.Method, path) {
		return "", false
	}
	bucket = p.Name
	if len(p.prefixes) > 0 {
		ok = false
		for i := range p.prefixes {
			if q := &p.prefixes[i]; underPrefix(path, q.path, q.slashed) {
				bucket, ok = q.bucket, true
				break
			}
		}
		if !ok {
			return "", false
		}
	}
	if p.Match != nil && !p.Match(r) {
		return "", false
	}
	return bucket, true
}
