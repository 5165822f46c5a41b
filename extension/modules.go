package extension

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Module is a dependency module served by the module route.
type Module struct {
	Path        string
	ContentType string
	Data        []byte
	// Source is where it came from: "cache", "upstream" or "bundle:<prefix>@<version>".
	Source string
}

// ModuleError is a module the upstream would not give.
type ModuleError struct {
	Path   string
	Reason string
}

func (e *ModuleError) Error() string { return "extension: module " + e.Path + ": " + e.Reason }

// errModulesOff answers module requests in bundle-only mode.
var errModulesOff = fmt.Errorf("%w: modules are served from bundles only", ErrNotFound)

// errRedirect refuses a redirect away from the upstream, or a fifth.
var errRedirect = errors.New("redirected away from the module upstream, or too often")

// maxModulePath caps a module path.
const maxModulePath = 1024

// modulePath checks a module path (what follows the upstream's base URL):
// clean, relative, no query or fragment.
func modulePath(p string) (string, error) {
	switch {
	case p == "" || len(p) > maxModulePath:
		return "", errors.New("module path must be 1 to 1024 bytes")
	case strings.HasPrefix(p, "/") || strings.Contains(p, "//") || hasDotSegment(p):
		return "", errors.New("module path must be clean and relative")
	case strings.ContainsAny(p, "?#") || strings.ContainsFunc(p, func(r rune) bool { return r <= 0x20 || r == 0x7f }):
		return "", errors.New("module path must not hold a query, fragment, space or control character")
	}
	return p, nil
}

// moduleCache is a least-recently-used cache of modules bounded by count
// and bytes, with one fetch per path in flight.
type moduleCache struct {
	mu       sync.Mutex
	limits   ModuleCacheLimits
	entries  map[string]*list.Element // of *Module
	lru      list.List                // front: most recently used
	bytes    int64
	inflight map[string]*moduleFetch

	hits, misses, failures uint64
	recent                 []ModuleFailure // the last few, oldest first
}

type moduleFetch struct {
	done chan struct{}
	mod  Module
	err  error
}

// ModuleFailure is one failed fetch, as the status shows it.
type ModuleFailure struct {
	Path  string    `json:"path"`
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

const recentFailures = 20

func newModuleCache(l ModuleCacheLimits) *moduleCache {
	return &moduleCache{limits: l, entries: make(map[string]*list.Element), inflight: make(map[string]*moduleFetch)}
}

func (c *moduleCache) get(path string) (Module, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[path]
	if !ok {
		return Module{}, false
	}
	c.hits++
	c.lru.MoveToFront(el)
	return *el.Value.(*Module), true
}

// add caches m and evicts the least recently used beyond the limits.
func (c *moduleCache) add(m Module) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(m.Data)) > c.limits.MaxModuleBytes {
		return
	}
	if el, ok := c.entries[m.Path]; ok {
		c.bytes -= int64(len(el.Value.(*Module).Data))
		c.lru.Remove(el)
	}
	c.entries[m.Path] = c.lru.PushFront(&m)
	c.bytes += int64(len(m.Data))
	c.evictLocked()
}

func (c *moduleCache) evictLocked() {
	for len(c.entries) > c.limits.MaxEntries || c.bytes > c.limits.MaxBytes {
		el := c.lru.Back()
		m := c.lru.Remove(el).(*Module)
		delete(c.entries, m.Path)
		c.bytes -= int64(len(m.Data))
	}
}

func (c *moduleCache) resize(l ModuleCacheLimits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limits = l
	c.evictLocked()
}

func (c *moduleCache) fail(path string, err error, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	if len(c.recent) == recentFailures {
		c.recent = append(c.recent[:0], c.recent[1:]...)
	}
	c.recent = append(c.recent, ModuleFailure{Path: path, Error: strings.TrimPrefix(err.Error(), "extension: "), At: at})
}

// ModuleCacheStatus is the module cache as GET /admin/cdn/status shows it.
type ModuleCacheStatus struct {
	Resolution Resolution        `json:"dependency_resolution"`
	Upstream   string            `json:"upstream"`
	Entries    int               `json:"entries"`
	Bytes      int64             `json:"bytes"`
	Limits     ModuleCacheLimits `json:"limits"`
	Hits       uint64            `json:"hits"`
	Misses     uint64            `json:"misses"`
	Errors     uint64            `json:"errors"`
	// RecentErrors are the last failed fetches, oldest first.
	RecentErrors []ModuleFailure `json:"recent_errors"`
}

// ModuleCacheStatus reports the module cache's size, limits and errors,
// for an administrator.
func (r *Registry) ModuleCacheStatus(ctx context.Context, by auth.Principal) (ModuleCacheStatus, error) {
	if err := r.requireAdmin(ctx, by); err != nil {
		return ModuleCacheStatus{}, err
	}
	s, err := r.Settings(ctx)
	if err != nil {
		return ModuleCacheStatus{}, err
	}
	c := r.modules
	c.mu.Lock()
	defer c.mu.Unlock()
	return ModuleCacheStatus{
		Resolution: s.Resolution, Upstream: r.cfg.ModuleUpstream, Entries: len(c.entries), Bytes: c.bytes,
		Limits: c.limits, Hits: c.hits, Misses: c.misses, Errors: c.failures,
		RecentErrors: append([]ModuleFailure{}, c.recent...),
	}, nil
}

// Module returns the dependency module at path under the module upstream,
// as the settings' resolution mode says: from an active bundle (mixed),
// the cache, or the upstream, whose answer is cached. It asks for no
// caller: modules are code a browser imports without credentials.
func (r *Registry) Module(ctx context.Context, path string) (Module, error) {
	s, err := r.Settings(ctx)
	if err != nil {
		return Module{}, err
	}
	if s.Resolution == ResolveBundleOnly || r.cfg.ModuleUpstream == "" && s.Resolution == ResolveProxy {
		return Module{}, errModulesOff
	}
	if _, err := modulePath(path); err != nil {
		return Module{}, invalid("path", "%v", err)
	}
	if s.Resolution == ResolveMixed {
		if m, ok, err := r.bundledModule(ctx, path); ok || err != nil {
			return m, err
		}
		if r.cfg.ModuleUpstream == "" {
			return Module{}, ErrNotFound
		}
	}
	if m, ok := r.modules.get(path); ok {
		m.Source = "cache"
		return m, nil
	}
	return r.fetchModule(ctx, path)
}

// bundledModule looks for modules/<path> in the active bundles.
func (r *Registry) bundledModule(ctx context.Context, path string) (Module, bool, error) {
	all, err := r.store.ListBundles(ctx, "")
	if err != nil {
		return Module{}, false, err
	}
	for _, b := range all {
		if !b.Active {
			continue
		}
		f, data, err := r.store.BundleFile(ctx, b.Prefix, b.Version, "modules/"+path)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Module{}, false, err
		}
		return Module{Path: path, ContentType: f.ContentType, Data: data, Source: "bundle:" + b.Prefix + "@" + b.Version}, true, nil
	}
	return Module{}, false, nil
}

// fetchModule fetches path from the upstream, one fetch per path at a
// time, and caches the answer.
func (r *Registry) fetchModule(ctx context.Context, path string) (Module, error) {
	c := r.modules
	c.mu.Lock()
	c.misses++
	f, ok := c.inflight[path]
	if !ok {
		f = &moduleFetch{done: make(chan struct{})}
		c.inflight[path] = f
	}
	limit := c.limits.MaxModuleBytes
	c.mu.Unlock()
	if ok {
		select {
		case <-f.done:
			return f.mod, f.err
		case <-ctx.Done():
			return Module{}, ctx.Err()
		}
	}
	// The fetch is not the caller's: it outlives a caller who leaves, for
	// the others waiting on it.
	f.mod, f.err = r.download(context.WithoutCancel(ctx), path, limit)
	switch {
	case f.err == nil:
		c.add(f.mod)
	case !errors.Is(f.err, ErrNotFound): // a wrong path is the caller's mistake, not the cache's
		c.fail(path, f.err, r.now().UTC())
	}
	c.mu.Lock()
	delete(c.inflight, path)
	c.mu.Unlock()
	close(f.done)
	return f.mod, f.err
}

func (r *Registry) download(ctx context.Context, path string, limit int64) (Module, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ModuleTimeout)
	defer cancel()
	target := strings.TrimSuffix(r.cfg.ModuleUpstream, "/") + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return Module{}, &ModuleError{Path: path, Reason: "bad path"}
	}
	resp, err := r.moduleClient.Do(req)
	if errors.Is(err, errRedirect) {
		return Module{}, &ModuleError{Path: path, Reason: errRedirect.Error()}
	}
	if err != nil {
		return Module{}, &ModuleError{Path: path, Reason: reason(ctx, err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Module{}, fmt.Errorf("%w: module %s", ErrNotFound, path)
	case resp.StatusCode != http.StatusOK:
		return Module{}, &ModuleError{Path: path, Reason: fmt.Sprintf("upstream status %d", resp.StatusCode)}
	case resp.ContentLength > limit:
		return Module{}, &ModuleError{Path: path, Reason: fmt.Sprintf("larger than %d bytes", limit)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return Module{}, &ModuleError{Path: path, Reason: reason(ctx, err)}
	case int64(len(data)) > limit:
		return Module{}, &ModuleError{Path: path, Reason: fmt.Sprintf("larger than %d bytes", limit)}
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/javascript; charset=utf-8"
	}
	return Module{Path: path, ContentType: ct, Data: data, Source: "upstream"}, nil
}

// newModuleClient returns the client that fetches modules: redirects are
// followed only within the upstream's origin, at most five.
func newModuleClient(upstream *url.URL, rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 || upstream == nil || req.URL.Scheme != upstream.Scheme || req.URL.Host != upstream.Host {
				return errRedirect
			}
			return nil
		},
	}
}
