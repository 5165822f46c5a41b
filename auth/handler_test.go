package auth_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

func TestHandlerFlows(t *testing.T) {
	h := newHarness(t, func(c *auth.Config) { c.SelfRegister = true; c.RegisterRoles = []string{"reader"} })
	admin := h.token("admin")

	rec := h.do("POST", "/auth/login", "", `{"username":"alice","password":"`+alicePW+`"}`)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	g := decode[auth.Grant](t, rec)
	assert.NotEmpty(t, g.Token)
	assert.NotEmpty(t, g.RefreshToken)
	for _, field := range []string{`"cid":"alice"`, `"r":["reader","writer"]`, `"cts":"2026-11-23T12:00:00Z"`, `"ets":"2026-11-23T12:15:00Z"`, `"rcid":"alice"`, `"tid":"`} {
		assert.Contains(t, rec.Body.String(), field, "token_data field")
	}
	alice := g.Token

	rec = h.do("GET", "/auth", alice, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"subject":"alice"`)
	assert.Contains(t, rec.Body.String(), `"token_data":{"tid":"`+g.Data.TokenID)

	rec = h.do("GET", "/userinfo", alice, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"name":"Alice"`)
	assert.Contains(t, rec.Body.String(), `"groups":["staff"]`)

	rec = h.do("POST", "/auth/refresh", "", `{"refresh_token":"`+g.RefreshToken+`"}`)
	require.Equal(t, 200, rec.Code, rec.Body.String())

	rec = h.do("POST", "/auth/tokens", alice, `{"roles":["reader"],"token_life":60}`)
	require.Equal(t, 201, rec.Code, rec.Body.String())
	minted := decode[auth.Grant](t, rec)
	assert.Equal(t, []string{"reader"}, minted.Data.Roles)
	assert.Empty(t, minted.RefreshToken, "minted tokens have no refresh token")

	rec = h.do("POST", "/auth/tokens", alice, `{"client_id":"bob","roles":["reader"],"token_life":60}`)
	assert.Equal(t, 403, rec.Code, "alice minting for bob")
	rec = h.do("POST", "/auth/tokens", alice, `{"roles":["admin"],"token_life":60}`)
	assert.Equal(t, 403, rec.Code, "alice minting a role she lacks")
	rec = h.do("POST", "/auth/tokens", alice, `{"roles":["reader"],"token_life":5}`)
	assert.Equal(t, 400, rec.Code, "a 5-second token")
	rec = h.do("POST", "/auth/tokens", admin, `{"client_id":"bob","roles":["ops"],"token_life":3600}`)
	require.Equal(t, 201, rec.Code, "admin minting for bob: %s", rec.Body)
	forBob := decode[auth.Grant](t, rec)
	assert.Equal(t, "admin", forBob.Data.Requester)

	rec = h.do("GET", "/auth/tokens?limit=2", alice, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("X-Total-Count"), "alice's login, refresh and minted tokens")
	assert.Contains(t, rec.Header().Get("Link"), `</auth/tokens?limit=2&offset=2>; rel="next"`)

	rec = h.do("GET", "/auth/tokens/"+minted.Data.TokenID, alice, "")
	assert.Equal(t, 200, rec.Code, "owner reads own token")
	rec = h.do("GET", "/auth/tokens/"+forBob.Data.TokenID, alice, "")
	assert.Equal(t, 404, rec.Code, "alice reading bob's token")
	rec = h.do("DELETE", "/auth/tokens/"+forBob.Data.TokenID, alice, "")
	assert.Equal(t, 404, rec.Code, "alice revoking bob's token")
	rec = h.do("GET", "/auth/tokens/"+forBob.Data.TokenID, admin, "")
	assert.Equal(t, 200, rec.Code, "admin reads bob's token")
	rec = h.do("DELETE", "/auth/tokens/"+minted.Data.TokenID, alice, "")
	require.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"revoked":1}`, rec.Body.String())
	assert.Equal(t, 401, h.do("GET", "/auth", minted.Token, "").Code, "the revoked minted token")

	rec = h.do("GET", "/auth/tokens/all?client_id=bob", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("X-Total-Count"))
	assert.Equal(t, 403, h.do("GET", "/auth/tokens/all", alice, "").Code)
	assert.Equal(t, 403, h.do("POST", "/auth/tokens/cleanup", alice, "").Code)
	rec = h.do("POST", "/auth/tokens/cleanup", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.JSONEq(t, `{"removed":0}`, rec.Body.String())

	// Clients.
	rec = h.do("GET", "/auth/clients", alice, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"client_id":"alice"`)
	assert.NotContains(t, rec.Body.String(), "argon2", "no password hash in client JSON")
	rec = h.do("POST", "/auth/clients", alice, `{"name":"Alice A."}`)
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"name":"Alice A."`)
	rec = h.do("POST", "/auth/clients", alice, `{"password":"new-password-1","current_password":"wrong"}`)
	assert.Equal(t, 400, rec.Code, "password change with the wrong current password")
	rec = h.do("POST", "/auth/clients", alice, `{"password":"new-password-1","current_password":"`+alicePW+`"}`)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, 200, h.do("POST", "/auth/login", "", `{"username":"alice","password":"new-password-1"}`).Code)

	rec = h.do("POST", "/auth/clients/create", admin, `{"client_id":"svc-1","name":"Service","roles":["reader"],"groups":["ops"]}`)
	require.Equal(t, 201, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"last_login":null`)
	assert.Equal(t, 409, h.do("POST", "/auth/clients/create", admin, `{"client_id":"svc-1"}`).Code, "duplicate client")
	assert.Equal(t, 403, h.do("POST", "/auth/clients/create", alice, `{"client_id":"svc-2"}`).Code)
	assert.Equal(t, 400, h.do("POST", "/auth/clients/create", admin, `{"client_id":"all"}`).Code, "reserved id")
	assert.Equal(t, 400, h.do("POST", "/auth/clients/create", admin, `{"client_id":"bad id"}`).Code)
	assert.Equal(t, 400, h.do("POST", "/auth/clients/create", admin, `{"client_id":"x","password":"short"}`).Code)

	rec = h.do("GET", "/auth/clients/all?role=reader", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "3", rec.Header().Get("X-Total-Count"), "alice, bob, svc-1 hold reader")
	assert.Equal(t, 200, h.do("GET", "/auth/clients/alice", alice, "").Code, "self")
	assert.Equal(t, 404, h.do("GET", "/auth/clients/bob", alice, "").Code, "another client, not admin")
	assert.Equal(t, 200, h.do("GET", "/auth/clients/bob", admin, "").Code)

	rec = h.do("POST", "/auth/clients/svc-1/roles/writer", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"roles":["reader","writer"]`)
	rec = h.do("DELETE", "/auth/clients/svc-1/roles/reader", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"roles":["writer"]`)
	rec = h.do("DELETE", "/auth/clients/svc-1/roles", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"roles":[]`)
	rec = h.do("POST", "/auth/clients/svc-1", admin, `{"name":"Renamed","groups":["a","b"],"password":"svc-password-1"}`)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"groups":["a","b"]`)
	assert.Equal(t, 400, h.do("POST", "/auth/clients/svc-1", admin, `{"client_id":"other"}`).Code, "renaming the id")
	rec = h.do("POST", "/auth/clients/svc-1/disable", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"enabled":false`)
	rec = h.do("POST", "/auth/login", "", `{"username":"svc-1","password":"svc-password-1"}`)
	assert.Equal(t, 403, rec.Code, "a disabled client logging in")
	assert.Equal(t, "client_disabled", errorCode(t, rec))
	rec = h.do("POST", "/auth/clients/svc-1/enable", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, 200, h.do("POST", "/auth/login", "", `{"username":"svc-1","password":"svc-password-1"}`).Code)
	assert.Equal(t, 204, h.do("DELETE", "/auth/clients/svc-1", admin, "").Code)
	assert.Equal(t, 404, h.do("DELETE", "/auth/clients/svc-1", admin, "").Code, "deleted twice")

	rec = h.do("POST", "/auth/clients/register", "", `{"client_id":"newbie","password":"newbie-password"}`)
	require.Equal(t, 201, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"roles":["reader"]`)

	// Status and JWKS are public.
	rec = h.do("GET", "/auth/status", "", "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"self_register":true`)
	rec = h.do("GET", "/auth/jwks", "", "")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"kty":"OKP","crv":"Ed25519"`)
	assert.Contains(t, rec.Body.String(), `"kid":"`+h.key.ID+`"`)

	// Logout, both spellings.
	assert.Equal(t, 204, h.do("POST", "/auth/logout", alice, "").Code)
	assert.Equal(t, 401, h.do("GET", "/auth", alice, "").Code, "after logout")
	bob := h.token("bob")
	assert.Equal(t, 204, h.do("DELETE", "/auth", bob, "").Code)
	assert.Equal(t, 401, h.do("GET", "/auth", bob, "").Code, "after DELETE /auth")

	// Revoke all own tokens; admin revokes everything.
	a1 := h.login("alice", "new-password-1").Token
	rec = h.do("DELETE", "/auth/tokens", a1, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, 401, h.do("GET", "/auth", a1, "").Code)
	b1 := h.token("bob")
	rec = h.do("DELETE", "/auth/tokens/all", admin, "")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, 401, h.do("GET", "/auth", b1, "").Code)
}

func TestHandlerMFA(t *testing.T) {
	h := newHarness(t)
	alice := h.token("alice")
	rec := h.do("POST", "/auth/mfa", alice, "")
	require.Equal(t, 200, rec.Code)
	enr := decode[auth.MFAEnrollment](t, rec)
	assert.Equal(t, 401, h.do("POST", "/auth/mfa/confirm", alice, `{"code":"000000"}`).Code)
	require.Equal(t, 204, h.do("POST", "/auth/mfa/confirm", alice, `{"code":"`+totpCode(t, enr.Secret, h.clock.Now())+`"}`).Code)

	rec = h.do("POST", "/auth/login", "", `{"username":"alice","password":"`+alicePW+`"}`)
	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, "mfa_required", errorCode(t, rec))
	h.clock.Advance(30e9)
	rec = h.do("POST", "/auth/login", "", `{"username":"alice","password":"`+alicePW+`","mfa_code":"`+totpCode(t, enr.Secret, h.clock.Now())+`"}`)
	assert.Equal(t, 200, rec.Code, rec.Body.String())

	admin := h.token("admin")
	assert.Equal(t, 204, h.do("DELETE", "/auth/clients/alice/mfa", admin, "").Code, "admin resets MFA")
	assert.Equal(t, 200, h.do("POST", "/auth/login", "", `{"username":"alice","password":"`+alicePW+`"}`).Code)
	assert.Equal(t, 400, h.do("DELETE", "/auth/clients/alice/mfa", admin, "").Code, "MFA not enabled")
}

func TestHandlerLoginGuard(t *testing.T) {
	h := newHarness(t)
	for range 5 {
		require.Equal(t, 401, h.do("POST", "/auth/login", "", `{"username":"alice","password":"nope-nope"}`).Code)
	}
	rec := h.do("POST", "/auth/login", "", `{"username":"alice","password":"`+alicePW+`"}`)
	require.Equal(t, 429, rec.Code)
	assert.Equal(t, "900", rec.Header().Get("Retry-After"))
	assert.Equal(t, "too_many_attempts", errorCode(t, rec))
}

// TestHandlerBadInput sends every kind of bad request to every route that
// takes it, and checks each gets a clear JSON 4xx.
func TestHandlerBadInput(t *testing.T) {
	h := newHarness(t, func(c *auth.Config) { c.SelfRegister = true })
	alice, admin := h.token("alice"), h.token("admin")
	huge := `{"username":"` + strings.Repeat("x", 70<<10) + `"}`

	bodyRoutes := []struct{ method, path, token string }{
		{"POST", "/auth/login", ""},
		{"POST", "/auth/refresh", ""},
		{"POST", "/auth/clients/register", ""},
		{"POST", "/auth/tokens", alice},
		{"POST", "/auth/clients", alice},
		{"POST", "/auth/mfa/confirm", alice},
		{"POST", "/auth/mfa/disable", alice},
		{"POST", "/auth/clients/create", admin},
		{"POST", "/auth/clients/bob", admin},
	}
	for _, rt := range bodyRoutes {
		for _, bad := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"malformed JSON", `{"username":`, 400, "invalid_json"},
			{"not JSON", `hello`, 400, "invalid_json"},
			{"empty body", ``, 400, "invalid_json"},
			{"two values", `{} {}`, 400, "invalid_json"},
			{"an array", `[]`, 400, "invalid_json"},
			{"unknown field", `{"nonsense":1}`, 400, "unknown_field"},
			{"oversized", huge, 413, "body_too_large"},
		} {
			t.Run(rt.method+" "+rt.path+" "+bad.name, func(t *testing.T) {
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(bad.body))
				req.Header.Set("Content-Type", "application/json")
				if rt.token != "" {
					req.Header.Set("Authorization", "Bearer "+rt.token)
				}
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, req)
				assert.Equal(t, bad.status, rec.Code, "body %s", rec.Body)
				assert.Equal(t, bad.code, errorCode(t, rec))
			})
		}
	}

	wrongTypes := []struct{ method, path, token, body, field string }{
		{"POST", "/auth/login", "", `{"username":1,"password":"x"}`, "username"},
		{"POST", "/auth/tokens", alice, `{"roles":"reader"}`, "roles"},
		{"POST", "/auth/tokens", alice, `{"token_life":"60"}`, "token_life"},
		{"POST", "/auth/clients/create", admin, `{"client_id":"x","enabled":"yes"}`, "enabled"},
	}
	for _, wt := range wrongTypes {
		t.Run("wrong type "+wt.path+" "+wt.field, func(t *testing.T) {
			rec := h.do(wt.method, wt.path, wt.token, wt.body)
			assert.Equal(t, 400, rec.Code)
			assert.Equal(t, "invalid_field", errorCode(t, rec))
			assert.Contains(t, rec.Body.String(), wt.field)
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "text/plain")
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		assert.Equal(t, 415, rec.Code)
	})

	authed := []struct{ method, path string }{
		{"GET", "/auth"}, {"DELETE", "/auth"}, {"POST", "/auth/logout"}, {"GET", "/userinfo"},
		{"GET", "/auth/tokens"}, {"POST", "/auth/tokens"}, {"DELETE", "/auth/tokens"},
		{"GET", "/auth/tokens/x"}, {"DELETE", "/auth/tokens/x"},
		{"GET", "/auth/tokens/all"}, {"DELETE", "/auth/tokens/all"}, {"POST", "/auth/tokens/cleanup"},
		{"GET", "/auth/clients"}, {"POST", "/auth/clients"}, {"POST", "/auth/clients/create"},
		{"GET", "/auth/clients/all"}, {"GET", "/auth/clients/bob"}, {"POST", "/auth/clients/bob"},
		{"DELETE", "/auth/clients/bob"}, {"DELETE", "/auth/clients/bob/roles"},
		{"POST", "/auth/clients/bob/roles/x"}, {"DELETE", "/auth/clients/bob/roles/x"},
		{"POST", "/auth/clients/bob/enable"}, {"POST", "/auth/clients/bob/disable"},
		{"POST", "/auth/mfa"}, {"POST", "/auth/mfa/confirm"}, {"POST", "/auth/mfa/disable"},
		{"DELETE", "/auth/clients/bob/mfa"},
	}
	for _, rt := range authed {
		for name, hdr := range map[string]string{
			"missing":      "",
			"wrong scheme": "Basic YWxpY2U6cHc=",
			"garbage":      "Bearer a.b.c",
			"empty bearer": "Bearer ",
		} {
			t.Run(rt.method+" "+rt.path+" "+name+" credentials", func(t *testing.T) {
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{}`))
				if hdr != "" {
					req.Header.Set("Authorization", hdr)
				}
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, req)
				assert.Equal(t, 401, rec.Code)
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"))
				errorCode(t, rec)
			})
		}
	}

	unknown := []struct{ method, path, body string }{
		{"GET", "/auth/tokens/nope", ""},
		{"DELETE", "/auth/tokens/nope", ""},
		{"GET", "/auth/clients/nope", ""},
		{"POST", "/auth/clients/nope", `{"name":"x"}`},
		{"DELETE", "/auth/clients/nope", ""},
		{"DELETE", "/auth/clients/nope/roles", ""},
		{"POST", "/auth/clients/nope/roles/reader", ""},
		{"DELETE", "/auth/clients/nope/roles/reader", ""},
		{"POST", "/auth/clients/nope/enable", ""},
		{"POST", "/auth/clients/nope/disable", ""},
		{"DELETE", "/auth/clients/nope/mfa", ""},
		{"POST", "/auth/tokens", `{"client_id":"nope"}`},
	}
	for _, u := range unknown {
		t.Run("unknown id "+u.method+" "+u.path, func(t *testing.T) {
			rec := h.do(u.method, u.path, admin, u.body)
			assert.Equal(t, 404, rec.Code, "body %s", rec.Body)
			assert.Equal(t, "not_found", errorCode(t, rec))
		})
	}

	t.Run("bad pagination", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1"} {
			rec := h.do("GET", "/auth/tokens?"+q, alice, "")
			assert.Equal(t, 400, rec.Code, q)
			assert.Equal(t, "invalid_parameter", errorCode(t, rec))
		}
	})
	t.Run("unknown route and method", func(t *testing.T) {
		rec := h.do("GET", "/auth/nowhere", alice, "")
		assert.Equal(t, 404, rec.Code)
		assert.Equal(t, "not_found", errorCode(t, rec))
		rec = h.do("PUT", "/auth/login", "", "")
		assert.Equal(t, 405, rec.Code)
		assert.Equal(t, "method_not_allowed", errorCode(t, rec))
		assert.Contains(t, rec.Header().Get("Allow"), "POST")
	})
	t.Run("registration closed", func(t *testing.T) {
		closed := newHarness(t)
		rec := closed.do("POST", "/auth/clients/register", "", `{"client_id":"x","password":"long-enough"}`)
		assert.Equal(t, 403, rec.Code)
		assert.Equal(t, "registration_closed", errorCode(t, rec))
	})
	t.Run("OIDC not configured", func(t *testing.T) {
		rec := h.do("GET", "/usertoken", "some.id.token", "")
		assert.Equal(t, 404, rec.Code)
		assert.Equal(t, "oidc_disabled", errorCode(t, rec))
	})
}
