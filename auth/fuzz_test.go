package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-dev/portico/auth"
)

// FuzzVerify feeds arbitrary strings to the token verifier: it must never
// panic, never accept anything but a token it issued, and always answer
// with one of the token sentinels.
func FuzzVerify(f *testing.F) {
	svc, err := auth.New(auth.Config{Passwords: cheap})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	g, err := svc.Mint(ctx, auth.Principal{ClientID: "c", Subject: "c", Roles: []string{"r"}}, auth.MintRequest{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(g.Token)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add(g.Token[:len(g.Token)-2])
	f.Add(strings.Replace(g.Token, ".", "..", 1))
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := svc.Verify(ctx, tok)
		if err == nil {
			if tok != g.Token {
				t.Fatalf("accepted a token it did not issue: %q", tok)
			}
			if p.ClientID != "c" {
				t.Fatalf("wrong principal %+v", p)
			}
			return
		}
		if !errors.Is(err, auth.ErrInvalidToken) && !errors.Is(err, auth.ErrExpired) && !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("Verify(%q) = %v, not a token error", tok, err)
		}
	})
}

// FuzzBearerToken checks the Authorization header parser: whatever it
// returns is a non-empty RFC 6750 token found in the header.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "", "Bearer ", "Bearer a b", "BEARER\t x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hdr string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Authorization"] = []string{hdr}
		tok, ok := auth.BearerToken(req)
		if !ok {
			if tok != "" {
				t.Fatalf("not ok but returned %q", tok)
			}
			return
		}
		if tok == "" || !strings.HasSuffix(hdr, tok) || strings.ContainsAny(tok, " \t\r\n\x00") {
			t.Fatalf("BearerToken(%q) = %q", hdr, tok)
		}
	})
}
