package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeysAndNATS walks the API-key flow against the embedded NATS server:
// a role granting NATS subjects, a key within them, credentials from
// GET /apikey that connect and publish, and a revocation the server obeys.
func TestKeysAndNATS(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})
	r := s.do("GET", "/info", "", "")
	require.Equal(t, 200, r.status)
	natsURL := field(t, r.body, "nats_url")
	assert.True(t, strings.HasPrefix(natsURL, "nats://127.0.0.1:"), "info reports the embedded NATS URL: %s", natsURL)
	assert.True(t, strings.HasPrefix(field(t, r.body, "account"), "A"), "and the account key")
	r = s.do("GET", "/health", "", "")
	assert.Contains(t, r.body, `"nats":"ok"`)
	assert.Contains(t, r.body, `"rbac":"ok"`, "not in bootstrap mode: the admin client is the admin subject")
	for _, f := range []string{"operator.nk", "account.nk"} {
		info, err := os.Stat(filepath.Join(data, f))
		require.NoError(t, err, "%s kept in the data dir", f)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}

	admin := s.login("admin", "correct-horse-battery")
	r = s.do("POST", "/admin/roles", admin, `{"name":"orders","permissions":{"allow":["auth.self","keys.*","nats.pub.orders.>","nats.sub.orders.>"]}}`)
	require.Equal(t, 201, r.status, r.body)
	r = s.do("POST", "/admin/assignments", admin, `{"group":"shop","roles":["orders"]}`)
	require.Equal(t, 200, r.status, r.body)
	r = s.do("POST", "/auth/clients/create", admin, `{"client_id":"alice","password":"alice-password","roles":[],"groups":["shop"]}`)
	require.Equal(t, 201, r.status, r.body)
	alice := s.login("alice", "alice-password")

	r = s.do("GET", "/roles", alice, "")
	require.Equal(t, 200, r.status, r.body)
	assert.Contains(t, r.body, `"roles":["orders"]`, "alice holds her group's role")

	r = s.do("POST", "/keys", alice, `{"name":"shop","pub":{"allow":["billing.>"]}}`)
	assert.Equal(t, 403, r.status, "a key beyond alice's permissions: %s", r.body)
	r = s.do("POST", "/keys", alice, `{"name":"shop","pub":{"allow":["orders.new"]},"sub":{"allow":["orders.>"]}}`)
	require.Equal(t, 201, r.status, r.body)
	keyID, key := field(t, r.body, "id"), field(t, r.body, "token")

	r = s.do("GET", "/apikey?creds=true", key, "")
	require.Equal(t, 200, r.status, r.body)
	var creds struct{ JWT, Seed, ID, Account, Creds string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &creds))
	assert.Equal(t, keyID, creds.ID)
	assert.Contains(t, creds.Creds, "NATS USER JWT")

	closed := make(chan struct{})
	nc, err := nats.Connect(natsURL, nats.UserJWTAndSeed(creds.JWT, creds.Seed), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	require.NoError(t, err, "credentials from GET /apikey connect to the embedded server")
	defer nc.Close()
	sub, err := nc.SubscribeSync("orders.>")
	require.NoError(t, err)
	require.NoError(t, nc.Publish("orders.new", []byte("order 1")))
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "order 1", string(msg.Data))

	r = s.do("DELETE", "/key/"+keyID, alice, "")
	require.Equal(t, 204, r.status, r.body)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked key's NATS connection stayed open")
	}
	_, err = nats.Connect(natsURL, nats.UserJWTAndSeed(creds.JWT, creds.Seed), nats.NoReconnect())
	require.Error(t, err, "credentials of a deleted key are refused")
	assert.True(t, errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthRevoked), "got %v", err)
	assert.Equal(t, 401, s.do("GET", "/apikey", key, "").status, "the deleted key itself is refused")
}

// TestPermissions checks that the admin routes and the authenticated routes
// each need their named permission.
func TestPermissions(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})
	admin := s.login("admin", "correct-horse-battery")
	r := s.do("POST", "/admin/roles", admin, `{"name":"viewer","permissions":{"allow":["auth.self","keys.read"]}}`)
	require.Equal(t, 201, r.status, r.body)
	for _, c := range []string{
		`{"client_id":"bob","password":"bob-password-1","roles":["viewer"]}`,
		`{"client_id":"carol","password":"carol-password","roles":["ghost"]}`,
	} {
		r = s.do("POST", "/auth/clients/create", admin, c)
		require.Equal(t, 201, r.status, r.body)
	}
	bob := s.login("bob", "bob-password-1")     // holds viewer only
	carol := s.login("carol", "carol-password") // holds no existing role: the default "user" role

	tests := []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"admin roles, no token", "GET", "/admin/roles", "", "", 401},
		{"admin roles, user", "GET", "/admin/roles", carol, "", 403},
		{"admin role write, user", "POST", "/admin/roles", carol, `{"name":"x"}`, 403},
		{"admin assignments, user", "GET", "/admin/assignments", carol, "", 403},
		{"admin subject roles, user", "GET", "/admin/user/bob/roles", carol, "", 403},
		{"admin audit, user", "GET", "/admin/audit", carol, "", 403},
		{"admin client list, user", "GET", "/auth/clients/all", carol, "", 403},
		{"create key without keys.create", "POST", "/keys", bob, `{"name":"x"}`, 403},
		{"list keys with keys.read", "GET", "/keys", bob, "", 200},
		{"delete key without keys.delete", "DELETE", "/key/whatever", bob, "", 403},
		{"create key as user", "POST", "/keys", carol, `{"name":"x"}`, 201},
		{"own roles", "GET", "/roles", bob, "", 200},
		{"own session", "GET", "/auth", bob, "", 200},
		{"admin reads roles", "GET", "/admin/roles", admin, "", 200},
		{"admin explains", "GET", "/admin/user/bob/roles?permission=keys.create", admin, "", 200},
		{"admin reads audit", "GET", "/admin/audit", admin, "", 200},
		{"public register stays public", "POST", "/auth/clients/register", "", `{"client_id":"eve","password":"eve-password-1"}`, 403},
		{"unknown role", "GET", "/admin/role/ghost", admin, "", 404},
		{"bad pattern", "POST", "/admin/roles", admin, `{"name":"bad","permissions":{"allow":["a..b"]}}`, 400},
		{"bad key subject", "POST", "/keys", admin, `{"name":"x","pub":{"allow":["a b"]}}`, 400},
		{"unknown key", "GET", "/key/nosuchkey", admin, "", 404},
		{"malformed key body", "POST", "/keys", admin, `{"name":`, 400},
		{"exchange with a token", "GET", "/apikey", admin, "", 403},
		{"rate-limit stats, no token", "GET", "/admin/ratelimit", "", "", 401},
		{"rate-limit stats, user", "GET", "/admin/ratelimit", carol, "", 403},
		{"rate-limit stats, admin", "GET", "/admin/ratelimit", admin, "", 200},
		{"rate-limit stats, wrong method", "POST", "/admin/ratelimit", admin, "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(tt.method, tt.path, tt.token, tt.body)
			assert.Equal(t, tt.status, r.status, "%s %s: %s", tt.method, tt.path, r.body)
			if tt.status >= 400 {
				assert.NotEmpty(t, field(t, r.body, "code"))
			}
		})
	}
	r = s.do("GET", "/admin/user/bob/roles?permission=keys.create", admin, "")
	assert.Contains(t, r.body, `"reason":"denied: no role allows it"`)
	r = s.do("GET", "/admin/roles", carol, "")
	assert.Contains(t, r.body, "roles.read", "the 403 names the permission")
}

// TestNATSOff runs without the embedded server.
func TestNATSOff(t *testing.T) {
	c, err := parseConfig([]string{"-nats-url", "nats://nats.example:4222"}, func(string) string { return "" }, nil)
	require.NoError(t, err)
	assert.Equal(t, "off", c.natsAddr, "an external NATS replaces the embedded one")
}
