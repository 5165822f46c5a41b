package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

// issuer is a minimal OpenID provider: discovery and a JWKS with one RSA
// and one EC key.
type issuer struct {
	srv     *httptest.Server
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
	fetches atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	is := &issuer{rsaKey: rk, ecKey: ek}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{
			{"kty": "RSA", "kid": "rsa1", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
			{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64(ek.X.FillBytes(make([]byte, 32))), "y": b64(ek.Y.FillBytes(make([]byte, 32)))},
		}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) sign(t *testing.T, method jwt.SigningMethod, kid string, c jwt.MapClaims) string {
	t.Helper()
	var key any = is.rsaKey
	if method == jwt.SigningMethodES256 {
		key = is.ecKey
	}
	return forge(t, method, key, map[string]any{"kid": kid}, c)
}

func TestOIDCExchange(t *testing.T) {
	is := newIssuer(t)
	h := newHarness(t, func(c *auth.Config) {
		c.OIDC = &auth.OIDCConfig{Issuer: is.srv.URL, Audience: "portico-app", Roles: []string{"viewer"}, HTTPClient: is.srv.Client()}
	})
	now := h.clock.Now()
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": is.srv.URL, "aud": "portico-app", "sub": "u-123", "name": "Uma", "groups": []string{"eng", "ops"},
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		if mut != nil {
			mut(c)
		}
		return c
	}

	rec := h.do("GET", "/usertoken", is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(nil)), "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	g := decode[auth.Grant](t, rec)
	assert.Equal(t, "oidc:u-123", g.Data.ClientID)
	assert.Equal(t, []string{"viewer"}, g.Data.Roles, "a new OIDC client gets the configured roles")
	assert.Equal(t, []string{"eng", "ops"}, g.Data.Groups, "groups claim mapped")
	c, err := h.svc.GetClient(context.Background(), "oidc:u-123")
	require.NoError(t, err)
	assert.Equal(t, "Uma", c.Name)

	rec = h.do("GET", "/usertoken", is.sign(t, jwt.SigningMethodES256, "ec1", claims(func(c jwt.MapClaims) { c["groups"] = []string{"eng"} })), "")
	require.Equal(t, 200, rec.Code, "an ES256 ID token: %s", rec.Body)
	assert.Equal(t, []string{"eng"}, decode[auth.Grant](t, rec).Data.Groups, "groups follow the latest ID token")
	assert.Equal(t, int32(1), is.fetches.Load(), "keys are fetched once and cached")

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsa1 := map[string]any{"kid": "rsa1"}

	for name, tok := range map[string]string{
		"wrong audience":             is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"wrong issuer":               is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		"expired":                    is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":                     is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"no sub":                     is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "sub") })),
		"unknown kid":                is.sign(t, jwt.SigningMethodRS256, "nope", claims(nil)),
		"forged":                     forge(t, jwt.SigningMethodRS256, other, rsa1, claims(nil)),
		"HS256 with the RSA modulus": forge(t, jwt.SigningMethodHS256, is.rsaKey.N.Bytes(), rsa1, claims(nil)),
	} {
		rec := h.do("GET", "/usertoken", tok, "")
		assert.Equal(t, 401, rec.Code, "%s: %s", name, rec.Body)
	}
	assert.Equal(t, 401, h.do("GET", "/usertoken", "", "").Code, "no ID token")

	_, err = h.svc.SetEnabled(context.Background(), "oidc:u-123", false)
	require.NoError(t, err)
	rec = h.do("GET", "/usertoken", is.sign(t, jwt.SigningMethodRS256, "rsa1", claims(nil)), "")
	assert.Equal(t, 403, rec.Code, "a disabled OIDC client")
}

func TestOIDCConfigValidated(t *testing.T) {
	_, err := auth.New(auth.Config{OIDC: &auth.OIDCConfig{Issuer: "https://id.example"}})
	assert.Error(t, err, "an OIDC config without an audience")
}
