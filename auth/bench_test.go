package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-dev/portico/auth"
)

// benchService returns a service and a live access token for alice.
func benchService(b *testing.B, cacheSize int) (*auth.Service, string) {
	b.Helper()
	svc, err := auth.New(auth.Config{Passwords: cheap, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: alicePW, Roles: []string{"reader", "writer"}, Groups: []string{"staff"}}); err != nil {
		b.Fatal(err)
	}
	g, err := svc.Login(ctx, auth.Credentials{Username: "alice", Password: alicePW})
	if err != nil {
		b.Fatal(err)
	}
	return svc, g.Token
}

// BenchmarkEd25519Verify is the floor a cold authentication is measured
// against: the bare signature check on the same token.
func BenchmarkEd25519Verify(b *testing.B) {
	k, _ := auth.GenerateKey()
	ks, _ := auth.NewKeySet(k)
	svc, _ := auth.New(auth.Config{Keys: ks, Passwords: cheap})
	g, _ := svc.Mint(context.Background(), auth.Principal{ClientID: "c", Subject: "c", Roles: []string{"r"}}, auth.MintRequest{})
	i := strings.LastIndexByte(g.Token, '.')
	msg := []byte(g.Token[:i])
	sig := decodeSeg(b, g.Token[i+1:])
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(k.Public, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// authenticateRequest runs the whole middleware on one request.
func authenticateRequest(b *testing.B, svc *auth.Service, tok string) {
	h := svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
}

// BenchmarkAuthenticateCold: every request does the full check (no cache):
// header parse, JWT parse, Ed25519 verify, claims, token DB lookup.
func BenchmarkAuthenticateCold(b *testing.B) {
	svc, tok := benchService(b, -1)
	authenticateRequest(b, svc, tok)
}

// BenchmarkAuthenticateWarm: the same token again, answered from the
// verified-token cache.
func BenchmarkAuthenticateWarm(b *testing.B) {
	svc, tok := benchService(b, 0)
	authenticateRequest(b, svc, tok)
}

func BenchmarkAuthenticateWarmParallel(b *testing.B) {
	svc, tok := benchService(b, 0)
	h := svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkVerifyWarm is Verify alone, without the HTTP wrapper.
func BenchmarkVerifyWarm(b *testing.B) {
	svc, tok := benchService(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin is a password login end to end with the default Argon2id
// parameters (19 MiB, 2 passes): the hash dominates, by design.
func BenchmarkLogin(b *testing.B) {
	svc, err := auth.New(auth.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: alicePW}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Login(ctx, auth.Credentials{Username: "alice", Password: alicePW}); err != nil {
			b.Fatal(err)
		}
	}
}

func decodeSeg(b *testing.B, s string) []byte {
	b.Helper()
	out, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
