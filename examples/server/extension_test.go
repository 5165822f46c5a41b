package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExtensions runs an extension's life through the server: its own API
// key registers it with an OpenAPI document, callers reach it through the
// proxy as far as their roles let them, the extension verifies who calls
// against the platform's JWKS, and the aggregated document follows the
// registry.
func TestExtensions(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})
	admin := s.login("admin", "correct-horse-battery")

	// The platform's signing key, as an extension would fetch it.
	r := s.do("GET", "/auth/jwks", "", "")
	require.Equal(t, 200, r.status)
	var jwks struct{ Keys []struct{ Kid, X string } }
	require.NoError(t, json.Unmarshal([]byte(r.body), &jwks))
	require.NotEmpty(t, jwks.Keys)
	pub, err := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	require.NoError(t, err)

	// The extension: it answers with who the platform says is calling.
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" { // the registry's checks, which can land at any time
			return
		}
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		var claims jwt.MapClaims
		_, err := jwt.ParseWithClaims(r.Header.Get("X-Portico-Identity"), &claims, func(*jwt.Token) (any, error) {
			return ed25519.PublicKey(pub), nil
		}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("billing"), jwt.WithExpirationRequired())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "caller": claims["sub"]})
	}))
	defer upstream.Close()

	// A service client, and its key for the billing extension (only an
	// administrator grants an identifier).
	r = s.do("POST", "/auth/clients/create", admin, `{"client_id":"billing-svc","password":"billing-svc-password","roles":[]}`)
	require.Equal(t, 201, r.status, r.body)
	r = s.do("POST", "/keys", admin, `{"name":"billing","client_id":"billing-svc","identifier":"billing"}`)
	require.Equal(t, 201, r.status, r.body)
	key := field(t, r.body, "token")

	doc := `{"openapi":"3.0.3","info":{"title":"Billing","version":"1"},"paths":{"/invoices":{"get":{"operationId":"list",
		"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Invoice"}}}}}}}},
		"components":{"schemas":{"Invoice":{"type":"object"}}}}`
	reg := `{"prefix":"billing","name":"Billing","upstream":"` + upstream.URL + `","openapi":` + doc + `,"features":["invoices"]}`
	r = s.do("POST", "/extensions", key, reg)
	require.Equal(t, 201, r.status, r.body)
	assert.Equal(t, "billing-svc", field(t, r.body, "owner"))
	r = s.do("POST", "/extensions", key, strings.Replace(reg, `"billing"`, `"other"`, 1))
	assert.Equal(t, 403, r.status, "the key registers only its own extension: %s", r.body)

	// The administrator sees everything and calls through the proxy.
	r = s.do("GET", "/extension/billing/invoices?year=2026", admin, "")
	require.Equal(t, 200, r.status, r.body)
	assert.JSONEq(t, `{"path":"/invoices","caller":"admin"}`, r.body, "the extension verified the platform's assertion")
	assert.NotEmpty(t, r.header.Get("X-Request-Id"))
	assert.Equal(t, "DENY", r.header.Get("X-Frame-Options"))
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	assert.Empty(t, last.Get("Authorization"), "the caller's token never reaches the extension")
	assert.Equal(t, "127.0.0.1", last.Get("X-Forwarded-For"))

	r = s.do("GET", "/extensions/features", admin, "")
	assert.JSONEq(t, `{"features":[{"name":"invoices","extensions":["billing"]}]}`, r.body)

	// A user sees only what a role lists.
	r = s.do("POST", "/auth/clients/create", admin, `{"client_id":"alice","password":"alice-password","roles":[],"groups":["finance"]}`)
	require.Equal(t, 201, r.status, r.body)
	alice := s.login("alice", "alice-password")
	assert.Equal(t, 404, s.do("GET", "/extension/billing/invoices", alice, "").status, "no role lists billing")
	assert.Equal(t, "[]\n", s.do("GET", "/extensions/all", alice, "").body)
	r = s.do("POST", "/admin/roles", admin, `{"name":"finance","permissions":{"allow":["auth.self","extensions.*"]},"extensions":["billing"]}`)
	require.Equal(t, 201, r.status, r.body)
	r = s.do("POST", "/admin/assignments", admin, `{"group":"finance","roles":["finance"]}`)
	require.Equal(t, 200, r.status, r.body)
	alice = s.login("alice", "alice-password")
	r = s.do("GET", "/extension/billing/invoices", alice, "")
	require.Equal(t, 200, r.status, r.body)
	assert.JSONEq(t, `{"path":"/invoices","caller":"alice"}`, r.body)
	assert.Equal(t, 403, s.do("DELETE", "/extension/billing", alice, "").status)

	// The aggregated document is public and follows the registry.
	r = s.do("GET", "/openapi", "", "")
	require.Equal(t, 200, r.status, r.body)
	assert.Contains(t, r.body, `"/api/v1/extension/billing/invoices"`)
	assert.Contains(t, r.body, `"#/components/schemas/billing.Invoice"`)
	etag := r.header.Get("ETag")
	require.NotEmpty(t, etag)
	r = s.do("GET", "/docs", "", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.body, "swagger-ui")

	for _, tt := range []struct {
		method, path, token string
		status              int
	}{
		{"GET", "/extension/billing/invoices", "", 401},
		{"GET", "/extension/billing/invoices", "not-a-token", 401},
		{"GET", "/extension/nope/x", admin, 404},
		{"GET", "/extension/billing/..%2f..%2fadmin", admin, 400},
		{"POST", "/extensions", admin, 400},
		{"POST", "/extensions", "", 401},
	} {
		r = s.do(tt.method, tt.path, tt.token, "")
		assert.Equal(t, tt.status, r.status, "%s %s: %s", tt.method, tt.path, r.body)
	}
	r = s.do("POST", "/extensions", admin, `{"prefix":`)
	assert.Equal(t, 400, r.status)
	r = s.do("POST", "/extensions", admin, `{"prefix":"big","name":"n","upstream":"http://a","openapi":{"x":"`+strings.Repeat("y", 1<<20)+`"}}`)
	assert.Equal(t, 413, r.status)

	// The extension removes itself; its routes leave the document.
	assert.Equal(t, 204, s.do("DELETE", "/extension/billing", key, "").status)
	r = s.do("GET", "/openapi", "", "")
	require.Equal(t, 200, r.status)
	assert.NotEqual(t, etag, r.header.Get("ETag"))
	assert.NotContains(t, r.body, "billing")
	assert.Equal(t, 404, s.do("GET", "/extension/billing/invoices", admin, "").status)
}

// TestValidateRequests runs the server with -validate-requests: a proxied
// request that does not match the extension's document is answered 400
// and never reaches the extension.
func TestValidateRequests(t *testing.T) {
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			calls.Add(1)
		}
	}))
	defer upstream.Close()
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery", "PORTICO_VALIDATE_REQUESTS": "true"})
	admin := s.login("admin", "correct-horse-battery")
	doc := `{"openapi":"3.0.3","info":{"title":"Billing","version":"1"},"paths":{"/invoices":{"get":{"operationId":"list",
		"parameters":[{"name":"limit","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"ok"}}}}}}`
	r := s.do("POST", "/extensions", admin, `{"prefix":"billing","name":"Billing","upstream":"`+upstream.URL+`","openapi":`+doc+`}`)
	require.Equal(t, 201, r.status, r.body)

	r = s.do("GET", "/extension/billing/invoices?limit=abc", admin, "")
	assert.Equal(t, 400, r.status, r.body)
	assert.Equal(t, "request_invalid", field(t, r.body, "code"))
	assert.Zero(t, calls.Load(), "the extension never saw it")
	assert.Equal(t, 200, s.do("GET", "/extension/billing/invoices?limit=5", admin, "").status)
	assert.Equal(t, 200, s.do("GET", "/extension/billing/undocumented", admin, "").status)
	assert.EqualValues(t, 2, calls.Load())
}
