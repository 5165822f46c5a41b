package auth_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

func TestAssert(t *testing.T) {
	h := newHarness(t)
	p := auth.Principal{Subject: "alice", ClientID: "alice", Roles: []string{"user"}, Groups: []string{"staff"},
		Kind: auth.KindAPIKey, Identifier: "billing", TokenID: "k1"}
	tok, exp, err := h.svc.Assert(p, "billing", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, h.clock.Now().UTC().Truncate(time.Second).Add(time.Minute), exp)

	// An extension verifies it with the published key, by its own means.
	jwks := h.svc.Keys().JWKS(h.clock.Now())
	require.Len(t, jwks.Keys, 1)
	pub := h.svc.Keys().Signing().Public
	var claims jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &claims, func(tk *jwt.Token) (any, error) {
		assert.Equal(t, "portico-identity+jwt", tk.Header["typ"])
		assert.Equal(t, jwks.Keys[0].KeyID, tk.Header["kid"])
		return ed25519.PublicKey(pub), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("billing"), jwt.WithTimeFunc(h.clock.Now))
	require.NoError(t, err)
	require.True(t, parsed.Valid)
	assert.Equal(t, "alice", claims["sub"])
	assert.Equal(t, []any{"user"}, claims["r"])
	assert.Equal(t, []any{"staff"}, claims["g"])
	assert.Equal(t, "apikey", claims["kind"])
	assert.Equal(t, "billing", claims["ext"])
	assert.NotEmpty(t, claims["jti"])

	// It is no access token.
	_, err = h.svc.Verify(t.Context(), tok)
	assert.ErrorIs(t, err, auth.ErrInvalidToken)

	// Its life is bounded.
	_, exp, err = h.svc.Assert(p, "billing", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, h.clock.Now().UTC().Truncate(time.Second).Add(auth.MaxAssertionLife), exp)
	_, _, err = h.svc.Assert(auth.Principal{}, "billing", time.Minute)
	assert.Error(t, err)
}
