package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

func TestRunPurgesExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := auth.NewMemoryStore()
		svc, err := auth.New(auth.Config{Store: store, Passwords: cheap, CleanupInterval: time.Minute})
		require.NoError(t, err)
		ctx := context.Background()
		p := auth.Principal{ClientID: "svc", Subject: "svc", Roles: []string{"x"}}
		short, err := svc.Mint(ctx, p, auth.MintRequest{Life: 30 * time.Second})
		require.NoError(t, err)
		long, err := svc.Mint(ctx, p, auth.MintRequest{Life: time.Hour})
		require.NoError(t, err)

		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- svc.Run(runCtx) }()

		time.Sleep(59 * time.Second) // the fake clock: no real waiting
		synctest.Wait()
		_, err = store.GetToken(ctx, short.Data.TokenID)
		require.NoError(t, err, "before the first cleanup tick the expired record is still there")

		time.Sleep(2 * time.Second)
		synctest.Wait()
		_, err = store.GetToken(ctx, short.Data.TokenID)
		require.ErrorIs(t, err, auth.ErrNotFound, "purged at the first tick")
		_, err = store.GetToken(ctx, long.Data.TokenID)
		require.NoError(t, err, "the live record stays")

		cancel()
		require.NoError(t, <-done, "Run returns nil when its context ends")
	})
}

func TestAuthenticateChain(t *testing.T) {
	h := newHarness(t)
	boom := errors.New("key store down")
	failing := auth.AuthenticatorFunc(func(r *http.Request) (auth.Principal, error) {
		if r.Header.Get("apiKey") == "" {
			return auth.Principal{}, auth.ErrNoCredentials
		}
		return auth.Principal{}, boom
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mw := auth.Authenticate(h.svc, failing)(auth.RequireRole("writer")(ok))

	serve := func(setup func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		setup(req)
		rec := httptest.NewRecorder()
		mw.ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, 204, serve(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+h.token("alice")) }).Code, "alice is a writer")
	rec := serve(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+h.token("bob")) })
	assert.Equal(t, 403, rec.Code, "bob is not")
	assert.Equal(t, "forbidden", errorCode(t, rec))
	rec = serve(func(*http.Request) {})
	assert.Equal(t, 401, rec.Code, "nothing recognised")
	assert.Equal(t, "missing_credentials", errorCode(t, rec))
	rec = serve(func(r *http.Request) { r.Header.Set("apiKey", "k") })
	assert.Equal(t, 500, rec.Code, "an authenticator's own failure fails closed")
	assert.NotContains(t, rec.Body.String(), "key store down", "internals do not leak")

	assert.Equal(t, 401, httptestServe(auth.RequireRole("x")(ok)).Code, "RequireRole without Authenticate")
}

// TestNestedMiddlewareAuthenticatesOnce: an inner authentication
// middleware passes a request an outer one already authenticated, without
// asking its authenticators again.
func TestNestedMiddlewareAuthenticatesOnce(t *testing.T) {
	h := newHarness(t)
	calls := 0
	counting := auth.AuthenticatorFunc(func(r *http.Request) (auth.Principal, error) {
		calls++
		return auth.Principal{Subject: "svc", ClientID: "svc", Kind: auth.KindAPIKey}, nil
	})
	var seen auth.Principal
	inner := auth.Authenticate(counting)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = auth.FromContext(r.Context())
		w.WriteHeader(204)
	}))
	rec := httptest.NewRecorder()
	auth.Authenticate(counting)(h.svc.Middleware(inner)).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 204, rec.Code)
	assert.Equal(t, 1, calls, "the outer middleware authenticated; the inner ones passed it through")
	assert.Equal(t, "svc", seen.Subject)
}

func httptestServe(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	return rec
}

func TestBearerToken(t *testing.T) {
	for hdr, want := range map[string]string{
		"Bearer abc.def.ghi":  "abc.def.ghi",
		"bearer abc":          "abc",
		"BEARER   abc":        "abc",
		"Bearer ":             "",
		"Bearer a b":          "",
		"Basic abc":           "",
		"Bearerabc":           "",
		"":                    "",
		"Bearer abc\x00":      "",
		"Bearer tok+/=~-._AZ": "tok+/=~-._AZ",
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", hdr)
		got, ok := auth.BearerToken(req)
		assert.Equal(t, want, got, "header %q", hdr)
		assert.Equal(t, want != "", ok, "header %q", hdr)
	}
}
