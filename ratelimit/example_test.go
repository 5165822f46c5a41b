package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/ratelimit"
)

// Two route classes per client IP, as the example server configures them:
// the authentication routes at 20 a minute, everything else but the public
// routes at 60.
func Example() {
	authRoutes := []string{"POST /auth/login", "GET /usertoken", "POST /keys", "PUT /key/{id}"}
	public := []string{"GET /ping", "GET /health"}
	lim, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "auth", Limit: 20, Window: time.Minute, Routes: authRoutes},
		{Name: "general", Limit: 60, Window: time.Minute, Except: append(authRoutes, public...)},
	}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	h := lim.Middleware(mux)

	var last *httptest.ResponseRecorder
	for range 21 {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest("POST", "/auth/login", nil))
	}
	fmt.Println(last.Code, last.Header().Get("Retry-After"), last.Header().Get("RateLimit"))

	ping := httptest.NewRecorder()
	h.ServeHTTP(ping, httptest.NewRequest("GET", "/ping", nil))
	fmt.Println(ping.Code, ping.Header().Get("X-RateLimit-Limit") == "")
	// Output:
	// 429 3 "auth";r=0;t=60
	// 200 true
}

// Per principal and per API key: the keys come from the authenticated
// caller, so the limiter is mounted inside auth's middleware.
func ExampleByContext() {
	perPrincipal := ratelimit.ByContext(func(ctx context.Context) (string, bool) {
		p, ok := auth.FromContext(ctx)
		return p.Subject, ok
	})
	perAPIKey := ratelimit.ByContext(func(ctx context.Context) (string, bool) {
		p, ok := auth.FromContext(ctx)
		return p.TokenID, ok && p.Kind == auth.KindAPIKey
	})
	lim, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "principal", Limit: 600, Window: time.Minute, Key: perPrincipal},
		{Name: "apikey", Limit: 10, Window: time.Second, Burst: 50, Key: perAPIKey},
	}})
	if err != nil {
		panic(err)
	}
	ctx := auth.NewContext(context.Background(), auth.Principal{Subject: "alice", Kind: auth.KindToken})
	r := httptest.NewRequest("GET", "/things", nil).WithContext(ctx)
	d, err := lim.Check(r)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Allowed, d.Policy, d.Remaining)
	// Output: true principal 599
}

// Per endpoint prefix: every path under a prefix shares its bucket.
func ExampleLimiter_Allow() {
	lim, err := ratelimit.New(ratelimit.Config{Policies: []ratelimit.Policy{
		{Name: "profiles", Limit: 2, Window: time.Second, Prefixes: []string{"/v1/clusterprofiles"}},
	}})
	if err != nil {
		panic(err)
	}
	for _, path := range []string{"/v1/clusterprofiles", "/v1/clusterprofiles/macros", "/v1/clusterprofiles/7"} {
		r := httptest.NewRequest("GET", path, nil)
		d, _ := lim.Check(r)
		fmt.Println(path, d.Allowed)
	}
	d, _ := lim.Allow(context.Background(), "profiles", "192.0.2.1")
	fmt.Println("Allow:", d.Allowed, d.RetryAfter > 0)
	// Output:
	// /v1/clusterprofiles true
	// /v1/clusterprofiles/macros true
	// /v1/clusterprofiles/7 false
	// Allow: false true
}

// A Store over a backend of its own loads the bucket of every hit, lets
// TakeBuckets decide, and writes the buckets back, all under one lock or
// transaction; here the backend is a map.
func ExampleTakeBuckets() {
	held := map[string]*ratelimit.Bucket{}
	take := func(now time.Time, hits ...ratelimit.Hit) int {
		buckets := make([]*ratelimit.Bucket, len(hits))
		for i, h := range hits {
			id := h.Bucket + "\x00" + h.Key
			if held[id] == nil {
				held[id] = new(ratelimit.Bucket) // not held yet: starts full
			}
			buckets[i] = held[id]
		}
		denied, err := ratelimit.TakeBuckets(now, hits, buckets, make([]ratelimit.Level, len(hits)))
		if err != nil {
			panic(err)
		}
		return denied
	}
	now := time.Now()
	login := ratelimit.Hit{Bucket: "auth", Key: "192.0.2.1", Rate: 1, Burst: 2}
	general := ratelimit.Hit{Bucket: "general", Key: "192.0.2.1", Rate: 1, Burst: 5}
	fmt.Println(take(now, general, login), take(now, general, login), take(now, general, login))
	fmt.Println(held["general\x00192.0.2.1"].TokensAt(now), "tokens left: the denied take took none")
	// Output:
	// -1 -1 1
	// 3 tokens left: the denied take took none
}
