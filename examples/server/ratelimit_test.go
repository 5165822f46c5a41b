package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRateLimits drives the platform's classes over real HTTP from one
// address (127.0.0.1): the 21st login attempt in a minute gets 429 with the
// headers, other classes keep their own budget, and the public routes are
// never limited.
func TestRateLimits(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})

	start := time.Now()
	admin := s.login("admin", "correct-horse-battery") // attempt 1
	// Attempts 2 to 20 are malformed, so that the burst takes well under
	// the 3 s in which one token refills (a password check under -race
	// takes a good part of that) and auth's own per-account guard, which
	// answers 429 too, stays out of the way. The limiter counts requests to
	// the route, whatever their body.
	for i := 2; i <= 20; i++ {
		r := s.do("POST", "/auth/login", "", `{"username":"admin",`)
		require.Equal(t, http.StatusBadRequest, r.status, "attempt %d is refused by auth, not by the limiter: %s", i, r.body)
		require.Equal(t, strconv.Itoa(20-i), r.header.Get("X-RateLimit-Remaining"), "attempt %d", i)
	}
	r := s.do("POST", "/auth/login", "", `{"username":"admin","password":"correct-horse-battery"}`)
	if elapsed := time.Since(start); elapsed >= 3*time.Second {
		// A token refilled while the attempts ran (a very slow machine):
		// the limit still holds, one attempt later per 3 s.
		t.Logf("20 attempts took %v", elapsed)
		for extra := 0; r.status != http.StatusTooManyRequests && extra < int(elapsed/(3*time.Second)); extra++ {
			r = s.do("POST", "/auth/login", "", `{"username":"admin","password":"correct-horse-battery"}`)
		}
	}
	require.Equal(t, http.StatusTooManyRequests, r.status, "the 21st login attempt: %s", r.body)
	assert.Equal(t, "rate_limited", field(t, r.body, "code"))
	assert.Equal(t, "20", r.header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err, "X-RateLimit-Reset is Unix seconds")
	assert.InDelta(t, time.Now().Add(time.Minute).Unix(), reset, 5, "the bucket is full again in about a minute")
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.True(t, retry >= 1 && retry <= 3, "one token refills every 3 s: Retry-After %d", retry)
	assert.Equal(t, `"auth";q=20;w=60`, r.header.Get("RateLimit-Policy"))
	assert.Regexp(t, `^"auth";r=0;t=\d+$`, r.header.Get("RateLimit"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), "a 429 carries the security headers")
	assert.NotEmpty(t, r.header.Get("X-Request-Id"))

	// The general class has its own budget.
	r = s.do("GET", "/auth", admin, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "60", r.header.Get("X-RateLimit-Limit"))
	assert.Equal(t, `"general";q=60;w=60`, r.header.Get("RateLimit-Policy"))

	// Public routes: never limited, no headers.
	for i := range 100 {
		for _, path := range []string{"/ping", "/health", "/ready", "/info", "/auth/status", "/auth/jwks"} {
			r := s.do("GET", path, "", "")
			require.Equal(t, http.StatusOK, r.status, "%s, request %d", path, i+1)
			require.Empty(t, r.header.Get("X-RateLimit-Limit"), path)
		}
	}

	// Administrators read the counters.
	r = s.do("GET", "/admin/ratelimit", admin, "")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Regexp(t, `"name":"auth","limit":20,"window_seconds":60,"burst":20,"denied":[1-9]`, r.body)
	assert.NotContains(t, r.body, "127.0.0.1", "the counters name no client")
	assert.Equal(t, http.StatusUnauthorized, s.do("GET", "/admin/ratelimit", "", "").status)
}

func TestRateLimitConfig(t *testing.T) {
	t.Run("classes off and tightened", func(t *testing.T) {
		s := startServer(t, t.TempDir(), map[string]string{
			"PORTICO_ADMIN_PASSWORD": "correct-horse-battery", "PORTICO_RATE_AUTH": "0", "PORTICO_RATE_GENERAL": "2",
		})
		var admin string
		for range 25 {
			r := s.do("POST", "/auth/login", "", `{"username":"admin","password":"correct-horse-battery"}`)
			require.Equal(t, http.StatusOK, r.status, "-rate-auth 0 turns the class off")
			require.Empty(t, r.header.Get("X-RateLimit-Limit"))
			admin = field(t, r.body, "token")
		}
		assert.Equal(t, http.StatusOK, s.do("GET", "/auth", admin, "").status)
		assert.Equal(t, http.StatusOK, s.do("GET", "/auth", admin, "").status)
		assert.Equal(t, http.StatusTooManyRequests, s.do("GET", "/auth", admin, "").status, "the third general request at 2 a minute")
	})

	t.Run("trusted proxy", func(t *testing.T) {
		s := startServer(t, t.TempDir(), map[string]string{
			"PORTICO_ADMIN_PASSWORD": "correct-horse-battery", "PORTICO_RATE_AUTH": "2", "PORTICO_TRUSTED_PROXIES": "127.0.0.1",
		})
		login := func(forwardedFor string) int {
			req, err := http.NewRequest("POST", s.base+"/auth/login", strings.NewReader(`{"username":"nobody","password":"x"}`))
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-For", forwardedFor)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		assert.Equal(t, http.StatusUnauthorized, login("198.51.100.7"))
		assert.Equal(t, http.StatusUnauthorized, login("198.51.100.7"))
		assert.Equal(t, http.StatusTooManyRequests, login("198.51.100.7"), "the client behind the proxy is limited")
		assert.Equal(t, http.StatusUnauthorized, login("198.51.100.8"), "another client behind the same proxy is not")

		admin := s.login("admin", "correct-horse-battery") // from 127.0.0.1 itself: its own bucket
		r := s.do("GET", "/admin/audit?action=login&subject=nobody", admin, "")
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `"ip":"198.51.100.7"`, "the audit log records the address the limiter counted")
	})

	for name, args := range map[string][]string{
		"negative rate":       {"-rate-auth", "-1"},
		"bad trusted proxy":   {"-trusted-proxies", "10.0.0.0/99"},
		"unparsable env rate": nil,
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			if args == nil {
				env["PORTICO_RATE_GENERAL"] = "sixty"
			}
			err := run(t.Context(), append([]string{"-addr", "127.0.0.1:0", "-nats-addr", "off", "-data", t.TempDir()}, args...),
				func(k string) string { return env[k] }, &syncBuffer{}, nil)
			assert.Error(t, err)
		})
	}
}
