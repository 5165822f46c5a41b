package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Log in, use the token, revoke it.
func Example() {
	ctx := context.Background()
	svc, _ := auth.New(auth.Config{Passwords: auth.Argon2id{Memory: 64, Time: 1}})
	_, _ = svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: "a-long-password", Roles: []string{"reader"}})

	grant, err := svc.Login(ctx, auth.Credentials{Username: "alice", Password: "a-long-password"})
	if err != nil {
		panic(err)
	}
	p, _ := svc.Verify(ctx, grant.Token)
	fmt.Println(p.Subject, p.Roles, p.Kind)

	_, _ = svc.Revoke(ctx, auth.TokenFilter{TokenID: p.TokenID})
	_, err = svc.Verify(ctx, grant.Token)
	fmt.Println(err)
	// Output:
	// alice [reader] token
	// auth: token revoked
}

// Mount the auth routes under a prefix on an existing mux, and guard an
// application route with the middleware.
func ExampleService_Handler() {
	ctx := context.Background()
	svc, _ := auth.New(auth.Config{Passwords: auth.Argon2id{Memory: 64, Time: 1}})
	_, _ = svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: "a-long-password", Roles: []string{"reader"}})

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", svc.Handler()))
	mux.Handle("GET /reports", svc.Middleware(auth.RequireRole("reader")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			p, _ := auth.FromContext(r.Context())
			fmt.Fprintf(w, "reports for %s", p.Subject)
		}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"alice","password":"a-long-password"}`))
	var grant struct{ Token string }
	_ = decodeJSON(resp.Body, &grant)

	req, _ := http.NewRequest("GET", srv.URL+"/reports", nil)
	req.Header.Set("Authorization", "Bearer "+grant.Token)
	resp, _ = http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))

	resp, _ = http.Get(srv.URL + "/reports")
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// 200 reports for alice
	// 401 Bearer realm="portico"
}

// Chain another authenticator after the Service's own tokens, the way
// package apikey plugs in.
func ExampleAuthenticate() {
	svc, _ := auth.New(auth.Config{})
	keys := auth.AuthenticatorFunc(func(r *http.Request) (auth.Principal, error) {
		if r.Header.Get("apiKey") != "demo-key" {
			return auth.Principal{}, auth.ErrNoCredentials
		}
		return auth.Principal{Subject: "svc", ClientID: "svc", Kind: auth.KindAPIKey}, nil
	})
	h := auth.Authenticate(svc, keys)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		fmt.Println("caller:", p.Subject, p.Kind)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("apiKey", "demo-key")
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output: caller: svc apikey
}

// Rotate the signing key, keeping the old one for verification for as long
// as a token may live.
func ExampleKeySet_Rotate() {
	old, _ := auth.GenerateKey()
	keys, _ := auth.NewKeySet(old)
	next, _ := auth.GenerateKey()
	now := time.Now()
	_ = keys.Rotate(next, now.Add(24*time.Hour))
	fmt.Println(len(keys.JWKS(now).Keys), keys.Signing().ID == next.ID)
	fmt.Println(len(keys.JWKS(now.Add(25 * time.Hour)).Keys))
	// Output:
	// 2 true
	// 1
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
