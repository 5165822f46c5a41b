package apikey_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
)

type created struct {
	apikey.Key
	Token string `json:"token"`
}

func TestHandlerLifecycle(t *testing.T) {
	h := newHarness(t)
	alice := "Bearer " + h.token("alice")
	exp := h.clock.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	body := `{"name":"ci","notes":"for CI","expires_at":"` + exp + `","identifier":"datamigrator",
		"pub":{"allow":["orders.new"],"deny":[]},"sub":{"allow":["events.a"]}}`
	rec := h.do("POST", "/keys", alice, body)
	require.Equal(t, http.StatusForbidden, rec.Code, "an extension identifier is granted by an administrator: %s", rec.Body)
	rec = h.do("POST", "/keys", alice, strings.Replace(body, `"identifier":"datamigrator",`, "", 1))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	c := decode[created](t, rec)
	assert.True(t, apikey.LooksLikeKey(c.Token))
	assert.Equal(t, "alice", c.ClientID)
	assert.Equal(t, []string{"orders.new"}, c.Pub.Allow)
	assert.NotContains(t, rec.Body.String(), "hash", "the hash never leaves")

	rec = h.do("GET", "/keys", alice, "")
	require.Equal(t, http.StatusOK, rec.Code)
	keys := decode[[]apikey.Key](t, rec)
	require.Len(t, keys, 1)
	assert.Equal(t, "1", rec.Header().Get("X-Total-Count"))
	assert.NotContains(t, rec.Body.String(), c.Token, "the secret is shown once")

	rec = h.do("PUT", "/key/"+c.ID, alice, `{"name":"renamed","notes":"new notes"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "renamed", decode[apikey.Key](t, rec).Name)
	assert.Equal(t, []string{"orders.new"}, decode[apikey.Key](t, rec).Pub.Allow, "unnamed fields stay")

	// The key itself authenticates the exchange, in either header.
	rec = h.do("GET", "/apikey", "Bearer "+c.Token, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	creds := decode[map[string]any](t, rec)
	for _, f := range []string{"jwt", "seed", "id", "account"} {
		assert.NotEmpty(t, creds[f], "field %s", f)
	}
	assert.NotContains(t, creds, "creds", "only on request")
	req := h.do("GET", "/key/"+c.ID, alice, "")
	assert.Equal(t, http.StatusOK, req.Code)

	rec = h.do("POST", "/key/"+c.ID+"/revoke", alice, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, decode[apikey.Key](t, rec).Revoked)
	rec = h.do("GET", "/apikey", "Bearer "+c.Token, "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "a revoked key is refused")
	assert.Equal(t, "token_revoked", decode[map[string]string](t, rec)["code"])
	rec = h.do("POST", "/key/"+c.ID+"/reactivate", alice, "")
	require.Equal(t, http.StatusOK, rec.Code)
	rec = h.do("GET", "/apikey", "Bearer "+c.Token, "")
	assert.Equal(t, http.StatusOK, rec.Code, "reactivated")

	rec = h.do("DELETE", "/key/"+c.ID, alice, "")
	require.Equal(t, http.StatusNoContent, rec.Code)
	rec = h.do("GET", "/key/"+c.ID, alice, "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	rec = h.do("GET", "/apikey", "Bearer "+c.Token, "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "a deleted key is refused")
}

func TestHandlerAdmin(t *testing.T) {
	h := newHarness(t)
	admin := "Bearer " + h.token("admin")
	rec := h.do("POST", "/keys", admin, `{"name":"for bob","client_id":"bob","pub":{"allow":[">"]}}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	h.create("alice", apikey.NewKey{Name: "a"})
	rec = h.do("GET", "/keys?all=true", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "2", rec.Header().Get("X-Total-Count"))
	rec = h.do("GET", "/keys?client_id=bob", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	keys := decode[[]apikey.Key](t, rec)
	require.Len(t, keys, 1)
	assert.Equal(t, "bob", keys[0].ClientID)
	rec = h.do("GET", "/keys?limit=1", admin, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "[]", strings.TrimSpace(rec.Body.String()), "the admin has no keys of its own")
}

func TestHandlerBadInput(t *testing.T) {
	h := newHarness(t)
	alice, bob := "Bearer "+h.token("alice"), "Bearer "+h.token("bob")
	k, secret := h.create("alice", apikey.NewKey{Name: "a", Pub: apikey.Permission{Allow: []string{"orders.new"}}})
	_, unknownKey, _ := apikey.NewToken()
	big := `{"name":"x","notes":"` + strings.Repeat("n", 5000) + `"}`
	tests := []struct {
		name, method, path, authz, body string
		status                          int
		code                            string
	}{
		{"no credentials", "GET", "/keys", "", "", 401, "missing_credentials"},
		{"no credentials on create", "POST", "/keys", "", `{"name":"x"}`, 401, "missing_credentials"},
		{"garbage bearer", "GET", "/keys", "Bearer portico_nope", "", 401, "invalid_token"},
		{"unknown API key", "GET", "/apikey", "Bearer " + unknownKey, "", 401, "invalid_token"},
		{"forged JWT", "GET", "/keys", "Bearer a.b.c", "", 401, "invalid_token"},
		{"malformed JSON", "POST", "/keys", alice, `{"name":`, 400, "invalid_json"},
		{"wrong type", "POST", "/keys", alice, `{"name":1}`, 400, "invalid_field"},
		{"unknown field", "POST", "/keys", alice, `{"name":"x","hash":"00"}`, 400, "unknown_field"},
		{"oversized body", "POST", "/keys", alice, big, 413, "body_too_large"},
		{"no name", "POST", "/keys", alice, `{}`, 400, "invalid_field"},
		{"invalid subject", "POST", "/keys", alice, `{"name":"x","pub":{"allow":["a..b"]}}`, 400, "invalid_field"},
		{"> not last", "POST", "/keys", alice, `{"name":"x","sub":{"deny":["a.>.b"]}}`, 400, "invalid_field"},
		{"bad expiry", "POST", "/keys", alice, `{"name":"x","expires_at":"yesterday"}`, 400, "invalid_field"},
		{"past expiry", "POST", "/keys", alice, `{"name":"x","expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_field"},
		{"beyond the creator", "POST", "/keys", alice, `{"name":"x","pub":{"allow":["billing.>"]}}`, 403, "forbidden"},
		{"for another client", "POST", "/keys", alice, `{"name":"x","client_id":"bob"}`, 403, "forbidden"},
		{"list all", "GET", "/keys?all=true", alice, "", 403, "forbidden"},
		{"list another's", "GET", "/keys?client_id=bob", alice, "", 403, "forbidden"},
		{"bad limit", "GET", "/keys?limit=x", alice, "", 400, "invalid_parameter"},
		{"API key managing keys", "POST", "/keys", "Bearer " + secret, `{"name":"child"}`, 403, "forbidden"},
		{"API key listing keys", "GET", "/keys", "Bearer " + secret, "", 403, "forbidden"},
		{"unknown key", "GET", "/key/nosuchkey", alice, "", 404, "not_found"},
		{"another client's key", "GET", "/key/" + k.ID, bob, "", 404, "not_found"},
		{"update another's", "PUT", "/key/" + k.ID, bob, `{"name":"mine"}`, 404, "not_found"},
		{"revoke another's", "POST", "/key/" + k.ID + "/revoke", bob, "", 404, "not_found"},
		{"reactivate another's", "POST", "/key/" + k.ID + "/reactivate", bob, "", 404, "not_found"},
		{"delete another's", "DELETE", "/key/" + k.ID, bob, "", 404, "not_found"},
		{"update unknown", "PUT", "/key/nosuchkey", alice, `{"name":"x"}`, 404, "not_found"},
		{"delete unknown", "DELETE", "/key/nosuchkey", alice, "", 404, "not_found"},
		{"update malformed", "PUT", "/key/" + k.ID, alice, `{"name":`, 400, "invalid_json"},
		{"update empty name", "PUT", "/key/" + k.ID, alice, `{"name":""}`, 400, "invalid_field"},
		{"update invalid subject", "PUT", "/key/" + k.ID, alice, `{"pub":{"allow":["x y"]}}`, 400, "invalid_field"},
		{"update beyond the creator", "PUT", "/key/" + k.ID, alice, `{"pub":{"allow":[">"]}}`, 403, "forbidden"},
		{"update oversized", "PUT", "/key/" + k.ID, alice, big, 413, "body_too_large"},
		{"exchange a token", "GET", "/apikey", alice, "", 403, "forbidden"},
		{"wrong method", "PATCH", "/key/" + k.ID, alice, "", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(tt.method, tt.path, tt.authz, tt.body)
			assert.Equal(t, tt.status, rec.Code, "%s %s: %s", tt.method, tt.path, rec.Body)
			body := decode[map[string]string](t, rec)
			assert.Equal(t, tt.code, body["code"], "%s %s", tt.method, tt.path)
			assert.NotEmpty(t, body["error"])
		})
	}
	// Nothing was lost or changed by the refused requests.
	got, err := h.keys.Get(ctx, h.principal("alice"), k.ID)
	require.NoError(t, err)
	assert.Equal(t, "a", got.Name)
	assert.Equal(t, []string{"orders.new"}, got.Pub.Allow)
	assert.False(t, got.Revoked)
	_, total, err := h.keys.List(ctx, h.principal("admin"), apikey.KeyFilter{}, true)
	require.NoError(t, err)
	assert.Equal(t, 1, total, fmt.Sprintf("no key was created by a refused request"))
}

func TestHandlerNATSDisabled(t *testing.T) {
	h := newHarness(t, func(c *apikey.Config) { c.Account = nil })
	_, secret := h.create("alice", apikey.NewKey{Name: "a"})
	rec := h.do("GET", "/apikey", "Bearer "+secret, "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "nats_disabled", decode[map[string]string](t, rec)["code"])
}
