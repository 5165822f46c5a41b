package extension_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
	"github.com/portico-dev/portico/extension/extensiontest"
)

func TestMemoryStore(t *testing.T) {
	extensiontest.RunStore(t, func(*testing.T) extension.Store { return extension.NewMemoryStore() })
}

func TestRegistryLifecycle(t *testing.T) {
	h := newHarness(t)
	rec := h.do("POST", "/extensions", "admin", `{"prefix":"billing","name":"Billing","description":"Invoices",
		"version":"1.0.0","upstream":"http://127.0.0.1:9/api","openapi":{"openapi":"3.0.3"},
		"features":["invoices","reports","invoices"],"ui":{"menu":"Billing"},"timeout_ms":2500}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	e := decode[extension.Extension](t, rec)
	assert.Equal(t, "billing", e.Prefix)
	assert.Equal(t, []string{"invoices", "reports"}, e.Features, "sorted, deduplicated")
	assert.Equal(t, "/health", e.HealthPath)
	assert.Equal(t, 2500*time.Millisecond, e.Timeout)
	assert.Equal(t, extension.StatusDisconnected, e.Status, "unchecked")
	assert.Empty(t, e.Owner, "registered by an administrator")
	assert.Equal(t, h.clock.Now(), e.CreatedAt)

	rec = h.do("GET", "/extension/billing", "alice", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"openapi":"3.0.3"}`, string(decode[extension.Extension](t, rec).OpenAPI))
	assert.Contains(t, rec.Body.String(), `"timeout_ms":2500`)

	h.register("admin", "orders", "https://orders.internal", `,"features":["reports"]`)
	rec = h.do("GET", "/extensions/all", "alice", "")
	require.Equal(t, http.StatusOK, rec.Code)
	list := decode[[]extension.Extension](t, rec)
	require.Len(t, list, 2)
	assert.Equal(t, "2", rec.Header().Get("X-Total-Count"))
	assert.Equal(t, "billing", list[0].Prefix)
	assert.Nil(t, list[0].OpenAPI, "lists leave documents out")
	rec = h.do("GET", "/extensions/all?limit=1", "alice", "")
	assert.Len(t, decode[[]extension.Extension](t, rec), 1)
	assert.Contains(t, rec.Header().Get("Link"), "offset=1")

	rec = h.do("GET", "/extensions/features", "alice", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"features":[{"name":"invoices","extensions":["billing"]},
		{"name":"reports","extensions":["billing","orders"]}]}`, rec.Body.String())

	// An update replaces what registration sets and keeps the rest.
	h.clock.Advance(time.Minute)
	rec = h.do("POST", "/extensions", "admin", `{"prefix":"billing","name":"Billing 2","upstream":"http://127.0.0.1:9/api"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	e2 := decode[extension.Extension](t, rec)
	assert.Equal(t, "Billing 2", e2.Name)
	assert.Empty(t, e2.Features)
	assert.Nil(t, e2.OpenAPI)
	assert.Equal(t, e.CreatedAt, e2.CreatedAt)
	assert.Equal(t, h.clock.Now(), e2.UpdatedAt)

	rec = h.do("DELETE", "/extension/billing", "admin", "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	for _, tt := range []struct{ method, path string }{
		{"GET", "/extension/billing"}, {"DELETE", "/extension/billing"}, {"GET", "/extension/billing/x"},
	} {
		rec = h.do(tt.method, tt.path, "admin", "")
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s after deregistration", tt.method, tt.path)
		assert.Equal(t, "not_found", errorCode(t, rec))
	}
}

func TestRegistrationByOwnKey(t *testing.T) {
	h := newHarness(t)
	e := h.register("billing-key", "billing", "http://127.0.0.1:9")
	assert.Equal(t, "svc", e.Owner, "a key's registration belongs to its client")
	for _, tt := range []struct {
		caller, prefix string
		status         int
		why            string
	}{
		{"other-key", "billing", http.StatusForbidden, "another extension's key"},
		{"rogue-key", "billing", http.StatusForbidden, "a key naming billing, of another client"},
		{"alice", "billing", http.StatusForbidden, "a user's token"},
		{"alice", "newext", http.StatusForbidden, "a user cannot register anything"},
		{"billing-key", "orders", http.StatusForbidden, "a key registers only its own identifier"},
		{"billing-key", "billing", http.StatusOK, "the key updates its own"},
		{"admin", "billing", http.StatusOK, "an administrator updates any"},
		{"", "billing", http.StatusUnauthorized, "no credentials"},
	} {
		rec := h.do("POST", "/extensions", tt.caller, `{"prefix":"`+tt.prefix+`","name":"n","upstream":"http://127.0.0.1:9"}`)
		assert.Equal(t, tt.status, rec.Code, "%s: %s", tt.why, rec.Body)
	}
	got, err := h.reg.Get(ctx, principals["admin"], "billing")
	require.NoError(t, err)
	assert.Equal(t, "svc", got.Owner, "an administrator's update keeps the owner")

	assert.Equal(t, http.StatusForbidden, h.do("DELETE", "/extension/billing", "rogue-key", "").Code)
	assert.Equal(t, http.StatusForbidden, h.do("DELETE", "/extension/billing", "alice", "").Code)
	assert.Equal(t, http.StatusNoContent, h.do("DELETE", "/extension/billing", "billing-key", "").Code)
}

func TestRegistrationRefusesBadInput(t *testing.T) {
	h := newHarness(t, func(c *extension.Config) { c.MaxDocumentBytes = 1000 })
	long := strings.Repeat("a", 65)
	for _, tt := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"prefix":`, 400, "invalid_json"},
		{`[]`, 400, "invalid_json"},
		{`{"prefix":"x","name":"n","upstream":"http://a","colour":"red"}`, 400, "unknown_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","status":"connected"}`, 400, "invalid_field"},
		{`{"prefix":"","name":"n","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"` + long + `","name":"n","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"Bad","name":"n","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"a/b","name":"n","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"-a","name":"n","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"a\u0000b","upstream":"http://a"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"/relative"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"file:///etc/passwd"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"ftp://a"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://user:pw@a"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a/?q=1"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a/#f"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a/b/../c"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","openapi":[1]}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","openapi":"swagger"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","openapi":{"x":"` + strings.Repeat("y", 1000) + `"}}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","ui":3}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","features":["a b"]}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","features":[""]}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","health_path":"health"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","health_path":"/a/../b"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","timeout_ms":-1}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","timeout_ms":600001}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","timeout_ms":"5"}`, 400, "invalid_field"},
		{`{"prefix":"x","name":"n","upstream":"http://a","openapi":{"x":"` + strings.Repeat("y", 70<<10) + `"}}`, 413, "body_too_large"},
	} {
		rec := h.do("POST", "/extensions", "admin", tt.body)
		name := tt.body[:min(len(tt.body), 90)]
		assert.Equal(t, tt.status, rec.Code, "%s: %s", name, rec.Body)
		assert.Equal(t, tt.code, errorCode(t, rec), name)
	}
	all, err := h.reg.All(ctx)
	require.NoError(t, err)
	assert.Empty(t, all, "nothing bad was kept")

	req := h.do("POST", "/extensions", "admin", "")
	assert.Equal(t, http.StatusBadRequest, req.Code, "empty body")
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/extensions", "nobody", `{}`).Code, "unknown credentials")
	for _, path := range []string{"/extensions/all", "/extensions/features", "/extension/x"} {
		assert.Equal(t, http.StatusUnauthorized, h.do("GET", path, "", "").Code, "%s without credentials", path)
	}
	assert.Equal(t, http.StatusUnauthorized, h.do("DELETE", "/extension/x", "", "").Code)
	assert.Equal(t, http.StatusUnauthorized, h.do("GET", "/extension/x/y", "", "").Code)
	rec := h.do("GET", "/extensions/all?limit=0", "admin", "")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	rec = h.do("PUT", "/extensions/all", "admin", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, http.StatusNotFound, h.do("GET", "/nope", "admin", "").Code)
}

func TestVisibility(t *testing.T) {
	h := newHarness(t)
	h.register("admin", "public", "http://127.0.0.1:9", `,"features":["f"]`)
	h.register("admin", "secret", "http://127.0.0.1:9", `,"features":["f","g"]`)

	list := decode[[]extension.Extension](t, h.do("GET", "/extensions/all", "alice", ""))
	require.Len(t, list, 1)
	assert.Equal(t, "public", list[0].Prefix)
	assert.JSONEq(t, `{"features":[{"name":"f","extensions":["public"]}]}`, h.do("GET", "/extensions/features", "alice", "").Body.String())
	for _, tt := range []struct{ method, path string }{
		{"GET", "/extension/secret"}, {"GET", "/extension/secret/anything"}, {"POST", "/extension/secret/x"},
		{"DELETE", "/extension/secret"},
	} {
		rec := h.do(tt.method, tt.path, "alice", "")
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s is hidden, not forbidden", tt.method, tt.path)
	}
	assert.Len(t, decode[[]extension.Extension](t, h.do("GET", "/extensions/all", "admin", "")), 2)
}

func TestMaxExtensions(t *testing.T) {
	h := newHarness(t, func(c *extension.Config) { c.MaxExtensions = 2 })
	h.register("admin", "a", "http://127.0.0.1:9")
	h.register("admin", "b", "http://127.0.0.1:9")
	rec := h.do("POST", "/extensions", "admin", `{"prefix":"c","name":"c","upstream":"http://127.0.0.1:9"}`)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, "limit_reached", errorCode(t, rec))
	h.register("admin", "a", "http://127.0.0.1:9") // an update is no new extension
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/extension/a", "admin", "").Code)
	h.register("admin", "c", "http://127.0.0.1:9")

	// Concurrent registrations cannot overshoot.
	h = newHarness(t, func(c *extension.Config) { c.MaxExtensions = 3 })
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			h.do("POST", "/extensions", "admin", `{"prefix":"e`+strconv.Itoa(i)+`","name":"n","upstream":"http://127.0.0.1:9"}`)
		})
	}
	wg.Wait()
	all, err := h.reg.All(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 3)
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	var (
		mu     sync.Mutex
		events []extension.Event
	)
	unsubscribe := h.reg.Subscribe(func(ev extension.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, ev)
	})
	h.register("admin", "billing", "http://127.0.0.1:9")
	h.register("admin", "billing", "http://127.0.0.1:9")
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/extension/billing", "admin", "").Code)
	unsubscribe()
	h.register("admin", "after", "http://127.0.0.1:9")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 3)
	for i, want := range []extension.EventType{extension.EventRegistered, extension.EventUpdated, extension.EventDeregistered} {
		assert.Equal(t, want, events[i].Type)
		assert.Equal(t, "billing", events[i].Prefix)
		assert.Equal(t, h.clock.Now(), events[i].At)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]extension.Config{
		"negative timeout":  {ProxyTimeout: -1},
		"negative interval": {HealthInterval: -time.Second},
		"negative max":      {MaxExtensions: -1},
		"empty scheme":      {UpstreamSchemes: []string{""}},
	} {
		_, err := extension.New(cfg)
		assert.Error(t, err, name)
	}
}
