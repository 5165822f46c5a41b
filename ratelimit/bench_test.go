package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/portico-dev/portico/ratelimit"
)

// benchLimiter returns a limiter tracking n keys (already in the store),
// the keys, and the heap each tracked key costs.
func benchLimiter(b *testing.B, n int) (*ratelimit.Limiter, []string, float64) {
	b.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	// Headroom over n: keys spread unevenly over the shards, and a shard
	// at its share of the cap would evict, which is not what this measures.
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: 2 * n})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := ratelimit.New(ratelimit.Config{Store: store, Now: func() time.Time { return now },
		Policies: []ratelimit.Policy{{Name: "p", Limit: 1 << 30}}})
	if err != nil {
		b.Fatal(err)
	}
	before := heapInUse()
	for _, k := range keys {
		if _, err := l.Allow(context.Background(), "p", k); err != nil {
			b.Fatal(err)
		}
	}
	return l, keys, float64(heapInUse()-before) / float64(n)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkAllow is the decision over the memory store: go test -run '^$'
// -bench Allow -benchmem ./ratelimit/
func BenchmarkAllow(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%dk/serial", n/1000), func(b *testing.B) {
			l, keys, perKey := benchLimiter(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := l.Allow(ctx, "p", keys[i%n]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perKey, "B/key")
		})
		b.Run(fmt.Sprintf("keys=%dk/parallel", n/1000), func(b *testing.B) {
			l, keys, _ := benchLimiter(b, n)
			ctx := context.Background()
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 7919
				for pb.Next() {
					i++
					if _, err := l.Allow(ctx, "p", keys[i%n]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkNaiveMap is the baseline the sharded store is measured against:
// one map of rate.Limiters by key, without (serial) and behind one mutex
// (parallel), at 100k keys.
func BenchmarkNaiveMap(b *testing.B) {
	const n = 100_000
	keys := make([]string, n)
	m := make(map[string]*rate.Limiter, n)
	for i := range keys {
		keys[i] = "198.51." + strconv.Itoa(i)
		m[keys[i]] = rate.NewLimiter(1<<30, 1<<30)
	}
	now := time.Now()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			m[keys[i%n]].AllowN(now, 1)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var mu sync.Mutex
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				mu.Lock()
				m[keys[i%n]].AllowN(now, 1)
				mu.Unlock()
			}
		})
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the middleware rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddleware is the whole middleware with the example server's two
// classes, over 100k client addresses: go test -run '^$' -bench Middleware
// -benchmem ./ratelimit/
func BenchmarkMiddleware(b *testing.B) {
	authRoutes := []string{"POST /api/v1/auth/login", "GET /api/v1/usertoken", "POST /api/v1/keys", "PUT /api/v1/key/{id}"}
	public := []string{"GET /api/v1/ping", "GET /api/v1/health", "GET /api/v1/ready", "GET /api/v1/info", "GET /api/v1/auth/status", "GET /api/v1/auth/jwks"}
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	l, err := ratelimit.New(ratelimit.Config{Store: store, Policies: []ratelimit.Policy{
		{Name: "auth", Limit: 1 << 30, Routes: authRoutes},
		{Name: "general", Limit: 1 << 30, Except: append(append([]string{}, authRoutes...), public...)},
	}})
	if err != nil {
		b.Fatal(err)
	}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := l.Middleware(noop)
	// 100k client addresses, so the store holds 100k buckets and most
	// lookups miss the cache, as with real traffic from many clients. A
	// server has just parsed the request it hands the middleware, so the
	// benchmark reuses a few request objects (warm) and gives them each
	// address in turn.
	const n = 100_000
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
	}
	limited := make([]*http.Request, 16)
	for i := range limited {
		limited[i] = httptest.NewRequest(http.MethodGet, "/api/v1/key/k"+strconv.Itoa(i), nil)
	}
	ping := []*http.Request{httptest.NewRequest(http.MethodGet, "/api/v1/ping", nil)}
	for _, bench := range []struct {
		name    string
		handler http.Handler
		reqs    []*http.Request
	}{{"limited", h, limited}, {"public", h, ping}, {"bare", noop, limited}} {
		reqs := bench.reqs
		b.Run(bench.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				clear(w.h)
				r := reqs[i%len(reqs)]
				r.RemoteAddr = addrs[i%n]
				bench.handler.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkAllowHotKey is the decision's CPU cost without cache misses:
// one key, over and over.
func BenchmarkAllowHotKey(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{{Name: "p", Limit: 1 << 30}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for range b.N {
		if _, err := l.Allow(ctx, "p", "198.51.100.7"); err != nil {
			b.Fatal(err)
		}
	}
}
