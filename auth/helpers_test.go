package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/fakeclock"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
}

// cheap is a password hasher fast enough for tests; its hashes are real
// argon2id hashes, just with small parameters.
var cheap = auth.Argon2id{Memory: 64, Time: 1, Threads: 1}

const (
	adminPW = "admin-password"
	alicePW = "alice-password"
	bobPW   = "bob-password-1"
)

type harness struct {
	t     *testing.T
	svc   *auth.Service
	clock *fakeclock.Clock
	keys  *auth.KeySet
	key   auth.Key
	audit *auth.AuditLog
	h     http.Handler
}

// newHarness returns a Service with clients admin (role admin), alice
// (reader, writer; group staff) and bob (reader).
func newHarness(t *testing.T, mutate ...func(*auth.Config)) *harness {
	t.Helper()
	k, err := auth.GenerateKey()
	require.NoError(t, err)
	ks, err := auth.NewKeySet(k)
	require.NoError(t, err)
	h := &harness{t: t, clock: newClock(), keys: ks, key: k, audit: auth.NewAuditLog(100)}
	cfg := auth.Config{Keys: ks, Passwords: cheap, Now: h.clock.Now, Audit: h.audit.Record}
	for _, m := range mutate {
		m(&cfg)
	}
	h.svc, err = auth.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	for _, nc := range []auth.NewClient{
		{ID: "admin", Password: adminPW, Roles: []string{"admin"}},
		{ID: "alice", Name: "Alice", Password: alicePW, Roles: []string{"reader", "writer"}, Groups: []string{"staff"}},
		{ID: "bob", Password: bobPW, Roles: []string{"reader"}},
	} {
		_, err := h.svc.CreateClient(ctx, nc)
		require.NoError(t, err, "create %s", nc.ID)
	}
	h.h = h.svc.Handler()
	return h
}

func (h *harness) login(user, pw string) auth.Grant {
	h.t.Helper()
	g, err := h.svc.Login(context.Background(), auth.Credentials{Username: user, Password: pw, RemoteIP: "192.0.2.1"})
	require.NoError(h.t, err, "login %s", user)
	return g
}

func (h *harness) token(user string) string {
	h.t.Helper()
	pw := map[string]string{"admin": adminPW, "alice": alicePW, "bob": bobPW}[user]
	return h.login(user, pw).Token
}

// do sends a request to the Service's handler; body is sent as is.
func (h *harness) do(method, path, token, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.RemoteAddr = "192.0.2.1:1234"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

// errorCode asserts a JSON error body and returns its code.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), "error body type; body %s", rec.Body)
	var body struct{ Error, Code string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "error body %q", rec.Body)
	require.NotEmpty(t, body.Error, "error message in %s", rec.Body)
	require.NotEmpty(t, body.Code, "error code in %s", rec.Body)
	return body.Code
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&v), "body %s", rec.Body)
	return v
}
