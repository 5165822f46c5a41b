package extension_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
)

func TestHealthCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	block := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/healthz":
			w.WriteHeader(int(status.Load()))
		case "/base/slow":
			select {
			case <-block:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()
	defer close(block)

	h := newHarness(t, func(c *extension.Config) { c.HealthTimeout = 100 * time.Millisecond })
	var (
		mu     sync.Mutex
		events []extension.Event
	)
	h.reg.Subscribe(func(ev extension.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Type == extension.EventStatus {
			events = append(events, ev)
		}
	})
	h.register("admin", "billing", upstream.URL+"/base", `,"health_path":"/healthz"`)

	check := func(want extension.Status, why string) extension.Extension {
		t.Helper()
		h.clock.Advance(time.Second)
		e, err := h.reg.Check(ctx, "billing")
		require.NoError(t, err)
		assert.Equal(t, want, e.Status)
		assert.Equal(t, why, e.LastError)
		assert.Equal(t, h.clock.Now(), e.LastCheck)
		return e
	}
	e := check(extension.StatusConnected, "")
	assert.Equal(t, h.clock.Now(), e.LastSeen)
	seen := e.LastSeen

	status.Store(http.StatusServiceUnavailable)
	e = check(extension.StatusDegraded, "status 503")
	assert.Equal(t, seen, e.LastSeen, "last seen is the last passing check")
	check(extension.StatusDegraded, "status 503") // no change, no event

	// The health path moves under a slow endpoint: the check times out.
	h.register("admin", "billing", upstream.URL+"/base", `,"health_path":"/slow"`)
	check(extension.StatusDisconnected, "timeout")

	h.register("admin", "billing", upstream.URL+"/base", `,"health_path":"/healthz"`)
	status.Store(http.StatusNoContent)
	check(extension.StatusConnected, "")

	upstream.Close()
	check(extension.StatusDisconnected, "connection refused")

	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, ev := range events {
		got = append(got, string(ev.Previous)+">"+string(ev.Status))
	}
	assert.Equal(t, []string{"disconnected>connected", "connected>degraded", "disconnected>connected", "connected>disconnected"}, got,
		"one event per change; a re-registration to a new health path resets the status without an event of its own")

	_, err := h.reg.Check(ctx, "nope")
	assert.ErrorIs(t, err, extension.ErrNotFound)
}

// TestRun checks that Run checks a new extension at once and every one on
// each tick, through Config.Transport.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := map[string]int{}
		reg, err := extension.New(extension.Config{
			IsAdmin:        isAdmin,
			HealthInterval: time.Minute,
			Logger:         discard(),
			Transport: func(e extension.Extension) http.RoundTripper {
				return roundTrip(func(r *http.Request) (*http.Response, error) {
					mu.Lock()
					defer mu.Unlock()
					calls[e.Prefix]++
					return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
				})
			},
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- reg.Run(ctx) }()

		_, _, err = reg.Register(ctx, principals["admin"], extension.Extension{Prefix: "a", Name: "a", Upstream: "http://a.internal"})
		require.NoError(t, err)
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, map[string]int{"a": 1}, calls, "checked as soon as registered")
		mu.Unlock()
		e, err := reg.Get(ctx, principals["admin"], "a")
		require.NoError(t, err)
		assert.Equal(t, extension.StatusConnected, e.Status)

		_, _, err = reg.Register(ctx, principals["admin"], extension.Extension{Prefix: "b", Name: "b", Upstream: "http://b.internal"})
		require.NoError(t, err)
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		mu.Lock()
		assert.Equal(t, map[string]int{"a": 2, "b": 2}, calls, "then every interval")
		mu.Unlock()

		cancel()
		assert.NoError(t, <-done)
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
