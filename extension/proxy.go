package extension

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/httpapi"
)

// IdentityHeader carries the caller's identity assertion upstream.
const IdentityHeader = "X-Portico-Identity"

// strippedHeaders never reach an upstream: the caller's credentials, and
// anything posing as the platform's own identity header.
var strippedHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "apiKey", "X-Api-Key", IdentityHeader}

// Limits of the proxy's caches.
const (
	routeTTL         = 5 * time.Second // how long another instance's change may go unseen
	maxCachedIDs     = 10000
	maxCachedRoutes  = 10000
	identityReuseDiv = 2 // an assertion is reused for the first 1/identityReuseDiv of its life
)

var errHeaderTimeout = errors.New("extension: upstream response timed out")

// route is what the proxy needs of an extension, cached briefly so a
// proxied request does not copy the registration (OpenAPI document and
// all) out of the store.
type route struct {
	prefix    string
	upstream  *url.URL
	transport http.RoundTripper
	timeout   time.Duration
	timesOut  bool // the transport enforces timeout itself
	expires   time.Time
}

// target is one proxied request's destination, handed from ServeHTTP to
// Rewrite and RoundTrip through the request context.
type target struct {
	route    *route
	rest     string // the path below the upstream's base
	identity string
	clientIP string
}

type targetKey struct{}

// proxy forwards requests to extensions through one httputil.ReverseProxy.
type proxy struct {
	r  *Registry
	rp *httputil.ReverseProxy

	routeMu sync.RWMutex
	routes  map[string]*route

	idMu sync.Mutex
	ids  map[identityKey]identity
}

type identityKey struct{ token, subject, prefix string }

type identity struct {
	assertion string
	reuseTill time.Time
}

func newProxy(r *Registry) *proxy {
	p := &proxy{r: r, routes: make(map[string]*route), ids: make(map[identityKey]identity)}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      roundTripFunc(p.roundTrip),
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.fail,
		BufferPool:     &bufferPool{},
	}
	return p
}

// bufferPool reuses ReverseProxy's 32 KiB copy buffers, which it would
// otherwise allocate for every response.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// forget drops the cached route of an extension that changed.
func (p *proxy) forget(prefix string) {
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	delete(p.routes, prefix)
}

// route returns the extension's route, from the cache while it is fresh.
func (p *proxy) route(ctx context.Context, prefix string, now time.Time) (*route, error) {
	p.routeMu.RLock()
	rt, ok := p.routes[prefix]
	p.routeMu.RUnlock()
	if ok && now.Before(rt.expires) {
		return rt, nil
	}
	e, err := p.r.store.GetExtension(ctx, prefix)
	if err != nil {
		return nil, err
	}
	u, err := parseUpstream(e.Upstream, p.r.cfg.UpstreamSchemes)
	if err != nil {
		return nil, fmt.Errorf("extension: stored upstream of %q: %w", prefix, err)
	}
	rt = &route{prefix: prefix, upstream: u, timeout: p.r.timeout(e), expires: now.Add(routeTTL)}
	rt.transport, rt.timesOut = p.r.transportFor(e)
	p.routeMu.Lock()
	if len(p.routes) >= maxCachedRoutes {
		clear(p.routes)
	}
	p.routes[prefix] = rt
	p.routeMu.Unlock()
	return rt, nil
}

// identity returns an assertion of who pr is for the extension, reusing
// one issued for the same credential while it is young.
func (p *proxy) identity(ctx context.Context, pr auth.Principal, prefix string, now time.Time) (string, error) {
	if p.r.cfg.Identity == nil {
		return "", nil
	}
	k := identityKey{token: pr.TokenID, subject: pr.Subject, prefix: prefix}
	if pr.TokenID != "" {
		p.idMu.Lock()
		id, ok := p.ids[k]
		p.idMu.Unlock()
		if ok && now.Before(id.reuseTill) {
			return id.assertion, nil
		}
	}
	assertion, exp, err := p.r.cfg.Identity(ctx, pr, prefix)
	if err != nil {
		return "", fmt.Errorf("extension: identity assertion: %w", err)
	}
	if pr.TokenID != "" {
		p.idMu.Lock()
		if len(p.ids) >= maxCachedIDs {
			clear(p.ids)
		}
		p.ids[k] = identity{assertion: assertion, reuseTill: now.Add(exp.Sub(now) / identityReuseDiv)}
		p.idMu.Unlock()
	}
	return assertion, nil
}

// serveProxy handles ANY /extension/{id}/{path...}.
func (r *Registry) serveProxy(w http.ResponseWriter, req *http.Request) {
	pr, ok := auth.FromContext(req.Context())
	if !ok {
		r.fail(w, req, ErrUnauthenticated)
		return
	}
	prefix, rest := req.PathValue("id"), req.PathValue("path")
	if !r.canSee(req.Context(), pr, prefix) {
		r.fail(w, req, ErrNotFound)
		return
	}
	if hasDotSegment(rest) {
		r.fail(w, req, invalid("path", "must not hold . or .. segments"))
		return
	}
	now := r.now()
	rt, err := r.proxy.route(req.Context(), prefix, now)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	id, err := r.proxy.identity(req.Context(), pr, prefix, now)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	t := &target{route: rt, rest: rest, identity: id}
	if r.cfg.ClientIP != nil {
		t.clientIP = r.cfg.ClientIP(req)
	}
	r.proxy.rp.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), targetKey{}, t)))
}

// rewrite points the outbound request at the target: the upstream's base
// path joined with the checked rest of the path, the caller's query, no
// caller credentials, the identity assertion, X-Forwarded-* and the
// request id. ReverseProxy has already removed hop-by-hop headers.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*target)
	u := t.route.upstream
	out := pr.Out
	out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
	out.URL.Path, out.URL.RawPath = joinPath(u.Path, t.rest), ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""
	for _, h := range strippedHeaders {
		out.Header.Del(h)
	}
	pr.SetXForwarded()
	if t.clientIP != "" {
		out.Header.Set("X-Forwarded-For", t.clientIP)
	}
	if t.identity != "" {
		out.Header.Set(IdentityHeader, t.identity)
	}
	if id := httpapi.RequestIDFrom(pr.In.Context()); id != "" {
		out.Header.Set("X-Request-Id", id)
	}
}

// modifyResponse keeps an extension from setting cookies on the
// platform's origin.
func modifyResponse(resp *http.Response) error {
	resp.Header.Del("Set-Cookie")
	return nil
}

// roundTrip sends the request through the extension's transport and
// bounds the wait for response headers by its timeout. Once headers
// arrive the body may take as long as it takes (a stream, an upgraded
// connection).
//
// A transport of the host's own gets the bound from a context. That
// context is not cancelled when the body is done: that would race the
// transport's return of the connection to its idle pool and lose it; the
// request's own context ends it when the handler returns.
func (p *proxy) roundTrip(req *http.Request) (*http.Response, error) {
	t := req.Context().Value(targetKey{}).(*target)
	if t.route.timesOut {
		return t.route.transport.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.route.timeout, func() { cancel(errHeaderTimeout) })
	resp, err := t.route.transport.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			_ = resp.Body.Close()
		}
		return nil, errHeaderTimeout
	}
	return resp, err
}

// fail answers a request the upstream did not: 504 if it did not answer
// in time, 502 otherwise. Nothing of the error reaches the caller.
func (p *proxy) fail(w http.ResponseWriter, req *http.Request, err error) {
	t := req.Context().Value(targetKey{}).(*target)
	var netErr net.Error
	switch {
	case req.Context().Err() != nil: // the caller went away
		p.r.log.Debug("extension proxy: caller gone", "prefix", t.route.prefix, "err", err)
		return
	}
	p.r.log.WarnContext(req.Context(), "extension proxy failed", "prefix", t.route.prefix, "method", req.Method, "err", err)
	switch {
	case errors.Is(err, errHeaderTimeout) || errors.As(err, &netErr) && netErr.Timeout():
		httpapi.Fail(w, req, p.r.log, http.StatusGatewayTimeout, "upstream_timeout",
			fmt.Sprintf("extension %q did not answer in time", t.route.prefix), err)
	default:
		httpapi.Fail(w, req, p.r.log, http.StatusBadGateway, "upstream_unavailable",
			fmt.Sprintf("extension %q is unavailable", t.route.prefix), err)
	}
}
