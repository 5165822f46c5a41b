package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

// server is an example server running in-process on 127.0.0.1:0.
type server struct {
	t      *testing.T
	base   string
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, dataDir string, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	errc := make(chan error, 1)
	s := &server{t: t, stderr: &syncBuffer{}}
	go func() {
		args := append([]string{"-addr", "127.0.0.1:0", "-nats-addr", "127.0.0.1:0", "-data", dataDir}, args...)
		errc <- run(ctx, args, func(k string) string { return env[k] }, s.stderr, func(a string) { addr <- a })
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a + "/api/v1"
	case err := <-errc:
		cancel()
		t.Fatalf("server did not start: %v\n%s", err, s.stderr)
	}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-errc, "graceful shutdown")
	})
	return s
}

type response struct {
	status int
	header http.Header
	body   string
}

func (s *server) do(method, path, token string, body string) response {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	url := s.base + path
	if strings.HasPrefix(path, "/metrics") { // the one route at the root
		url = strings.TrimSuffix(s.base, "/api/v1") + path
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(s.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func field(t *testing.T, body, name string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), "body %s", body)
	v, ok := m[name].(string)
	require.True(t, ok, "field %q in %s", name, body)
	return v
}

func (s *server) login(user, pw string) string {
	s.t.Helper()
	r := s.do("POST", "/auth/login", "", `{"username":"`+user+`","password":"`+pw+`"}`)
	require.Equal(s.t, 200, r.status, "login %s: %s", user, r.body)
	return field(s.t, r.body, "token")
}

func TestEndToEnd(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})

	r := s.do("GET", "/ping", "", "")
	require.Equal(t, 200, r.status)
	for h, want := range map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"X-Xss-Protection":          "1; mode=block",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
	} {
		assert.Equal(t, want, r.header.Get(h), "header %s", h)
	}
	assert.Regexp(t, `^[0-9a-f]{24}$`, r.header.Get("X-Request-Id"))

	for _, path := range []string{"/health", "/ready", "/info", "/auth/status", "/auth/jwks"} {
		assert.Equal(t, 200, s.do("GET", path, "", "").status, "public %s", path)
	}
	assert.Contains(t, s.do("GET", "/health", "", "").body, `"status":"ok"`)
	assert.Contains(t, s.do("GET", "/info", "", "").body, `"name":"portico"`)

	admin := s.login("admin", "correct-horse-battery")
	r = s.do("POST", "/auth/clients/create", admin, `{"client_id":"alice","password":"alice-password","roles":["reader","writer"]}`)
	require.Equal(t, 201, r.status, r.body)

	alice := s.login("alice", "alice-password")
	s.login("alice", "alice-password")
	r = s.do("GET", "/auth/tokens?limit=1", alice, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "2", r.header.Get("X-Total-Count"))
	assert.Equal(t, `</api/v1/auth/tokens?limit=1&offset=1>; rel="next"`, r.header.Get("Link"), "pagination links keep the mount prefix")

	r = s.do("GET", "/auth", alice, "")
	require.Equal(t, 200, r.status, "whoami")
	assert.Contains(t, r.body, `"subject":"alice"`)

	r = s.do("POST", "/auth/tokens", alice, `{"roles":["reader"],"token_life":300}`)
	require.Equal(t, 201, r.status, "mint: %s", r.body)
	minted := field(t, r.body, "token")
	assert.Equal(t, 200, s.do("GET", "/auth", minted, "").status, "the minted token works")
	tid := regexp.MustCompile(`"tid":"([^"]+)"`).FindStringSubmatch(r.body)[1]

	r = s.do("DELETE", "/auth/tokens/"+tid, alice, "")
	require.Equal(t, 200, r.status, "revoke: %s", r.body)
	r = s.do("GET", "/auth", minted, "")
	assert.Equal(t, 401, r.status, "the revoked token")
	assert.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
	assert.Equal(t, "token_revoked", field(t, r.body, "code"))
	assert.Equal(t, 200, s.do("GET", "/auth", alice, "").status, "alice's login token is untouched")

	r = s.do("POST", "/auth/logout", alice, "")
	assert.Equal(t, 204, r.status)
	assert.Equal(t, 401, s.do("GET", "/auth", alice, "").status, "after logout")

	// The audit log saw it, admins only.
	r = s.do("GET", "/admin/audit?subject=alice&action=login", admin, "")
	require.Equal(t, 200, r.status, r.body)
	assert.Contains(t, r.body, `"outcome":"success"`)
	assert.NotContains(t, r.body, "alice-password")
	assert.Equal(t, 403, s.do("GET", "/admin/audit", s.login("alice", "alice-password"), "").status)
	assert.Equal(t, 401, s.do("GET", "/admin/audit", "", "").status)
	assert.Equal(t, 400, s.do("GET", "/admin/audit?since=yesterday", admin, "").status)
}

func TestEndToEndErrors(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "correct-horse-battery"})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown route", "GET", "/nowhere", "", 404, "not_found"},
		{"unknown auth route", "GET", "/auth/nowhere", "", 404, "not_found"},
		{"wrong method", "DELETE", "/ping", "", 405, "method_not_allowed"},
		{"malformed JSON", "POST", "/auth/login", `{"username"`, 400, "invalid_json"},
		{"over 1 MB", "POST", "/auth/login", `{"username":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "body_too_large"},
		{"no credentials", "GET", "/auth/tokens", "", 401, "missing_credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, "", tc.body)
			assert.Equal(t, tc.status, r.status, r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, tc.code, field(t, r.body, "code"))
			assert.NotEmpty(t, field(t, r.body, "error"))
			assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), "security headers on errors too")
		})
	}
}

func TestGeneratedAdminPasswordAndPersistentKey(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil)
	m := regexp.MustCompile(`Created client "admin" with password: (\S+)`).FindStringSubmatch(s.stderr.String())
	require.Len(t, m, 2, "the generated password is printed once: %s", s.stderr)
	assert.NotContains(t, strings.Replace(s.stderr.String(), m[0], "", 1), m[1], "and only once")
	s.login("admin", m[1])
	jwks := s.do("GET", "/auth/jwks", "", "").body

	again := startServer(t, dir, map[string]string{"PORTICO_ADMIN_PASSWORD": "chosen-password"})
	assert.Equal(t, jwks, again.do("GET", "/auth/jwks", "", "").body, "the signing key persists in the data dir")
	again.login("admin", m[1])
	assert.Equal(t, 401, again.do("POST", "/auth/login", "", `{"username":"admin","password":"chosen-password"}`).status,
		"the admin persists in the database: PORTICO_ADMIN_PASSWORD applies when the admin is created")
	assert.NotContains(t, again.stderr.String(), "Created client")

	memory := startServer(t, t.TempDir(), map[string]string{"PORTICO_ADMIN_PASSWORD": "chosen-password"}, "-memory")
	memory.login("admin", "chosen-password")
}

func TestConfig(t *testing.T) {
	env := map[string]string{"PORTICO_ADDR": "127.0.0.1:9999", "PORTICO_DATA": "/tmp/x"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9999", c.addr, "environment twin")
	c, err = parseConfig([]string{"-addr", ":1"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":1", c.addr, "the flag wins")
	c, err = parseConfig([]string{"-db", "x.sqlite"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "x.sqlite", c.db)
	c, err = parseConfig(nil, func(k string) string { return map[string]string{"PORTICO_DB": "postgres://h/db"}[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "postgres://h/db", c.db, "environment twin")
	_, err = parseConfig([]string{"-db", "x.sqlite", "-memory"}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err, "-db and -memory exclude each other")
	c, err = parseConfig(nil, func(k string) string { return map[string]string{"PORTICO_RATE_STORE": "db"}[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "db", c.rateStore, "environment twin")
	_, err = parseConfig([]string{"-rate-store", "redis"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "neither memory nor db")
	_, err = parseConfig([]string{"-rate-store", "db", "-memory"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "needs a database")
	_, err = parseConfig([]string{"stray"}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err)
	_, err = parseConfig([]string{"-nope"}, func(string) string { return "" }, io.Discard)
	assert.Error(t, err)
}

func TestSigningKeyFromEnvironment(t *testing.T) {
	k, err := auth.GenerateKey()
	require.NoError(t, err)
	old, err := auth.GenerateKey()
	require.NoError(t, err)
	dir := t.TempDir()
	s := startServer(t, dir, map[string]string{
		"PORTICO_ADMIN_PASSWORD": "correct-horse-battery",
		"PORTICO_SIGNING_KEY":    auth.EncodePrivateKey(k),
		"PORTICO_VERIFY_KEYS":    auth.EncodePublicKey(old),
	})
	jwks := s.do("GET", "/auth/jwks", "", "").body
	assert.Contains(t, jwks, `"kid":"`+k.ID+`"`, "the signing key from the environment")
	assert.Contains(t, jwks, `"kid":"`+old.ID+`"`, "a verify-only key for a rotation")
	_, err = os.Stat(filepath.Join(dir, "signing.key"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "no key file is written when the key comes from the environment")

	_, _, err = loadKeys(config{signingKey: "not-base64!"})
	assert.Error(t, err, "a malformed PORTICO_SIGNING_KEY stops the server")
}

func TestSigningKeyFileMode(t *testing.T) {
	dir := t.TempDir()
	_, generated, err := loadKeys(config{data: dir})
	require.NoError(t, err)
	assert.True(t, generated)
	info, err := os.Stat(filepath.Join(dir, "signing.key"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	require.NoError(t, os.Chmod(filepath.Join(dir, "signing.key"), 0o644))
	_, _, err = loadKeys(config{data: dir})
	assert.ErrorContains(t, err, "readable by others", "a world-readable key file is refused")
}
