package auth

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OIDCConfig configures the exchange of an external OpenID Connect ID token
// for a Portico token (GET /usertoken).
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; ID tokens must carry it as iss.
	Issuer string
	// Audience is the client id ID tokens must be issued to (aud).
	Audience string
	// JWKSURL is where the provider publishes its keys. Empty: read from
	// Issuer + "/.well-known/openid-configuration".
	JWKSURL string
	// GroupsClaim names the claim holding the user's groups. Empty: "groups".
	GroupsClaim string
	// ClientPrefix is put before the ID token's sub to make the client id.
	// Empty: "oidc:".
	ClientPrefix string
	// Roles are the roles a client created by its first exchange gets.
	Roles []string
	// HTTPClient fetches discovery and keys. Nil: a client with a 10-second
	// timeout.
	HTTPClient *http.Client
}

// maxIDTokenSize bounds an external ID token, checked before parsing.
const maxIDTokenSize = 16 << 10

// oidcVerifier verifies ID tokens against the issuer's published keys,
// refetching them (at most once a minute) when a token names an unknown kid.
type oidcVerifier struct {
	cfg    OIDCConfig
	parser *jwt.Parser
	now    func() time.Time

	mu      sync.Mutex
	jwksURL string
	keys    map[string]any
	fetched time.Time
}

func newOIDCVerifier(cfg OIDCConfig, now func() time.Time, leeway time.Duration) (*oidcVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: OIDC needs Issuer and Audience")
	}
	cfg.GroupsClaim = cmp.Or(cfg.GroupsClaim, "groups")
	cfg.ClientPrefix = cmp.Or(cfg.ClientPrefix, "oidc:")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if err := validateRoles("OIDC.Roles", cfg.Roles); err != nil {
		return nil, err
	}
	return &oidcVerifier{
		cfg:     cfg,
		now:     now,
		jwksURL: cfg.JWKSURL,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(now),
		),
	}, nil
}

// verify checks an ID token and returns its claims.
func (v *oidcVerifier) verify(ctx context.Context, token string) (jwt.MapClaims, error) {
	if len(token) > maxIDTokenSize {
		return nil, tokenErr(ErrInvalidToken, errors.New("ID token too large"))
	}
	c := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if len(kid) > maxKidLen {
			return nil, errors.New("oversized kid")
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return nil, tokenErr(ErrExpired, err)
		}
		return nil, tokenErr(ErrInvalidToken, err)
	}
	if sub, _ := c["sub"].(string); sub == "" {
		return nil, tokenErr(ErrInvalidToken, errors.New("ID token has no sub"))
	}
	return c, nil
}

func (v *oidcVerifier) key(ctx context.Context, kid string) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.pick(kid); ok {
		return k, nil
	}
	if !v.fetched.IsZero() && v.now().Sub(v.fetched) < time.Minute {
		return nil, errors.New("unknown kid")
	}
	if err := v.fetch(ctx); err != nil {
		return nil, err
	}
	if k, ok := v.pick(kid); ok {
		return k, nil
	}
	return nil, errors.New("unknown kid")
}

// pick returns the key for kid; a token with no kid may use the only key.
func (v *oidcVerifier) pick(kid string) (any, bool) {
	if kid == "" && len(v.keys) == 1 {
		for _, k := range v.keys {
			return k, true
		}
	}
	k, ok := v.keys[kid]
	return k, ok
}

// fetch (re)loads the provider's keys; v.mu is held.
func (v *oidcVerifier) fetch(ctx context.Context) error {
	v.fetched = v.now()
	if v.jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, strings.TrimSuffix(v.cfg.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return fmt.Errorf("OIDC discovery: %w", err)
		}
		if doc.Issuer != v.cfg.Issuer || doc.JWKSURI == "" {
			return errors.New("OIDC discovery: issuer mismatch or no jwks_uri")
		}
		v.jwksURL = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, v.jwksURL, &set); err != nil {
		return fmt.Errorf("OIDC keys: %w", err)
	}
	keys := make(map[string]any, len(set.Keys))
	for _, raw := range set.Keys {
		kid, k, err := parseJWK(raw)
		if err == nil {
			keys[kid] = k
		}
	}
	v.keys = keys
	return nil
}

func (v *oidcVerifier) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(dst)
}

// parseJWK reads an RSA, EC (P-256/384/521) or OKP (Ed25519) public JWK.
func parseJWK(raw []byte) (string, any, error) {
	var k struct {
		Kty, Kid, Crv, Use string
		N, E, X, Y         string
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", nil, err
	}
	if k.Use != "" && k.Use != "sig" {
		return "", nil, errors.New("not a signing key")
	}
	b64 := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(b)
	}
	switch k.Kty {
	case "RSA":
		n, e := b64(k.N), b64(k.E)
		if n == nil || e == nil || n.BitLen() < 2048 || !e.IsInt64() || e.Int64() > 1<<31 {
			return "", nil, errors.New("bad RSA key")
		}
		return k.Kid, &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		curve, ok := curves[k.Crv]
		x, y := b64(k.X), b64(k.Y)
		if !ok || x == nil || y == nil || !curve.IsOnCurve(x, y) {
			return "", nil, errors.New("bad EC key")
		}
		return k.Kid, &ecdsa.PublicKey{Curve: curve, X: x, Y: y}, nil
	case "OKP":
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return "", nil, errors.New("bad OKP key")
		}
		return k.Kid, ed25519.PublicKey(x), nil
	}
	return "", nil, errors.New("unsupported key type")
}

// ExchangeIDToken verifies an external OIDC ID token (signature against
// the issuer's keys, iss, aud, exp) and starts a Portico session for it. The
// client id is OIDCConfig.ClientPrefix + sub; the client is created on first
// use with OIDCConfig.Roles, and its groups are replaced by the token's
// groups claim on every exchange. A disabled client is refused.
func (s *Service) ExchangeIDToken(ctx context.Context, idToken string) (Grant, error) {
	if s.oidc == nil {
		return Grant{}, ErrOIDCDisabled
	}
	c, err := s.oidc.verify(ctx, idToken)
	if err != nil {
		s.audit(ctx, "login.oidc", "", err, "")
		return Grant{}, err
	}
	sub, _ := c["sub"].(string)
	id := s.oidc.cfg.ClientPrefix + sub
	if err := validateClientID(id); err != nil {
		return Grant{}, tokenErr(ErrInvalidToken, err)
	}
	groups := claimStrings(c[s.oidc.cfg.GroupsClaim])
	if err := validateRoles("groups", groups); err != nil {
		groups = nil // a provider's group names Portico cannot hold are dropped, not fatal
	}
	name, _ := c["name"].(string)
	if name == "" {
		name, _ = c["email"].(string)
	}
	now := s.now().UTC()
	cl, err := s.store.UpdateClient(ctx, id, func(cl *Client) error {
		if !cl.Enabled {
			return ErrClientDisabled
		}
		cl.Groups, cl.LastLogin = dedupe(nonNil(groups)), now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		cl, err = s.newClient(NewClient{ID: id, Name: truncate(name, 256), Roles: s.oidc.cfg.Roles, Groups: groups})
		if err == nil {
			cl.LastLogin = now
			err = s.store.CreateClient(ctx, cl)
		}
	}
	if err != nil {
		s.auditAs(ctx, id, "", "login.oidc", id, err, "")
		return Grant{}, err
	}
	g, err := s.startSession(ctx, cl, newID())
	s.auditAs(ctx, id, "", "login.oidc", id, err, "")
	return g, err
}

func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
