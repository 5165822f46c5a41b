package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

// forge signs arbitrary claims and header fields (nil deletes one) with
// signWith, to build the tokens an attacker, a bug or an issuer could present.
func forge(t *testing.T, method jwt.SigningMethod, signWith any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(signWith)
	require.NoError(t, err)
	return s
}

func TestVerifyRejectsAttacks(t *testing.T) {
	h := newHarness(t)
	good := h.token("alice")
	ctx := context.Background()
	_, err := h.svc.Verify(ctx, good)
	require.NoError(t, err, "the untouched token verifies")

	// A claims set that would be accepted if it were in the token DB.
	now := h.clock.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "portico", "aud": "portico", "sub": "alice", "cid": "alice", "tid": "x", "jti": "x",
			"r": []string{"admin"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := map[string]any{"typ": "at+jwt", "kid": h.key.ID}
	other, err := auth.GenerateKey()
	require.NoError(t, err)
	refresh := h.login("alice", alicePW).RefreshToken

	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"reader"`, `"admin"`, 1))) + "." + parts[2]
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+h.key.ID+`"}`)) + "." + parts[1] + "."

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", noneTok, auth.ErrInvalidToken},
		{"HS256 keyed with the public key", forge(t, jwt.SigningMethodHS256, []byte(h.key.Public), hdr, valid()), auth.ErrInvalidToken},
		{"unknown kid", forge(t, jwt.SigningMethodEdDSA, h.key.Private, map[string]any{"typ": "at+jwt", "kid": "nope"}, valid()), auth.ErrInvalidToken},
		{"no kid", forge(t, jwt.SigningMethodEdDSA, h.key.Private, map[string]any{"typ": "at+jwt", "kid": nil}, valid()), auth.ErrInvalidToken},
		{"oversized kid", forge(t, jwt.SigningMethodEdDSA, h.key.Private, map[string]any{"typ": "at+jwt", "kid": strings.Repeat("k", 500)}, valid()), auth.ErrInvalidToken},
		{"signed by a stranger's key under our kid", forge(t, jwt.SigningMethodEdDSA, other.Private, hdr, valid()), auth.ErrInvalidToken},
		{"jwk header naming the attacker's key", forge(t, jwt.SigningMethodEdDSA, other.Private, map[string]any{"typ": "at+jwt", "kid": h.key.ID, "jwk": map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(other.Public)}}, valid()), auth.ErrInvalidToken},
		{"missing exp", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, with("exp", nil)), auth.ErrInvalidToken},
		{"expired", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, with("exp", now.Add(-time.Hour).Unix())), auth.ErrExpired},
		{"nbf in the future", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, with("nbf", now.Add(time.Hour).Unix())), auth.ErrExpired},
		{"wrong iss", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, with("iss", "evil")), auth.ErrInvalidToken},
		{"wrong aud", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, with("aud", "elsewhere")), auth.ErrInvalidToken},
		{"no typ", forge(t, jwt.SigningMethodEdDSA, h.key.Private, map[string]any{"kid": h.key.ID, "typ": nil}, valid()), auth.ErrInvalidToken},
		{"typ JWT", forge(t, jwt.SigningMethodEdDSA, h.key.Private, map[string]any{"kid": h.key.ID, "typ": "JWT"}, valid()), auth.ErrInvalidToken},
		{"refresh token as access token", refresh, auth.ErrInvalidToken},
		{"well signed but not in the token DB", forge(t, jwt.SigningMethodEdDSA, h.key.Private, hdr, valid()), auth.ErrRevoked},
		{"tampered payload", tampered, auth.ErrInvalidToken},
		{"oversized", good + strings.Repeat("A", 9000), auth.ErrInvalidToken},
		{"garbage", "not.a.token", auth.ErrInvalidToken},
		{"two segments", "abc.def", auth.ErrInvalidToken},
		{"empty", "", auth.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.svc.Verify(ctx, tc.token)
			require.ErrorIs(t, err, tc.want, "Verify(%s)", tc.name)

			rec := h.do("GET", "/auth", tc.token, "")
			if tc.token == "" || strings.Count(tc.token, ".") != 2 {
				// Not a JWT: no authenticator recognises it.
				assert.Equal(t, 401, rec.Code, "GET /auth with %s", tc.name)
				return
			}
			assert.Equal(t, 401, rec.Code, "GET /auth with %s", tc.name)
			assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `Bearer realm="portico"`)
			assert.Contains(t, rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			errorCode(t, rec)
		})
	}
}

func TestVerifyChecksTheRecord(t *testing.T) {
	h := newHarness(t)
	g := h.login("alice", alicePW)
	p, err := h.svc.Verify(context.Background(), g.Token)
	require.NoError(t, err)
	assert.Equal(t, auth.Principal{
		Subject: "alice", ClientID: "alice", Roles: []string{"reader", "writer"}, Groups: []string{"staff"},
		TokenID: g.Data.TokenID, Kind: auth.KindToken, Requester: "alice", ExpiresAt: g.ExpiresAt,
	}, p)
	assert.Equal(t, 15*time.Minute, g.ExpiresAt.Sub(h.clock.Now()), "access tokens live 15 minutes by default")
	assert.Len(t, g.Data.TokenID, 22, "tid is 128 bits, base64url")

	h.clock.Advance(15*time.Minute + 31*time.Second)
	_, err = h.svc.Verify(context.Background(), g.Token)
	require.ErrorIs(t, err, auth.ErrExpired, "past exp plus leeway, even from the cache")
}

func TestRevocationIsImmediate(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	verify := func(tok string) error { _, err := h.svc.Verify(ctx, tok); return err }

	t.Run("one token", func(t *testing.T) {
		a, b := h.token("alice"), h.token("alice")
		require.NoError(t, verify(a)) // now cached
		n, err := h.svc.Revoke(ctx, auth.TokenFilter{TokenID: tid(t, h, a)})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		require.ErrorIs(t, verify(a), auth.ErrRevoked, "the revoked token, cached before")
		require.NoError(t, verify(b), "another token of the same client")
	})
	t.Run("a client's tokens", func(t *testing.T) {
		a, b := h.token("bob"), h.token("alice")
		require.NoError(t, verify(a))
		_, err := h.svc.Revoke(ctx, auth.TokenFilter{ClientID: "bob"})
		require.NoError(t, err)
		require.ErrorIs(t, verify(a), auth.ErrRevoked)
		require.NoError(t, verify(b), "alice is untouched")
	})
	t.Run("issued before T", func(t *testing.T) {
		old := h.token("alice")
		require.NoError(t, verify(old))
		h.clock.Advance(time.Second)
		cut := h.clock.Now()
		fresh := h.token("alice")
		_, err := h.svc.Revoke(ctx, auth.TokenFilter{ClientID: "alice", IssuedBefore: cut})
		require.NoError(t, err)
		require.ErrorIs(t, verify(old), auth.ErrRevoked, "issued before the cut")
		require.NoError(t, verify(fresh), "issued at the cut")
	})
}

func tid(t *testing.T, h *harness, tok string) string {
	t.Helper()
	p, err := h.svc.Verify(context.Background(), tok)
	require.NoError(t, err)
	return p.TokenID
}

// TestRevocationRacesVerification revokes tokens while other goroutines
// verify them: once Revoke has returned, no verification may succeed,
// whatever was in flight when it ran.
func TestRevocationRacesVerification(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for range 20 {
		tok := h.token("bob")
		id := tid(t, h, tok)
		h.svc.Invalidate(auth.TokenFilter{TokenID: id}) // start cold so verifications race the store read
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 50 {
				_, _ = h.svc.Verify(ctx, tok)
			}
		}()
		_, err := h.svc.Revoke(ctx, auth.TokenFilter{TokenID: id})
		require.NoError(t, err)
		_, err = h.svc.Verify(ctx, tok)
		require.ErrorIs(t, err, auth.ErrRevoked, "right after Revoke")
		<-done
		_, err = h.svc.Verify(ctx, tok)
		require.ErrorIs(t, err, auth.ErrRevoked, "after the racing verifications finished")
	}
}

func TestKeyRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	before := h.token("alice")
	require.NoError(t, verifyErr(h, before))

	next, err := auth.GenerateKey()
	require.NoError(t, err)
	require.NoError(t, h.keys.Rotate(next, h.clock.Now().Add(time.Hour)))
	after := h.token("alice")
	assert.Equal(t, next.ID, kidOf(t, after), "new tokens are signed with the new key")
	require.NoError(t, verifyErr(h, before), "a token signed before the rotation verifies in the overlap")
	require.NoError(t, verifyErr(h, after))

	jwks := h.keys.JWKS(h.clock.Now())
	require.Len(t, jwks.Keys, 2, "both keys are published during the overlap")
	assert.Equal(t, next.ID, jwks.Keys[0].KeyID, "the signing key comes first")

	h.clock.Advance(time.Hour)
	require.ErrorIs(t, verifyErr(h, before), auth.ErrInvalidToken, "after the overlap the old key is gone, cached or not")
	assert.Len(t, h.keys.JWKS(h.clock.Now()).Keys, 1)
	_, err = h.svc.Verify(ctx, h.token("alice"))
	require.NoError(t, err, "a token signed by the new key")

	require.Error(t, h.keys.Remove(next.ID), "the signing key cannot be removed")
}

func verifyErr(h *harness, tok string) error {
	_, err := h.svc.Verify(context.Background(), tok)
	return err
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	return parsed.Header["kid"].(string)
}

func TestThumbprintRFC8037(t *testing.T) {
	// RFC 8037 appendix A.2 and A.3.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", auth.Thumbprint(ed25519.PublicKey(x)))
}

func TestParseKeys(t *testing.T) {
	k, err := auth.GenerateKey()
	require.NoError(t, err)
	back, err := auth.ParsePrivateKey(auth.EncodePrivateKey(k))
	require.NoError(t, err)
	assert.Equal(t, k.ID, back.ID)
	assert.True(t, k.Private.Equal(back.Private))
	full, err := auth.ParsePrivateKey(base64.StdEncoding.EncodeToString(k.Private))
	require.NoError(t, err, "the 64-byte form")
	assert.Equal(t, k.ID, full.ID)
	pub, err := auth.ParsePublicKey(auth.EncodePublicKey(k))
	require.NoError(t, err)
	assert.Equal(t, k.ID, pub.ID)
	assert.Nil(t, pub.Private)

	for _, bad := range []string{"", "!!!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		_, err := auth.ParsePrivateKey(bad)
		assert.Error(t, err, "ParsePrivateKey(%q)", bad)
		_, err = auth.ParsePublicKey(bad)
		assert.Error(t, err, "ParsePublicKey(%q)", bad)
	}
	mismatched := append(append([]byte{}, k.Private.Seed()...), make([]byte, 32)...)
	_, err = auth.ParsePrivateKey(base64.StdEncoding.EncodeToString(mismatched))
	assert.Error(t, err, "a 64-byte key whose halves disagree")
}
