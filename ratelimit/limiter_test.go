package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/fakeclock"
	"github.com/portico-dev/portico/ratelimit"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
}

func newLimiter(t *testing.T, c *fakeclock.Clock, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	cfg.Now = c.Now
	l, err := ratelimit.New(cfg)
	require.NoError(t, err)
	return l
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

// do sends one request through h from remote and returns the recorder.
func do(h http.Handler, method, path, remote string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestBurstRefillAndHeaders(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{{Name: "auth", Limit: 20}}}) // a token every 3 s
	h := l.Middleware(okHandler)
	start := c.Now().Unix()

	for i := 1; i <= 20; i++ {
		w := do(h, "POST", "/auth/login", "192.0.2.1:1000")
		require.Equal(t, http.StatusNoContent, w.Code, "request %d of the burst", i)
		assert.Equal(t, "20", w.Header().Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(20-i), w.Header().Get("X-RateLimit-Remaining"), "request %d", i)
		assert.Equal(t, strconv.FormatInt(start+int64(3*i), 10), w.Header().Get("X-RateLimit-Reset"), "full again 3 s per spent token, request %d", i)
		assert.Equal(t, `"auth";q=20;w=60`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, fmt.Sprintf(`"auth";r=%d;t=%d`, 20-i, 3*i), w.Header().Get("RateLimit"), "request %d", i)
		assert.Empty(t, w.Header().Get("Retry-After"))
	}

	w := do(h, "POST", "/auth/login", "192.0.2.1:1000")
	require.Equal(t, http.StatusTooManyRequests, w.Code, "the 21st request")
	assert.Equal(t, "3", w.Header().Get("Retry-After"), "one whole token is 3 s away")
	assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))
	assert.Equal(t, `"auth";r=0;t=60`, w.Header().Get("RateLimit"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var body struct{ Error, Code string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "rate_limited", body.Code)
	assert.Contains(t, body.Error, `"auth"`)

	c.Advance(1500 * time.Millisecond)
	w = do(h, "POST", "/auth/login", "192.0.2.1:1000")
	require.Equal(t, http.StatusTooManyRequests, w.Code, "half a token")
	assert.Equal(t, "2", w.Header().Get("Retry-After"), "1.5 s of deficit rounds up")

	c.Advance(1500 * time.Millisecond)
	w = do(h, "POST", "/auth/login", "192.0.2.1:1000")
	require.Equal(t, http.StatusNoContent, w.Code, "a token has refilled")
	assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))

	w = do(h, "POST", "/auth/login", "192.0.2.2:1000")
	require.Equal(t, http.StatusNoContent, w.Code, "another address has its own bucket")
	assert.Equal(t, "19", w.Header().Get("X-RateLimit-Remaining"))
}

func TestRetryAfterFromTheDeficit(t *testing.T) {
	tests := []struct {
		limit   int
		window  time.Duration
		elapsed time.Duration
		want    string
	}{
		{limit: 1, window: 10 * time.Second, elapsed: 0, want: "10"},
		{limit: 1, window: 10 * time.Second, elapsed: 2500 * time.Millisecond, want: "8"}, // 7.5 s
		{limit: 1, window: 10 * time.Second, elapsed: 9900 * time.Millisecond, want: "1"}, // 0.1 s rounds up
		{limit: 7, window: time.Minute, elapsed: 0, want: "9"},                            // 8.57 s
		{limit: 1, window: time.Hour, elapsed: 30 * time.Minute, want: "1800"},
	}
	for _, tt := range tests {
		c := newClock()
		l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{{Name: "p", Limit: tt.limit, Window: tt.window, Burst: 1}}})
		h := l.Middleware(okHandler)
		require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "192.0.2.1:1").Code)
		c.Advance(tt.elapsed)
		w := do(h, "GET", "/", "192.0.2.1:1")
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, tt.want, w.Header().Get("Retry-After"), "%d per %v, %v after the last token", tt.limit, tt.window, tt.elapsed)
	}
}

func TestPolicyPrecedence(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "narrow", Limit: 2},
		{Name: "wide", Limit: 5},
		{Name: "other", Limit: 2, Routes: []string{"/other"}},
	}})
	h := l.Middleware(okHandler)
	for range 2 {
		require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "192.0.2.1:1").Code)
	}
	w := do(h, "GET", "/", "192.0.2.1:1")
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Contains(t, w.Body.String(), `\"narrow\"`, "the exhausted policy is named")
	assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"), "the X- headers describe the denying policy")
	assert.Equal(t, `"narrow";r=0;t=60, "wide";r=3;t=24`, w.Header().Get("RateLimit"), "the denial took nothing from wide")
	assert.Equal(t, `"narrow";q=2;w=60, "wide";q=5;w=60`, w.Header().Get("RateLimit-Policy"))

	// Both exhausted: the first configured is named.
	for range 3 {
		_, err := l.Allow(context.Background(), "wide", "192.0.2.1")
		require.NoError(t, err)
	}
	w = do(h, "GET", "/", "192.0.2.1:1")
	assert.Contains(t, w.Body.String(), `\"narrow\"`)

	// Allowed: the X- headers follow the policy nearest its limit.
	w = do(h, "GET", "/", "192.0.2.9:1")
	assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"))
	assert.Equal(t, "1", w.Header().Get("X-RateLimit-Remaining"))

	s, err := l.Stats(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, s.Policies[0].Denied, "narrow's denials")
	assert.EqualValues(t, 0, s.Policies[1].Denied, "wide's denials")
}

func TestPrefixGrouping(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "profiles", Limit: 3, Prefixes: []string{"/v1/clusterprofiles", "/v1/nodes/"}},
	}})
	h := l.Middleware(okHandler)
	const ip = "192.0.2.1:1"
	for i, p := range []string{"/v1/clusterprofiles", "/v1/clusterprofiles/macros", "/v1/x/../clusterprofiles/macros/7"} {
		w := do(h, "GET", p, ip)
		require.Equal(t, http.StatusNoContent, w.Code, p)
		assert.Equal(t, strconv.Itoa(2-i), w.Header().Get("X-RateLimit-Remaining"), "%s shares the prefix's bucket", p)
	}
	assert.Equal(t, http.StatusTooManyRequests, do(h, "POST", "/v1/clusterprofiles/macros", ip).Code)

	w := do(h, "GET", "/v1/nodes/n1", ip)
	require.Equal(t, http.StatusNoContent, w.Code, "another prefix has its own bucket")
	assert.Equal(t, "2", w.Header().Get("X-RateLimit-Remaining"))

	for _, p := range []string{"/v1/clusterprofilesX", "/v1", "/v2/clusterprofiles"} {
		w := do(h, "GET", p, ip)
		assert.Equal(t, http.StatusNoContent, w.Code, p)
		assert.Empty(t, w.Header().Get("X-RateLimit-Limit"), "%s is outside every prefix", p)
	}
}

func TestRouteClasses(t *testing.T) {
	c := newClock()
	authRoutes := []string{"POST /auth/login", "GET /usertoken", "POST /keys", "PUT /key/{id}"}
	public := []string{"GET /ping", "GET /health"}
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "auth", Limit: 2, Routes: authRoutes},
		{Name: "general", Limit: 3, Except: append(append([]string{}, authRoutes...), public...)},
	}})
	h := l.Middleware(okHandler)
	const ip = "192.0.2.1:1"
	for _, req := range [][2]string{{"POST", "/auth/login"}, {"HEAD", "/usertoken"}, {"POST", "/keys"}, {"PUT", "/key/abc"}} {
		w := do(h, req[0], req[1], "192.0.2.50:1")
		assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"), "%s %s is in the auth class", req[0], req[1])
	}
	for _, req := range [][2]string{{"GET", "/keys"}, {"DELETE", "/key/abc"}, {"GET", "/admin/roles"}, {"GET", "/nowhere"}} {
		w := do(h, req[0], req[1], "192.0.2.51:1")
		assert.Equal(t, "3", w.Header().Get("X-RateLimit-Limit"), "%s %s is in the general class", req[0], req[1])
	}
	for range 50 {
		w := do(h, "GET", "/ping", ip)
		require.Equal(t, http.StatusNoContent, w.Code, "public routes are never limited")
		require.Empty(t, w.Header().Get("X-RateLimit-Limit"))
	}
	for range 2 {
		do(h, "POST", "/auth/login", ip)
	}
	assert.Equal(t, http.StatusTooManyRequests, do(h, "POST", "/auth/login", ip).Code)
	assert.Equal(t, http.StatusNoContent, do(h, "GET", "/keys", ip).Code, "the classes have separate buckets")
}

func TestKeyFuncs(t *testing.T) {
	type ctxKey struct{}
	principal := ratelimit.ByContext(func(ctx context.Context) (string, bool) {
		s, ok := ctx.Value(ctxKey{}).(string)
		return s, ok
	})
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "principal", Limit: 2, Key: principal},
		{Name: "everyone", Limit: 100, Key: ratelimit.Global},
	}})
	h := l.Middleware(okHandler)
	as := func(subject, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if subject != "" {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, subject))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	require.Equal(t, http.StatusNoContent, as("alice", "192.0.2.1:1").Code)
	require.Equal(t, http.StatusNoContent, as("alice", "192.0.2.2:1").Code)
	assert.Equal(t, http.StatusTooManyRequests, as("alice", "192.0.2.3:1").Code, "a principal is one bucket across addresses")
	assert.Equal(t, http.StatusNoContent, as("bob", "192.0.2.1:1").Code)
	w := as("", "192.0.2.1:1")
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, `"everyone";q=100;w=60`, w.Header().Get("RateLimit-Policy"), "an anonymous request is outside the principal policy")
	assert.Equal(t, "96", w.Header().Get("X-RateLimit-Remaining"), "four requests took from the global bucket; alice's denied third did not")
}

func TestSpoofedForwardedFor(t *testing.T) {
	policies := []ratelimit.Policy{{Name: "ip", Limit: 1}}
	t.Run("ignored without trusted proxies", func(t *testing.T) {
		h := newLimiter(t, newClock(), ratelimit.Config{Policies: policies}).Middleware(okHandler)
		require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "203.0.113.9:1", "X-Forwarded-For", "198.51.100.1").Code)
		assert.Equal(t, http.StatusTooManyRequests, do(h, "GET", "/", "203.0.113.9:1", "X-Forwarded-For", "198.51.100.2").Code,
			"a new X-Forwarded-For does not buy a new bucket")
	})
	t.Run("honoured from a trusted proxy", func(t *testing.T) {
		h := newLimiter(t, newClock(), ratelimit.Config{Policies: policies, TrustedProxies: []string{"203.0.113.0/24"}}).Middleware(okHandler)
		require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "203.0.113.9:1", "X-Forwarded-For", "198.51.100.1").Code)
		assert.Equal(t, http.StatusNoContent, do(h, "GET", "/", "203.0.113.9:1", "X-Forwarded-For", "198.51.100.2").Code,
			"two clients behind the proxy")
		assert.Equal(t, http.StatusTooManyRequests, do(h, "GET", "/", "203.0.113.9:1", "X-Forwarded-For", "6.6.6.6, 198.51.100.1").Code,
			"a client-written entry left of the proxy's does not help")
		assert.Equal(t, http.StatusNoContent, do(h, "GET", "/", "192.0.2.99:1", "X-Forwarded-For", "198.51.100.1").Code,
			"an untrusted peer's header is ignored: the peer is the client")
		assert.Equal(t, http.StatusTooManyRequests, do(h, "GET", "/", "192.0.2.99:1", "X-Forwarded-For", "198.51.100.3").Code)
	})
	t.Run("IPv6 by /64", func(t *testing.T) {
		h := newLimiter(t, newClock(), ratelimit.Config{Policies: policies}).Middleware(okHandler)
		require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "[2001:db8:1:2::1]:1").Code)
		assert.Equal(t, http.StatusTooManyRequests, do(h, "GET", "/", "[2001:db8:1:2:aaaa::99]:1").Code, "same /64")
		assert.Equal(t, http.StatusNoContent, do(h, "GET", "/", "[2001:db8:1:3::1]:1").Code, "another /64")
	})
}

func TestDryRun(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{DryRun: true, Policies: []ratelimit.Policy{{Name: "p", Limit: 1}}})
	h := l.Middleware(okHandler)
	require.Equal(t, http.StatusNoContent, do(h, "GET", "/", "192.0.2.1:1").Code)
	w := do(h, "GET", "/", "192.0.2.1:1")
	assert.Equal(t, http.StatusNoContent, w.Code, "dry run lets the request through")
	assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))
	assert.Equal(t, "60", w.Header().Get("Retry-After"), "the headers say what enforcement would")

	d, err := l.Check(httptest.NewRequest("GET", "/", nil))
	require.NoError(t, err)
	assert.False(t, d.Allowed, "Check reports the limit in dry run too")

	s, err := l.Stats(context.Background())
	require.NoError(t, err)
	assert.True(t, s.DryRun)
	assert.EqualValues(t, 2, s.Policies[0].Denied, "the middleware's would-be denial and Check's are counted")
}

// failingStore fails every Take.
type failingStore struct{}

func (failingStore) Take(context.Context, time.Time, []ratelimit.Hit, []ratelimit.Level) (int, error) {
	return -1, errors.New("backend unreachable")
}

func TestStoreFailure(t *testing.T) {
	policies := []ratelimit.Policy{{Name: "p", Limit: 1}}
	quiet := slog.New(slog.DiscardHandler)
	open := newLimiter(t, newClock(), ratelimit.Config{Store: failingStore{}, Policies: policies, Logger: quiet})
	w := do(open.Middleware(okHandler), "GET", "/", "192.0.2.1:1")
	assert.Equal(t, http.StatusNoContent, w.Code, "fails open by default")
	assert.Empty(t, w.Header().Get("X-RateLimit-Limit"))
	s, err := open.Stats(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.StoreErrors)
	assert.Nil(t, s.Store, "the store does not report")

	closed := newLimiter(t, newClock(), ratelimit.Config{Store: failingStore{}, Policies: policies, FailClosed: true, Logger: quiet})
	w = do(closed.Middleware(okHandler), "GET", "/", "192.0.2.1:1")
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), `"code":"rate_limit_unavailable"`)
	assert.NotContains(t, w.Body.String(), "backend unreachable", "no internals leak")

	_, err = closed.Allow(context.Background(), "p", "k")
	assert.Error(t, err)
}

func TestAllow(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{{Name: "p", Limit: 10, Window: time.Second, Burst: 2}}})
	ctx := context.Background()
	d, err := l.Allow(ctx, "p", "k")
	require.NoError(t, err)
	assert.Equal(t, ratelimit.Decision{Allowed: true, Policy: "p", Limit: 2, Remaining: 1, Reset: 100 * time.Millisecond}, d)
	_, err = l.Allow(ctx, "p", "k")
	require.NoError(t, err)
	d, err = l.Allow(ctx, "p", "k")
	require.NoError(t, err)
	assert.Equal(t, ratelimit.Decision{Allowed: false, Policy: "p", Limit: 2, Remaining: 0, Reset: 200 * time.Millisecond, RetryAfter: 100 * time.Millisecond}, d)
	s, err := l.Stats(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, s.Policies[0].Denied, "Allow's denials are counted")

	_, err = l.Allow(ctx, "nope", "k")
	assert.ErrorIs(t, err, ratelimit.ErrUnknownPolicy)

	d, err = newLimiter(t, c, ratelimit.Config{}).Check(httptest.NewRequest("GET", "/", nil))
	require.NoError(t, err)
	assert.Equal(t, ratelimit.Decision{Allowed: true}, d, "no policy: everything passes")
}

func TestNewRejects(t *testing.T) {
	tests := map[string]ratelimit.Config{
		"empty name":        {Policies: []ratelimit.Policy{{Limit: 1}}},
		"name with a quote": {Policies: []ratelimit.Policy{{Name: `a"b`, Limit: 1}}},
		"long name":         {Policies: []ratelimit.Policy{{Name: string(make([]byte, 65)), Limit: 1}}},
		"zero limit":        {Policies: []ratelimit.Policy{{Name: "p"}}},
		"sub-second window": {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Window: time.Millisecond}}},
		"negative burst":    {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Burst: -1}}},
		"bad route":         {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Routes: []string{"login"}}}},
		"bad except":        {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Except: []string{"/a/{b"}}}},
		"relative prefix":   {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Prefixes: []string{"v1"}}}},
		"unclean prefix":    {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Prefixes: []string{"/v1/../x"}}}},
		"duplicate prefix":  {Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Prefixes: []string{"/v1", "/v1/"}}}},
		"duplicate policy":  {Policies: []ratelimit.Policy{{Name: "p", Limit: 1}, {Name: "p", Limit: 2}}},
		"bad trusted proxy": {TrustedProxies: []string{"10.0.0.0/40"}},
		"bad header":        {ForwardedHeader: "X-Real-IP"},
		"negative interval": {SweepInterval: -time.Second},
	}
	for name, cfg := range tests {
		_, err := ratelimit.New(cfg)
		assert.Error(t, err, name)
	}
	_, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: -1})
	assert.Error(t, err)
}

func TestEvictionKeepsMemoryUnderTheCap(t *testing.T) {
	const maxKeys = 5_000
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: maxKeys, Shards: 16})
	require.NoError(t, err)
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Store: store, Policies: []ratelimit.Policy{{Name: "p", Limit: 5}}})
	ctx := context.Background()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := l.Allow(ctx, "p", "client-"+strconv.Itoa(i))
			require.NoError(t, err)
		}
	}
	fill(0, maxKeys)
	atCap := heap()
	fill(maxKeys, 20*maxKeys) // twenty times the cap, every bucket still active
	assert.LessOrEqual(t, store.Len(), maxKeys, "tracked keys stay under the cap")
	grown := int64(heap()) - int64(atCap)
	assert.Less(t, grown, int64(4<<20), "heap growth after 95k more keys (uncapped it would be ~20 MB)")

	s, err := l.Stats(ctx)
	require.NoError(t, err)
	assert.Greater(t, s.Store.Displaced, uint64(0), "active buckets were displaced to stay under the cap")
	assert.Equal(t, maxKeys, s.Store.MaxKeys)

	// Once buckets are full again they go first.
	c.Advance(time.Minute)
	displaced := s.Store.Displaced
	fill(20*maxKeys, 20*maxKeys+maxKeys/2)
	s, err = l.Stats(ctx)
	require.NoError(t, err)
	// Eviction samples the shard (as Redis's approximate LRU does), so an
	// unlucky sample may still displace an active bucket; it stays rare.
	assert.Less(t, s.Store.Displaced-displaced, uint64(maxKeys/200), "full buckets made (nearly all) the room for 2,500 new keys")
	assert.Greater(t, s.Store.Swept, uint64(2000), "full buckets were dropped")
	assert.LessOrEqual(t, store.Len(), maxKeys)

	// A displaced bucket starts full; a bucket the eviction spared keeps its count.
	d, err := l.Allow(ctx, "p", "client-"+strconv.Itoa(20*maxKeys+maxKeys/2-1))
	require.NoError(t, err)
	assert.Equal(t, 3, d.Remaining, "the newest bucket survived the churn")
}

func TestSweepAndRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		require.NoError(t, err)
		l, err := ratelimit.New(ratelimit.Config{Store: store, SweepInterval: time.Minute, Policies: []ratelimit.Policy{
			{Name: "fast", Limit: 60},                   // refills a token a second
			{Name: "slow", Limit: 1, Window: time.Hour}, // a token an hour
		}})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		for _, p := range []string{"fast", "slow"} {
			_, err := l.Allow(ctx, p, "k")
			require.NoError(t, err)
		}
		require.Equal(t, 2, store.Len())
		time.Sleep(time.Minute + time.Second) // the fake clock: one sweep
		synctest.Wait()
		assert.Equal(t, 1, store.Len(), "the full bucket was swept, the slow one kept")
		s, err := l.Stats(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, s.Store.Swept)
		cancel()
		assert.NoError(t, <-done)
	})
}

func TestStatsHandler(t *testing.T) {
	l := newLimiter(t, newClock(), ratelimit.Config{Policies: []ratelimit.Policy{{Name: "p", Limit: 1, Prefixes: []string{"/v1"}}}})
	do(l.Middleware(okHandler), "GET", "/v1", "192.0.2.1:1")
	do(l.Middleware(okHandler), "GET", "/v1", "192.0.2.1:1")
	h := l.Handler()
	w := do(h, "GET", "/admin/ratelimit", "192.0.2.1:1")
	require.Equal(t, http.StatusOK, w.Code)
	var s ratelimit.Stats
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &s))
	assert.Equal(t, ratelimit.PolicyStats{Name: "p", Limit: 1, WindowSeconds: 60, Burst: 1, Prefixes: []string{"/v1"}, Denied: 1}, s.Policies[0])
	assert.Equal(t, 1, s.Store.Keys)
	assert.NotContains(t, w.Body.String(), "192.0.2.1", "stats never name clients")

	assert.Equal(t, http.StatusMethodNotAllowed, do(h, "POST", "/admin/ratelimit", "192.0.2.1:1").Code)
	w = do(h, "GET", "/admin/nope", "192.0.2.1:1")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Contains(t, w.Body.String(), `"code":"not_found"`)
}

func TestConcurrentMiddleware(t *testing.T) {
	c := newClock()
	l := newLimiter(t, c, ratelimit.Config{Policies: []ratelimit.Policy{{Name: "a", Limit: 50}, {Name: "b", Limit: 80, Key: ratelimit.Global}}})
	h := l.Middleware(okHandler)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 25 {
				w := do(h, "GET", "/", fmt.Sprintf("192.0.2.%d:1", g%2))
				mu.Lock()
				codes[w.Code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 80, codes[http.StatusNoContent], "200 requests from two addresses: the global 80 is the binding limit")
	assert.Equal(t, 120, codes[http.StatusTooManyRequests])
}
