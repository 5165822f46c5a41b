package extension

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Defaults for Config's zero values.
const (
	DefaultProxyTimeout   = 30 * time.Second
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	// DefaultMaxDocument caps an extension's OpenAPI document.
	DefaultMaxDocument = 1 << 20
	// DefaultIdentityLife is how long an identity assertion lives.
	DefaultIdentityLife = time.Minute
)

// Config configures a Registry. The zero value is a working, safe setup:
// an in-memory store, no administrators (extensions register themselves
// with their API keys), every authenticated caller sees every extension,
// http and https upstreams, and no identity forwarded.
type Config struct {
	// Store keeps the registry. Nil: a new MemoryStore.
	Store Store
	// IsAdmin reports whether p may manage every extension. Nil: nobody;
	// only an extension's own API key manages it.
	IsAdmin func(ctx context.Context, p auth.Principal) bool
	// CanSee reports whether p may see and call the extension with the
	// given prefix. An extension p cannot see does not exist for p (404).
	// Nil: every authenticated caller sees every extension.
	CanSee func(ctx context.Context, p auth.Principal, prefix string) bool

	// Identity signs the assertion of who the caller is that the proxy
	// sends upstream in the X-Portico-Identity header, with its expiry.
	// With package auth: auth.Service.Assert with the extension's prefix
	// as audience. Assertions are reused, per caller credential and
	// extension, for the first half of their life. Nil: no identity is
	// forwarded.
	Identity func(ctx context.Context, p auth.Principal, audience string) (string, time.Time, error)
	// ClientIP returns the caller's address for X-Forwarded-For (the rate
	// limiter's Limiter.ClientIP, say). Nil: the host of RemoteAddr.
	ClientIP func(r *http.Request) string

	// Transport carries requests (proxied and health checks) to an
	// extension's upstream. It is the one place another carrier plugs in:
	// a NATS request-reply transport for a "nats" scheme, say (add the
	// scheme to UpstreamSchemes). Nil: http.Transports of the package's
	// own, which enforce each extension's timeout themselves.
	Transport func(e Extension) http.RoundTripper
	// UpstreamSchemes are the URL schemes an upstream may use. Nil: http
	// and https.
	UpstreamSchemes []string
	// ProxyTimeout bounds the wait for an upstream's response headers
	// when the extension sets no Timeout. Zero: DefaultProxyTimeout.
	ProxyTimeout time.Duration

	// HealthInterval is how often Run checks every extension. Zero:
	// DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check. Zero: DefaultHealthTimeout.
	HealthTimeout time.Duration

	// MaxExtensions caps how many extensions may be registered. Zero: no
	// cap.
	MaxExtensions int
	// MaxDocumentBytes caps an extension's OpenAPI document. Zero:
	// DefaultMaxDocument.
	MaxDocumentBytes int
	// MaxBodyBytes caps a registration's body. Zero: MaxDocumentBytes
	// plus 64 KiB.
	MaxBodyBytes int64

	// BaseURL is the URL path (or absolute URL) where the host mounts
	// Handler, without a trailing slash: "/api/v1", say. Import maps name
	// bundle files and modules under it. Empty: the root.
	BaseURL string
	// MaxBundleBytes caps an uploaded bundle (the zip). Zero:
	// DefaultMaxBundleBytes. The host's own body cap must let it through
	// on the upload route.
	MaxBundleBytes int64
	// MaxBundleUnpacked caps the sum of a bundle's files unpacked. Zero:
	// DefaultMaxBundleUnpacked.
	MaxBundleUnpacked int64
	// MaxBundleFiles caps the files in a bundle. Zero:
	// DefaultMaxBundleFiles.
	MaxBundleFiles int

	// ModuleUpstream is the base URL dependency modules are fetched from
	// (https://esm.sh, say), and the only place outside a bundle its
	// import map may point. Empty: no upstream; bundles must carry their
	// dependencies.
	ModuleUpstream string
	// ModuleTransport fetches modules. Nil: http.DefaultTransport.
	ModuleTransport http.RoundTripper
	// ModuleTimeout bounds one module fetch. Zero: 15 seconds.
	ModuleTimeout time.Duration

	// Settings are the settings until an administrator stores others.
	// Zero: DefaultSettings().
	Settings Settings
	// OnSettings is called with the settings when Run starts and each
	// time an administrator changes them, for the host to apply the ones the registry does not
	// use itself (the session idle timeout). Nil: nothing is called.
	OnSettings func(Settings)

	// LicenseKeys are the vendor's Ed25519 public keys licences must be
	// signed with. Nil: licensing is off and POST /admin/licenses answers
	// 404.
	LicenseKeys []ed25519.PublicKey
	// Unlicensed are the entitlements while licensing is on and no valid
	// licence is installed. The zero value caps nothing.
	Unlicensed Entitlements

	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives the registry's logs. Nil: slog.Default().
	Logger *slog.Logger
}

// Registry is the registry of extensions, their health, and the proxy to
// them. It is safe for concurrent use.
type Registry struct {
	cfg   Config
	store Store
	log   *slog.Logger
	now   func() time.Time

	transportMu sync.Mutex
	transports  map[time.Duration]*http.Transport // the default ones, by response-header timeout
	proxy       *proxy
	kick        chan string // prefixes to check soon

	createMu sync.Mutex // serializes creations, so MaxExtensions holds

	settings     atomic.Pointer[Settings] // loaded from the store on first use
	modules      *moduleCache
	moduleClient *http.Client

	subMu  sync.Mutex
	subs   map[int]func(Event)
	nextID int
}

// New returns a Registry for cfg.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.UpstreamSchemes == nil {
		cfg.UpstreamSchemes = []string{"http", "https"}
	}
	for _, s := range cfg.UpstreamSchemes {
		if s == "" {
			return nil, errors.New("extension: empty upstream scheme")
		}
	}
	cfg.ProxyTimeout = cmp.Or(cfg.ProxyTimeout, DefaultProxyTimeout)
	cfg.HealthInterval = cmp.Or(cfg.HealthInterval, DefaultHealthInterval)
	cfg.HealthTimeout = cmp.Or(cfg.HealthTimeout, DefaultHealthTimeout)
	cfg.MaxDocumentBytes = cmp.Or(cfg.MaxDocumentBytes, DefaultMaxDocument)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, int64(cfg.MaxDocumentBytes)+64<<10)
	cfg.MaxBundleBytes = cmp.Or(cfg.MaxBundleBytes, DefaultMaxBundleBytes)
	cfg.MaxBundleUnpacked = cmp.Or(cfg.MaxBundleUnpacked, DefaultMaxBundleUnpacked)
	cfg.MaxBundleFiles = cmp.Or(cfg.MaxBundleFiles, DefaultMaxBundleFiles)
	cfg.ModuleTimeout = cmp.Or(cfg.ModuleTimeout, 15*time.Second)
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.Settings == (Settings{}) {
		cfg.Settings = DefaultSettings()
	}
	switch {
	case cfg.ProxyTimeout < 0 || cfg.HealthInterval < 0 || cfg.HealthTimeout < 0 || cfg.ModuleTimeout < 0:
		return nil, errors.New("extension: negative duration")
	case cfg.MaxExtensions < 0 || cfg.MaxDocumentBytes < 0 || cfg.MaxBodyBytes < 0 ||
		cfg.MaxBundleBytes < 0 || cfg.MaxBundleUnpacked < 0 || cfg.MaxBundleFiles < 0 || cfg.Unlicensed.MaxExtensions < 0:
		return nil, errors.New("extension: negative limit")
	}
	if err := cfg.Settings.validate(); err != nil {
		return nil, fmt.Errorf("extension: Config.Settings: %w", err)
	}
	for _, k := range cfg.LicenseKeys {
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("extension: a licence key is not an Ed25519 public key")
		}
	}
	var upstream *url.URL
	if cfg.ModuleUpstream != "" {
		u, err := url.Parse(cfg.ModuleUpstream)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("extension: ModuleUpstream must be an http or https URL without credentials, query or fragment")
		}
		upstream = u
	}
	r := &Registry{
		cfg:   cfg,
		store: cfg.Store,
		log:   cfg.Logger,
		now:   cfg.Now,
		kick:  make(chan string, 64),
		subs:  make(map[int]func(Event)),
	}
	if cfg.Logger == nil {
		r.log = slog.Default()
	}
	if cfg.Now == nil {
		r.now = time.Now
	}
	r.transports = make(map[time.Duration]*http.Transport)
	r.modules = newModuleCache(cfg.Settings.ModuleCache)
	r.moduleClient = newModuleClient(upstream, cmp.Or[http.RoundTripper](cfg.ModuleTransport, http.DefaultTransport))
	r.proxy = newProxy(r)
	return r, nil
}

// transportFor returns the transport that reaches e, and whether it
// bounds the wait for response headers by e's timeout itself.
//
// The default transports are http.Transports, one per timeout, each
// enforcing it as its ResponseHeaderTimeout: far cheaper than a
// cancellable context per request, which costs the proxy a fifth of a
// loopback round trip. They are http.DefaultTransport's settings with more
// idle connections per host, since every request to an extension goes to
// one host.
func (r *Registry) transportFor(e Extension) (http.RoundTripper, bool) {
	if r.cfg.Transport != nil {
		if t := r.cfg.Transport(e); t != nil {
			return t, false
		}
	}
	timeout := r.timeout(e)
	r.transportMu.Lock()
	defer r.transportMu.Unlock()
	t, ok := r.transports[timeout]
	if !ok {
		t = http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		t.ResponseHeaderTimeout = timeout
		r.transports[timeout] = t
	}
	return t, true
}

// timeout is how long the proxy waits for e's response headers.
func (r *Registry) timeout(e Extension) time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return r.cfg.ProxyTimeout
}

func (r *Registry) isAdmin(ctx context.Context, p auth.Principal) bool {
	return r.cfg.IsAdmin != nil && r.cfg.IsAdmin(ctx, p)
}

func (r *Registry) canSee(ctx context.Context, p auth.Principal, prefix string) bool {
	return r.cfg.CanSee == nil || r.cfg.CanSee(ctx, p, prefix)
}

// mayManage decides whether by may change the extension with the given
// prefix (existing nil: not yet registered): an administrator may, and so
// may an API key whose identifier is the prefix, as long as the extension
// is new or was registered by a key of the same owner.
func (r *Registry) mayManage(ctx context.Context, by auth.Principal, prefix string, existing *Extension) error {
	if r.isAdmin(ctx, by) {
		return nil
	}
	if by.Kind != auth.KindAPIKey || by.Identifier != prefix {
		return forbidden("only an administrator or the extension's own API key may manage it")
	}
	if existing != nil && existing.Owner != "" && existing.Owner != by.ClientID {
		return forbidden("the extension belongs to another client")
	}
	return nil
}

// Register registers e, or updates the registration of the extension with
// its prefix, for by: an administrator, or an API key whose identifier is
// e.Prefix. An update replaces every field a registration sets and keeps
// the status, owner and creation time. It reports whether e was new.
func (r *Registry) Register(ctx context.Context, by auth.Principal, e Extension) (Extension, bool, error) {
	if by.Subject == "" {
		return Extension{}, false, ErrUnauthenticated
	}
	if err := e.normalize(r.cfg.UpstreamSchemes, r.cfg.MaxDocumentBytes); err != nil {
		return Extension{}, false, err
	}
	for {
		got, err := r.update(ctx, by, e)
		if !errors.Is(err, ErrNotFound) {
			return got, false, err
		}
		got, err = r.create(ctx, by, e)
		if !errors.Is(err, ErrExists) { // else it was created meanwhile: update it
			return got, err == nil, err
		}
	}
}

func (r *Registry) update(ctx context.Context, by auth.Principal, e Extension) (Extension, error) {
	now := r.now().UTC()
	got, err := r.store.UpdateExtension(ctx, e.Prefix, func(old *Extension) error {
		if err := r.mayManage(ctx, by, e.Prefix, old); err != nil {
			return err
		}
		upstreamMoved := old.Upstream != e.Upstream || old.HealthPath != e.HealthPath
		e.Status, e.LastSeen, e.LastCheck, e.LastError = old.Status, old.LastSeen, old.LastCheck, old.LastError
		if upstreamMoved { // what was seen was somewhere else
			e.Status, e.LastError = StatusDisconnected, ""
		}
		e.Owner, e.CreatedAt, e.UpdatedAt = old.Owner, old.CreatedAt, now
		*old = e
		return nil
	})
	if err != nil {
		return Extension{}, err
	}
	r.publish(Event{Type: EventUpdated, Prefix: got.Prefix, Status: got.Status, At: now})
	r.checkSoon(got.Prefix)
	return got, nil
}

func (r *Registry) create(ctx context.Context, by auth.Principal, e Extension) (Extension, error) {
	if err := r.mayManage(ctx, by, e.Prefix, nil); err != nil {
		return Extension{}, err
	}
	r.createMu.Lock()
	defer r.createMu.Unlock()
	max, err := r.maxExtensions(ctx)
	if err != nil {
		return Extension{}, err
	}
	if max > 0 {
		all, err := r.store.ListExtensions(ctx)
		if err != nil {
			return Extension{}, fmt.Errorf("extension: list: %w", err)
		}
		if len(all) >= max {
			return Extension{}, &LimitError{Max: max}
		}
	}
	now := r.now().UTC()
	e.Status = StatusDisconnected
	e.LastSeen, e.LastCheck, e.LastError = time.Time{}, time.Time{}, ""
	e.Owner = ""
	if by.Kind == auth.KindAPIKey {
		e.Owner = by.ClientID
	}
	e.CreatedAt, e.UpdatedAt = now, now
	if err := r.store.CreateExtension(ctx, e); err != nil {
		return Extension{}, err
	}
	r.log.Info("extension registered", "prefix", e.Prefix, "upstream", e.Upstream, "by", by.Subject)
	r.publish(Event{Type: EventRegistered, Prefix: e.Prefix, Status: e.Status, At: now})
	r.checkSoon(e.Prefix)
	return e, nil
}

// LimitError refuses a registration beyond the number of extensions
// allowed.
type LimitError struct{ Max int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("extension: at most %d extensions may be registered", e.Max)
}

// Deregister removes an extension, for an administrator or the
// extension's own API key.
func (r *Registry) Deregister(ctx context.Context, by auth.Principal, prefix string) error {
	e, err := r.store.GetExtension(ctx, prefix)
	if err != nil {
		return err
	}
	if err := r.mayManage(ctx, by, prefix, &e); err != nil {
		if !r.canSee(ctx, by, prefix) {
			return ErrNotFound
		}
		return err
	}
	if err := r.store.DeleteExtension(ctx, prefix); err != nil {
		return err
	}
	r.log.Info("extension deregistered", "prefix", prefix, "by", by.Subject)
	r.publish(Event{Type: EventDeregistered, Prefix: prefix, Status: e.Status, At: r.now().UTC()})
	return nil
}

// Get returns the extension with the given prefix, if by may see it;
// ErrNotFound otherwise.
func (r *Registry) Get(ctx context.Context, by auth.Principal, prefix string) (Extension, error) {
	if !r.canSee(ctx, by, prefix) {
		return Extension{}, ErrNotFound
	}
	return r.store.GetExtension(ctx, prefix)
}

// List returns the extensions by may see, ordered by prefix, without
// their OpenAPI documents.
func (r *Registry) List(ctx context.Context, by auth.Principal) ([]Extension, error) {
	all, err := r.store.ListExtensions(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		if r.canSee(ctx, by, e.Prefix) {
			out = append(out, e.summary())
		}
	}
	return out, nil
}

// All returns every extension with its OpenAPI document, for the host's
// own use (building the aggregated API document, say).
func (r *Registry) All(ctx context.Context) ([]Extension, error) { return r.store.ListExtensions(ctx) }

// Feature is a feature and the extensions that offer it.
type Feature struct {
	Name       string   `json:"name"`
	Extensions []string `json:"extensions"`
}

// Features returns the features of the extensions by may see, ordered by
// name, each with its extensions' prefixes in order.
func (r *Registry) Features(ctx context.Context, by auth.Principal) ([]Feature, error) {
	exts, err := r.List(ctx, by)
	if err != nil {
		return nil, err
	}
	byName := make(map[string][]string)
	for _, e := range exts {
		for _, f := range e.Features {
			byName[f] = append(byName[f], e.Prefix)
		}
	}
	out := make([]Feature, 0, len(byName))
	for name, prefixes := range byName {
		out = append(out, Feature{Name: name, Extensions: prefixes})
	}
	slices.SortFunc(out, func(a, b Feature) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Subscribe calls fn with every Event from now on, until the returned
// func is called. fn runs on the goroutine that made the change, after it
// is stored, so it must return quickly (hand slow work to a goroutine of
// its own); events of concurrent changes may arrive in either order.
func (r *Registry) Subscribe(fn func(Event)) (unsubscribe func()) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	id := r.nextID
	r.nextID++
	r.subs[id] = fn
	return func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		delete(r.subs, id)
	}
}

func (r *Registry) publish(ev Event) {
	if ev.Type.Registration() {
		r.proxy.forget(ev.Prefix)
	}
	r.subMu.Lock()
	fns := make([]func(Event), 0, len(r.subs))
	for _, fn := range r.subs {
		fns = append(fns, fn)
	}
	r.subMu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// checkSoon asks Run to check the extension now rather than at the next
// tick. If Run is busy the request is dropped; the tick catches up.
func (r *Registry) checkSoon(prefix string) {
	select {
	case r.kick <- prefix:
	default:
	}
}

// Run hands the stored settings to Config.OnSettings, then checks every
// extension's health every Config.HealthInterval, and a newly registered
// or moved one at once, until ctx is done. Checks run one at a time on
// Run's goroutine.
func (r *Registry) Run(ctx context.Context) error {
	s, err := r.Settings(ctx)
	if err != nil {
		return fmt.Errorf("extension: settings: %w", err)
	}
	r.modules.resize(s.ModuleCache)
	if r.cfg.OnSettings != nil {
		r.cfg.OnSettings(s)
	}
	t := time.NewTicker(r.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.CheckAll(ctx)
		case prefix := <-r.kick:
			if _, err := r.Check(ctx, prefix); err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
				r.log.Warn("extension health check failed", "prefix", prefix, "err", err)
			}
		}
	}
}
