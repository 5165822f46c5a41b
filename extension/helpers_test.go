package extension_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
	"github.com/portico-dev/portico/internal/fakeclock"
)

var ctx = context.Background()

// The callers the tests use, by bearer token.
var principals = map[string]auth.Principal{
	"admin": {Subject: "admin", ClientID: "admin", Roles: []string{"admin"}, Kind: auth.KindToken, TokenID: "t-admin"},
	"alice": {Subject: "alice", ClientID: "alice", Roles: []string{"user"}, Kind: auth.KindToken, TokenID: "t-alice"},
	// billing-key is the billing extension's own API key, owned by svc.
	"billing-key": {Subject: "svc", ClientID: "svc", Kind: auth.KindAPIKey, Identifier: "billing", TokenID: "k-billing"},
	// rogue-key names billing too, but belongs to another client.
	"rogue-key": {Subject: "mallory", ClientID: "mallory", Kind: auth.KindAPIKey, Identifier: "billing", TokenID: "k-rogue"},
	// other-key is another extension's key.
	"other-key": {Subject: "svc", ClientID: "svc", Kind: auth.KindAPIKey, Identifier: "orders", TokenID: "k-orders"},
}

// hidden lists what each caller cannot see.
var hidden = map[string][]string{"alice": {"secret"}}

func isAdmin(_ context.Context, p auth.Principal) bool { return p.HasRole("admin") }

func canSee(_ context.Context, p auth.Principal, prefix string) bool {
	for _, h := range hidden[p.Subject] {
		if h == prefix {
			return false
		}
	}
	return true
}

// authenticate stands in for auth's middleware: "Bearer <name>" of a
// known principal, 401 for an unknown one, nothing for no header.
func authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			p, ok := principals[strings.TrimPrefix(h, "Bearer ")]
			if !ok {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

type harness struct {
	t     *testing.T
	clock *fakeclock.Clock
	reg   *extension.Registry
	h     http.Handler
}

func newHarness(t *testing.T, mutate ...func(*extension.Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: fakeclock.New(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))}
	cfg := extension.Config{
		IsAdmin: isAdmin, CanSee: canSee, Now: h.clock.Now,
		Logger: discard(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	reg, err := extension.New(cfg)
	require.NoError(t, err)
	h.reg = reg
	h.h = authenticate(reg.Handler())
	return h
}

// do sends a request as caller ("" for none).
func (h *harness) do(method, path, caller, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

// register registers prefix at upstream as caller and requires success.
func (h *harness) register(caller, prefix, upstream string, extra ...string) extension.Extension {
	h.t.Helper()
	body := `{"prefix":"` + prefix + `","name":"` + prefix + ` service","upstream":"` + upstream + `"` + strings.Join(extra, "") + `}`
	rec := h.do("POST", "/extensions", caller, body)
	require.Contains(h.t, []int{http.StatusCreated, http.StatusOK}, rec.Code, rec.Body.String())
	return decode[extension.Extension](h.t, rec)
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var b struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &b), "error body is JSON: %q", rec.Body.String())
	require.NotEmpty(t, b.Error)
	return b.Code
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// zipOf packs files, by path, into a zip.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = io.WriteString(w, files[name])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// upload posts a bundle zip as caller.
func (h *harness) upload(caller, prefix, version string, body []byte) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest("POST", "/extensions/"+prefix+"/bundle/"+version, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/zip")
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func newRequest(method, path string) *http.Request { return httptest.NewRequest(method, path, nil) }

// serve sends a prepared request.
func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, r)
	return rec
}
