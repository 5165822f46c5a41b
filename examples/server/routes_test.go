package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlatformDocumentMatchesRoutes keeps the API document and the server
// in step, from the outside: the document served at /openapi is a valid
// OpenAPI 3.0 document, every operation it lists is routed (the server's
// mux does not answer "no such route" or 405), and every operation it
// says needs credentials answers 401 without them while every public
// one does not. The routes and the document come from one table, so a
// route cannot be served undocumented; this test catches a table entry
// the server does not actually serve, or whose access is described
// wrongly.
func TestPlatformDocumentMatchesRoutes(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{
		"PORTICO_ADMIN_PASSWORD":  "correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM": "off", // no fetches beyond loopback
		"PORTICO_RATE_GENERAL":    "0",
		"PORTICO_RATE_AUTH":       "0",
	})
	r := s.do("GET", "/openapi", "", "")
	require.Equal(t, http.StatusOK, r.status)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(r.body))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context), "the served document validates")

	param := regexp.MustCompile(`\{[a-z]+\}`)
	ops := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops++
			url := param.ReplaceAllStringFunc(strings.TrimPrefix(path, "/api/v1"), func(p string) string {
				if p == "{path}" {
					return "x/y.js"
				}
				return "x"
			})
			name := method + " " + path
			assert.NotEmpty(t, op.Summary, "%s has a summary", name)
			assert.NotEmpty(t, op.Tags, "%s has a tag", name)
			r := s.do(method, url, "", "")
			var body struct{ Error, Code string }
			if r.status >= 400 && method != http.MethodHead {
				require.NoError(t, json.Unmarshal([]byte(r.body), &body), "%s answers a JSON error: %q", name, r.body)
			}
			assert.False(t, r.status == http.StatusNotFound && strings.HasPrefix(body.Error, "no such route"), "%s is routed", name)
			assert.NotEqual(t, http.StatusMethodNotAllowed, r.status, "%s is routed", name)
			secured := op.Security != nil && len(*op.Security) > 0
			if secured {
				assert.Equal(t, http.StatusUnauthorized, r.status, "%s needs credentials: %s", name, r.body)
				assert.NotEmpty(t, r.header.Get("WWW-Authenticate"), name)
			} else {
				assert.NotEqual(t, http.StatusUnauthorized, r.status, "%s is public: %s", name, r.body)
			}
		}
	}
	want := 0
	for _, r := range newTestPlatform(t).routes() {
		if strings.Contains(r.pattern, " ") {
			want++
		} else {
			want += len(anyMethods)
		}
	}
	assert.Equal(t, want, ops, "every route of the table is in the served document")

	// The contract's routes are all there (DESIGN.md, the implemented
	// areas).
	for _, want := range []string{
		"GET /ping", "GET /health", "GET /ready", "GET /info", "GET /auth/status", "GET /auth/jwks",
		"POST /auth/login", "POST /auth/refresh", "GET /auth", "DELETE /auth", "POST /auth/logout",
		"GET /auth/tokens", "POST /auth/tokens", "DELETE /auth/tokens", "GET /auth/tokens/all",
		"DELETE /auth/tokens/all", "POST /auth/tokens/cleanup", "GET /auth/tokens/{tid}", "DELETE /auth/tokens/{tid}",
		"GET /auth/clients", "POST /auth/clients", "POST /auth/clients/create", "POST /auth/clients/register",
		"GET /auth/clients/all", "GET /auth/clients/{id}", "POST /auth/clients/{id}", "DELETE /auth/clients/{id}",
		"DELETE /auth/clients/{id}/roles", "POST /auth/clients/{id}/roles/{role}", "DELETE /auth/clients/{id}/roles/{role}",
		"POST /auth/clients/{id}/enable", "POST /auth/clients/{id}/disable",
		"GET /usertoken", "GET /userinfo", "GET /roles", "POST /keys", "GET /keys", "PUT /key/{id}", "DELETE /key/{id}", "GET /apikey",
		"POST /extensions", "DELETE /extension/{id}", "GET /extensions/all", "GET /extensions/features",
		"GET /extensions/bundles/active", "POST /extensions/{identifier}/bundle/{version}", "GET /extension/{id}",
		"GET /extension/{id}/{path}", "POST /extension/{id}/{path}", "GET /openapi", "GET /docs",
		"GET /admin/roles", "POST /admin/roles", "GET /admin/role/{name}", "PUT /admin/role/{name}", "DELETE /admin/role/{name}",
		"GET /admin/assignments", "POST /admin/assignments", "DELETE /admin/assignment/{group}", "GET /admin/user/{subject}/roles",
		"GET /admin/settings", "PUT /admin/settings", "GET /admin/cdn/status", "GET /admin/bundles",
		"PUT /admin/bundles/{prefix}/active", "DELETE /admin/bundles/{prefix}/{version}", "POST /admin/licenses", "GET /admin/audit",
		"GET /orchestrator/tasks", "GET /orchestrator/tasks/{id}", "POST /orchestrator/workflows", "POST /orchestrator/batch/execute",
		"GET /orchestrator/batch/operations", "GET /orchestrator/batch/operations/{id}", "POST /orchestrator/batch/operations/{id}/cancel",
		"GET /orchestrator/state/workflows/{id}/progress", "GET /orchestrator/state/workflows/{id}/snapshots",
		"GET /orchestrator/state/system/metrics", "GET /orchestrator/state/system/health", "GET /orchestrator/state/statistics",
		"GET /orchestrator/rollback/checkpoints", "POST /orchestrator/rollback/checkpoints", "GET /orchestrator/rollback/checkpoints/{id}",
		"POST /orchestrator/rollback/execute", "POST /orchestrator/rollback/restore/{id}", "GET /orchestrator/rollback/statistics",
		"GET /orchestrator/events", "GET /orchestrator/ws", "GET /orchestrator/webhooks", "POST /orchestrator/webhooks",
		"DELETE /orchestrator/webhooks/{id}", "GET /metrics",
	} {
		method, path, _ := strings.Cut(want, " ")
		if path != "/metrics" {
			path = "/api/v1" + path
		}
		item := doc.Paths.Value(path)
		require.NotNil(t, item, "%s is documented", want)
		assert.NotNil(t, item.GetOperation(method), "%s is documented", want)
	}
}

// TestRouteTable checks the table itself: no pattern twice, and every
// route's access is public, authenticated or a permission some role can
// hold.
func TestRouteTable(t *testing.T) {
	p := newTestPlatform(t)
	seen := map[string]bool{}
	for _, r := range p.routes() {
		assert.False(t, seen[r.pattern], "%s is listed once", r.pattern)
		seen[r.pattern] = true
		assert.NotEmpty(t, r.summary, r.pattern)
		assert.True(t, r.access == public || r.access == authenticated || strings.Contains(r.access, "."),
			"%s: access %q", r.pattern, r.access)
		if strings.HasPrefix(r.pattern, "POST ") || strings.HasPrefix(r.pattern, "PUT ") {
			assert.True(t, slices.Contains([]string{noBody, jsonBody, zipBody}, r.body), r.pattern)
		}
	}
}

func newTestPlatform(t *testing.T) *platform {
	t.Helper()
	env := map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"}
	cfg, err := parseConfig([]string{"-data", t.TempDir(), "-nats-addr", "off"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	p, err := newPlatform(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	require.NoError(t, err)
	t.Cleanup(p.close)
	return p
}
