package apikey_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/fakeclock"
	"github.com/portico-dev/portico/internal/subject"
)

var ctx = context.Background()

// holds is a test stand-in for rbac: each client's allowed permission
// patterns, checked with the same cover rule rbac uses.
var holds = map[string][]string{
	"alice": {"nats.pub.orders.>", "nats.sub.events.*"},
	"bob":   {"nats.pub.bob.>"},
}

func testAuthorize(_ context.Context, p auth.Principal, perm string) error {
	for _, h := range holds[p.ClientID] {
		if subject.Covers(h, perm) {
			return nil
		}
	}
	return apikey.ErrForbidden
}

type harness struct {
	t        testing.TB
	clock    *fakeclock.Clock
	auth     *auth.Service
	keys     *apikey.Service
	h        http.Handler
	account  nkeys.KeyPair
	operator nkeys.KeyPair

	mu        sync.Mutex
	published []string // account JWTs handed to PublishAccount
}

type harnessOpt func(*apikey.Config)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, clock: fakeclock.New(time.Now().Truncate(time.Second))}
	var err error
	h.account, err = nkeys.CreateAccount()
	require.NoError(t, err)
	h.operator, err = nkeys.CreateOperator()
	require.NoError(t, err)
	store := auth.NewMemoryStore()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := apikey.Config{
		Clients:   store,
		Account:   h.account,
		Operator:  h.operator,
		Authorize: testAuthorize,
		PublishAccount: func(_ context.Context, jwt string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.published = append(h.published, jwt)
			return nil
		},
		MaxBodyBytes: 4096,
		Now:          h.clock.Now,
		Logger:       quiet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.keys, err = apikey.New(cfg)
	require.NoError(t, err)
	h.auth, err = auth.New(auth.Config{
		Store: store, Authenticators: []auth.Authenticator{h.keys}, Now: h.clock.Now, Logger: quiet,
	})
	require.NoError(t, err)
	for _, c := range []auth.NewClient{
		{ID: "admin", Roles: []string{"admin"}},
		{ID: "alice", Roles: []string{"user"}, Groups: []string{"staff"}},
		{ID: "bob", Roles: []string{"user"}},
	} {
		_, err := h.auth.CreateClient(ctx, c)
		require.NoError(t, err)
	}
	h.h = h.auth.Middleware(h.keys.Handler())
	return h
}

// principal is how the client id appears to the Service when it calls
// with a token.
func (h *harness) principal(id string) auth.Principal {
	c, err := h.auth.GetClient(ctx, id)
	require.NoError(h.t, err)
	return auth.Principal{Subject: id, ClientID: id, Roles: c.Roles, Groups: c.Groups, Kind: auth.KindToken}
}

// token returns an access token for the client.
func (h *harness) token(id string) string {
	p := h.principal(id)
	g, err := h.auth.Mint(ctx, p, auth.MintRequest{Roles: p.Roles})
	require.NoError(h.t, err)
	return g.Token
}

// create makes a key for owner (as owner) and returns it with its secret.
func (h *harness) create(owner string, nk apikey.NewKey) (apikey.Key, string) {
	h.t.Helper()
	by := h.principal(owner)
	if nk.Identifier != "" { // only an administrator grants an identifier
		by, nk.ClientID = h.principal("admin"), owner
	}
	k, secret, err := h.keys.Create(ctx, by, nk)
	require.NoError(h.t, err)
	return k, secret
}

// do sends a request with the Authorization header auth ("" for none).
func (h *harness) do(method, path, authz, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func (h *harness) lastPublished() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.published) == 0 {
		return ""
	}
	return h.published[len(h.published)-1]
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "body %s", rec.Body)
	return v
}

// writeCreds writes a .creds file into the test's temporary directory.
func writeCreds(t *testing.T, creds string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.creds")
	require.NoError(t, os.WriteFile(path, []byte(creds), 0o600))
	return path
}
