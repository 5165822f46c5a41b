package rbac_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/rbac"
)

// testSubject reads the caller from test headers: X-Subject, and
// comma-separated X-Roles and X-Groups. A real host reads its
// authenticated Principal instead.
func testSubject(r *http.Request) (rbac.Subject, bool) {
	id := r.Header.Get("X-Subject")
	if id == "" {
		return rbac.Subject{}, false
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	return rbac.Subject{ID: id, Roles: split(r.Header.Get("X-Roles")), Groups: split(r.Header.Get("X-Groups"))}, true
}

type harness struct {
	t *testing.T
	a *rbac.Authorizer
	h http.Handler
}

func newHarness(t *testing.T) *harness {
	a := newAuthorizer(t, rbac.Config{
		Subject:      testSubject,
		MaxBodyBytes: 4096,
		Lookup: func(_ context.Context, id string) (rbac.Subject, error) {
			switch id {
			case "alice":
				return rbac.Subject{Roles: []string{"reader"}, Groups: []string{"staff"}}, nil
			case "root":
				return rbac.Subject{}, nil
			}
			return rbac.Subject{}, fmt.Errorf("no client %q: %w", id, rbac.ErrNotFound)
		},
	})
	mustRole(t, a, "reader", []string{"roles.read"}, nil)
	return &harness{t: t, a: a, h: a.Handler()}
}

// do sends a request as subject (none if empty) with the given roles.
func (h *harness) do(method, path, subject, roles, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if subject != "" {
		req.Header.Set("X-Subject", subject)
		req.Header.Set("X-Roles", roles)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "body %s", rec.Body)
	return v
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	body := decode[map[string]string](t, rec)
	assert.NotEmpty(t, body["error"], "error message in %s", rec.Body)
	return body["code"]
}

func TestHandlerRoleLifecycle(t *testing.T) {
	h := newHarness(t)
	role := `{"name":"ops","description":"operators","permissions":{"allow":["keys.*","orchestrator.batch.*"],"deny":["keys.delete"]},"extensions":["datamigrator"]}`
	rec := h.do("POST", "/admin/roles", "root", "", role)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	created := decode[rbac.Role](t, rec)
	assert.Equal(t, "ops", created.Name)
	assert.Equal(t, []string{"keys.*", "orchestrator.batch.*"}, created.Permissions.Allow)
	assert.False(t, created.CreatedAt.IsZero())

	rec = h.do("GET", "/admin/role/ops", "alice", "reader", "")
	require.Equal(t, http.StatusOK, rec.Code, "reader may read roles")
	assert.Equal(t, "operators", decode[rbac.Role](t, rec).Description)

	rec = h.do("PUT", "/admin/role/ops", "root", "", `{"permissions":{"allow":["keys.read"]}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"keys.read"}, decode[rbac.Role](t, rec).Permissions.Allow)

	rec = h.do("POST", "/admin/assignments", "root", "", `{"group":"staff","roles":["ops"]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = h.do("GET", "/admin/assignments", "root", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	as := decode[[]rbac.Assignment](t, rec)
	require.Len(t, as, 1)
	assert.Equal(t, "staff", as[0].Group)
	assert.Equal(t, "1", rec.Header().Get("X-Total-Count"))

	rec = h.do("GET", "/admin/user/alice/roles", "root", "", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	e := decode[rbac.Effective](t, rec)
	assert.Equal(t, []string{"ops", "reader"}, e.Roles, "alice's own role and her group's")
	assert.Equal(t, []string{"keys.read", "roles.read"}, e.Permissions.Allow)

	rec = h.do("GET", "/admin/user/alice/roles?permission=keys.read", "root", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	d := decode[struct{ Decision rbac.Decision }](t, rec).Decision
	assert.True(t, d.Allowed)
	assert.Equal(t, "ops", d.Role)

	rec = h.do("DELETE", "/admin/role/ops", "root", "", "")
	assert.Equal(t, http.StatusConflict, rec.Code, "ops is still assigned")
	assert.Contains(t, rec.Body.String(), "staff")
	rec = h.do("DELETE", "/admin/assignment/staff", "root", "", "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	rec = h.do("DELETE", "/admin/role/ops", "root", "", "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	rec = h.do("GET", "/admin/role/ops", "root", "", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func TestHandlerOwnRoles(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/roles", "alice", "reader", "")
	require.Equal(t, http.StatusOK, rec.Code)
	e := decode[rbac.Effective](t, rec)
	assert.Equal(t, "alice", e.Subject)
	assert.Equal(t, []string{"reader"}, e.Roles)
	assert.Equal(t, rbac.Permissions{Allow: []string{"roles.read"}, Deny: []string{}}, e.Permissions)

	rec = h.do("GET", "/roles", "", "", "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "missing_credentials", errorCode(t, rec))
	assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
}

func TestHandlerPaging(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		mustRole(t, h.a, fmt.Sprintf("role%d", i), []string{"x"}, nil)
	}
	rec := h.do("GET", "/admin/roles?limit=2&offset=2", "root", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	roles := decode[[]rbac.Role](t, rec)
	require.Len(t, roles, 2)
	assert.Equal(t, []string{"role0", "role1"}, []string{roles[0].Name, roles[1].Name}, "sorted admin, reader, role0..role4; offset 2 starts at role0")
	assert.Equal(t, "7", rec.Header().Get("X-Total-Count"))
	assert.Contains(t, rec.Header().Get("Link"), "offset=4")
	rec = h.do("GET", "/admin/roles?offset=100", "root", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "[]", strings.TrimSpace(rec.Body.String()))
}

func TestHandlerBadInput(t *testing.T) {
	h := newHarness(t)
	mustRole(t, h.a, "ops", []string{"keys.*"}, nil)
	big := `{"name":"x","description":"` + strings.Repeat("a", 5000) + `"}`
	tests := []struct {
		name, method, path, subject, roles, body string
		status                                   int
		code                                     string
	}{
		{"no subject", "GET", "/admin/roles", "", "", "", 401, "missing_credentials"},
		{"no subject on a write", "POST", "/admin/roles", "", "", `{"name":"x"}`, 401, "missing_credentials"},
		{"read without roles.read", "GET", "/admin/roles", "bob", "", "", 403, "forbidden"},
		{"write with read only", "POST", "/admin/roles", "alice", "reader", `{"name":"x"}`, 403, "forbidden"},
		{"delete with read only", "DELETE", "/admin/role/ops", "alice", "reader", "", 403, "forbidden"},
		{"assign with read only", "POST", "/admin/assignments", "alice", "reader", `{"group":"g","roles":[]}`, 403, "forbidden"},
		{"malformed JSON", "POST", "/admin/roles", "root", "", `{"name":`, 400, "invalid_json"},
		{"wrong type", "POST", "/admin/roles", "root", "", `{"name":7}`, 400, "invalid_field"},
		{"unknown field", "POST", "/admin/roles", "root", "", `{"name":"x","builtin":true}`, 400, "unknown_field"},
		{"oversized body", "POST", "/admin/roles", "root", "", big, 413, "body_too_large"},
		{"invalid pattern", "POST", "/admin/roles", "root", "", `{"name":"x","permissions":{"allow":["a.>.b"]}}`, 400, "invalid_field"},
		{"empty token", "POST", "/admin/roles", "root", "", `{"name":"x","permissions":{"deny":["a..b"]}}`, 400, "invalid_field"},
		{"invalid name", "POST", "/admin/roles", "root", "", `{"name":"a b"}`, 400, "invalid_field"},
		{"duplicate role", "POST", "/admin/roles", "root", "", `{"name":"ops"}`, 409, "conflict"},
		{"unknown role", "GET", "/admin/role/ghost", "root", "", "", 404, "not_found"},
		{"update unknown role", "PUT", "/admin/role/ghost", "root", "", `{}`, 404, "not_found"},
		{"rename", "PUT", "/admin/role/ops", "root", "", `{"name":"other"}`, 400, "invalid_field"},
		{"update malformed", "PUT", "/admin/role/ops", "root", "", `[`, 400, "invalid_json"},
		{"update invalid pattern", "PUT", "/admin/role/ops", "root", "", `{"permissions":{"allow":["x y"]}}`, 400, "invalid_field"},
		{"delete unknown role", "DELETE", "/admin/role/ghost", "root", "", "", 404, "not_found"},
		{"delete admin", "DELETE", "/admin/role/admin", "root", "", "", 409, "conflict"},
		{"empty admin", "PUT", "/admin/role/admin", "root", "", `{"permissions":{"allow":[]}}`, 409, "conflict"},
		{"assign malformed", "POST", "/admin/assignments", "root", "", `{"group":`, 400, "invalid_json"},
		{"assign unknown role", "POST", "/admin/assignments", "root", "", `{"group":"g","roles":["ghost"]}`, 400, "invalid_field"},
		{"assign no group", "POST", "/admin/assignments", "root", "", `{"roles":["ops"]}`, 400, "invalid_field"},
		{"unassign unknown group", "DELETE", "/admin/assignment/ghosts", "root", "", "", 404, "not_found"},
		{"unknown subject", "GET", "/admin/user/nobody/roles", "root", "", "", 404, "not_found"},
		{"bad limit", "GET", "/admin/roles?limit=0", "root", "", "", 400, "invalid_parameter"},
		{"bad offset", "GET", "/admin/assignments?offset=-1", "root", "", "", 400, "invalid_parameter"},
		{"wrong method", "PATCH", "/admin/role/ops", "root", "", "", 405, "method_not_allowed"},
		{"unknown route", "GET", "/admin/nothing", "root", "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(tt.method, tt.path, tt.subject, tt.roles, tt.body)
			assert.Equal(t, tt.status, rec.Code, "%s %s: %s", tt.method, tt.path, rec.Body)
			assert.Equal(t, tt.code, errorCode(t, rec), "%s %s", tt.method, tt.path)
		})
	}
	// Nothing was lost or changed by the refused requests.
	ops, err := h.a.GetRole(ctx, "ops")
	require.NoError(t, err)
	assert.Equal(t, []string{"keys.*"}, ops.Permissions.Allow)
	roles, err := h.a.ListRoles(ctx)
	require.NoError(t, err)
	assert.Len(t, roles, 3, "admin, ops, reader")
}

func TestRequire(t *testing.T) {
	h := newHarness(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	guarded := h.a.Require("roles.read")(ok)
	for _, tt := range []struct {
		subject, roles string
		status         int
	}{{"alice", "reader", 204}, {"bob", "", 403}, {"", "", 401}, {"root", "", 204}} {
		req := httptest.NewRequest("GET", "/x", nil)
		if tt.subject != "" {
			req.Header.Set("X-Subject", tt.subject)
			req.Header.Set("X-Roles", tt.roles)
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		assert.Equal(t, tt.status, rec.Code, "subject %q roles %q", tt.subject, tt.roles)
		if tt.status == 403 {
			assert.Contains(t, rec.Body.String(), "permission denied: roles.read", "the 403 names the permission")
		}
	}
	assert.Panics(t, func() { h.a.Require("a..b") }, "an invalid permission is a wiring mistake")

	noSubject := newAuthorizer(t, rbac.Config{})
	rec := httptest.NewRecorder()
	noSubject.Require("x")(ok).ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "without Config.Subject nothing is let through")
}
