package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-dev/portico/internal/periodic"
)

// Config configures a Limiter.
type Config struct {
	// Policies are checked in this order; when several have no token left,
	// the first of them is the one a denial names. Empty: every request
	// passes.
	Policies []Policy
	// Store holds the buckets. Nil: a MemoryStore with its defaults.
	Store Store
	// TrustedProxies lists the addresses and CIDR prefixes of reverse
	// proxies whose ForwardedHeader is believed. Empty: none, and the
	// client is always the connection's peer.
	TrustedProxies []string
	// ForwardedHeader is the header the trusted proxies set:
	// "X-Forwarded-For" (zero) or "Forwarded" (RFC 7239). Exactly one is
	// read, because a proxy that sets one passes the other through from
	// the client untouched.
	ForwardedHeader string
	// DryRun makes Middleware count and set headers as usual but let
	// requests over a limit through. Allow and Check still report them.
	DryRun bool
	// FailClosed makes Middleware answer 503 when the Store fails. False:
	// the request passes unlimited and the error is logged and counted.
	FailClosed bool
	// SweepInterval is how often Run drops full buckets. Zero: a minute.
	SweepInterval time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives store failures and dry-run denials. Nil: slog.Default().
	Logger *slog.Logger
}

// Limiter enforces Policies on requests. Its methods are safe for
// concurrent use.
type Limiter struct {
	cfg      Config
	policies []*policy
	byName   map[string]*policy
	store    Store
	ips      ipResolver
	now      func() time.Time
	log      *slog.Logger
	needPath bool

	storeErrors atomic.Uint64
	scratch     sync.Pool // *scratch
}

// Decision is the outcome of a check.
type Decision struct {
	// Allowed is false when a policy had no token left for the request.
	Allowed bool
	// Policy names the policy that denied the request or, when it was
	// allowed, the covering policy nearest its limit. Empty when no policy
	// covered the request.
	Policy string
	// Limit is that policy's burst: the Remaining of a full bucket.
	Limit int
	// Remaining is the number of requests its bucket allows now.
	Remaining int
	// Reset is the time until its bucket is full again.
	Reset time.Duration
	// RetryAfter, for a denial, is the time until its bucket holds a token.
	RetryAfter time.Duration
}

// Errors.
var (
	// ErrUnknownPolicy is returned by Allow for a policy name not configured.
	ErrUnknownPolicy = errors.New("ratelimit: unknown policy")
)

// New validates cfg and returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{cfg: cfg, store: cfg.Store, now: cfg.Now, log: cfg.Logger, byName: map[string]*policy{}}
	if l.store == nil {
		l.store, _ = NewMemoryStore(MemoryConfig{})
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if cfg.SweepInterval < 0 {
		return nil, errors.New("ratelimit: SweepInterval must not be negative")
	}
	if l.cfg.SweepInterval == 0 {
		l.cfg.SweepInterval = time.Minute
	}
	var err error
	if l.ips, err = newIPResolver(cfg.TrustedProxies, cfg.ForwardedHeader); err != nil {
		return nil, err
	}
	for _, p := range cfg.Policies {
		c, err := compilePolicy(p)
		if err != nil {
			return nil, err
		}
		if l.byName[c.Name] != nil {
			return nil, fmt.Errorf("ratelimit: policy %q is configured twice", c.Name)
		}
		l.byName[c.Name] = c
		l.policies = append(l.policies, c)
		l.needPath = l.needPath || c.needsPath
	}
	n := len(l.policies)
	l.scratch.New = func() any {
		return &scratch{hits: make([]Hit, 0, n), levels: make([]Level, n), pols: make([]*policy, 0, n)}
	}
	return l, nil
}

// scratch is one check's working memory, pooled so that a check does not
// allocate.
type scratch struct {
	hits   []Hit
	levels []Level
	pols   []*policy
	buf    []byte
}

func (l *Limiter) getScratch() *scratch {
	sc := l.scratch.Get().(*scratch)
	sc.hits, sc.pols = sc.hits[:0], sc.pols[:0]
	return sc
}

func (l *Limiter) putScratch(sc *scratch) {
	clear(sc.hits[:cap(sc.hits)]) // drop references to request strings
	l.scratch.Put(sc)
}

// Allow takes a token for key from the named policy's bucket (the bucket of
// its first prefix, if it has prefixes), without looking at a request.
func (l *Limiter) Allow(ctx context.Context, policyName, key string) (Decision, error) {
	p := l.byName[policyName]
	if p == nil {
		return Decision{}, fmt.Errorf("%w %q", ErrUnknownPolicy, policyName)
	}
	bucket := p.Name
	if len(p.prefixes) > 0 {
		bucket = p.prefixes[0].bucket
	}
	sc := l.getScratch()
	defer l.putScratch(sc)
	sc.hits = append(sc.hits, Hit{Bucket: bucket, Key: key, Rate: p.rate, Burst: p.Burst})
	sc.pols = append(sc.pols, p)
	denied, err := l.take(ctx, sc, l.now())
	if err != nil {
		return Decision{}, err
	}
	d, _ := l.decide(sc, denied)
	return d, nil
}

// Check takes a token for r from every policy that covers it, or from
// none if one of them has no token left.
func (l *Limiter) Check(r *http.Request) (Decision, error) {
	sc := l.getScratch()
	defer l.putScratch(sc)
	denied, err := l.check(r, sc, l.now())
	if err != nil {
		return Decision{}, err
	}
	d, _ := l.decide(sc, denied)
	return d, nil
}

// check collects the hits of the policies covering r into sc and takes
// them. It returns the index of the denying hit, or -1.
func (l *Limiter) check(r *http.Request, sc *scratch, now time.Time) (int, error) {
	if len(l.policies) == 0 {
		return -1, nil
	}
	var path, ip string
	if l.needPath {
		path = cleanPath(r)
	}
	for _, p := range l.policies {
		bucket, ok := p.covers(r, path)
		if !ok {
			continue
		}
		if ip == "" { // resolved once, and only for a covered request
			ip = l.ipKeyOf(r)
		}
		key, ok := p.key(r, ip)
		if !ok {
			continue
		}
		sc.hits = append(sc.hits, Hit{Bucket: bucket, Key: key, Rate: p.rate, Burst: p.Burst})
		sc.pols = append(sc.pols, p)
	}
	if len(sc.hits) == 0 {
		return -1, nil
	}
	return l.take(r.Context(), sc, now)
}

// take asks the store for sc's hits and counts the outcome.
func (l *Limiter) take(ctx context.Context, sc *scratch, now time.Time) (int, error) {
	denied, err := l.store.Take(ctx, now, sc.hits, sc.levels)
	if err != nil {
		l.storeErrors.Add(1)
		return -1, err
	}
	if denied >= 0 {
		sc.pols[denied].denied.Add(1)
	}
	return denied, nil
}

// decide summarises a check: the denying policy, or the one nearest its
// limit, and that policy's index in sc (-1 when nothing covered the
// request).
func (l *Limiter) decide(sc *scratch, denied int) (Decision, int) {
	if len(sc.hits) == 0 {
		return Decision{Allowed: true}, -1
	}
	i := denied
	if i < 0 {
		i = 0
		for j := range sc.hits {
			if sc.levels[j].Remaining < sc.levels[i].Remaining {
				i = j
			}
		}
	}
	lv := sc.levels[i]
	d := Decision{Allowed: denied < 0, Policy: sc.pols[i].Name, Limit: sc.pols[i].Burst, Remaining: lv.Remaining, Reset: lv.Reset}
	if denied >= 0 {
		d.RetryAfter = lv.Wait
	}
	return d, i
}

// ipKeyOf returns r's IP key: see KeyFunc.
func (l *Limiter) ipKeyOf(r *http.Request) string {
	addr, text, ok := l.ips.resolve(r)
	if !ok {
		return "unknown"
	}
	return ipKey(addr, text)
}

// ClientIP returns the client address of r as the Limiter resolves it,
// through Config.TrustedProxies: the same address its IP keys use, before
// IPv6 /64 bucketing. It returns r.RemoteAddr when that cannot be parsed.
// Hosts give it to auth.Config.ClientIP and apikey.Config.ClientIP so that
// audit records and the limiter agree.
func (l *Limiter) ClientIP(r *http.Request) string {
	addr, text, ok := l.ips.resolve(r)
	switch {
	case !ok:
		return r.RemoteAddr
	case text != "":
		return text
	default:
		return addr.String()
	}
}

// Run drops full buckets every Config.SweepInterval if the Store is a
// Sweeper, until ctx is done. The memory store stays under its cap without
// it, but sweeping keeps its buckets to the clients still being limited.
func (l *Limiter) Run(ctx context.Context) error {
	sw, ok := l.store.(Sweeper)
	if !ok {
		<-ctx.Done()
		return nil
	}
	return periodic.Run(ctx, l.cfg.SweepInterval, func(ctx context.Context) {
		if n, err := sw.Sweep(ctx, l.now()); err != nil && ctx.Err() == nil {
			l.log.ErrorContext(ctx, "ratelimit: sweep failed", "err", err)
		} else if n > 0 {
			l.log.DebugContext(ctx, "ratelimit: dropped full buckets", "count", n)
		}
	})
}

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	DryRun   bool          `json:"dry_run"`
	Policies []PolicyStats `json:"policies"`
	// Store is nil when the Store is not a Reporter.
	Store *StoreStats `json:"store,omitempty"`
	// StoreErrors counts checks the Store could not decide.
	StoreErrors uint64 `json:"store_errors"`
}

// PolicyStats describes one policy and its denials.
type PolicyStats struct {
	Name          string   `json:"name"`
	Limit         int      `json:"limit"`
	WindowSeconds float64  `json:"window_seconds"`
	Burst         int      `json:"burst"`
	Prefixes      []string `json:"prefixes,omitempty"`
	// Denied counts requests the policy found over its limit, including
	// those let through in dry-run mode.
	Denied uint64 `json:"denied"`
}

// Stats returns the Limiter's counters and, if the Store reports them, how
// many keys it tracks.
func (l *Limiter) Stats(ctx context.Context) (Stats, error) {
	s := Stats{DryRun: l.cfg.DryRun, StoreErrors: l.storeErrors.Load(), Policies: make([]PolicyStats, 0, len(l.policies))}
	for _, p := range l.policies {
		s.Policies = append(s.Policies, PolicyStats{
			Name: p.Name, Limit: p.Limit, WindowSeconds: p.Window.Seconds(), Burst: p.Burst,
			Prefixes: slices.Clone(p.Prefixes), Denied: p.denied.Load(),
		})
	}
	if rep, ok := l.store.(Reporter); ok {
		ss, err := rep.StoreStats(ctx)
		if err != nil {
			return s, err
		}
		s.Store = &ss
	}
	return s, nil
}
