package auth

import (
	"errors"
	"time"
)

// MaxAssertionLife bounds the life of an identity assertion.
const MaxAssertionLife = 5 * time.Minute

// assertionClaims is the payload of an identity assertion.
type assertionClaims struct {
	verifiedClaims
	IssuedAt   int64    `json:"iat"`
	ClientID   string   `json:"cid"`
	Roles      []string `json:"r"`
	Groups     []string `json:"g,omitempty"`
	Kind       Kind     `json:"kind"`
	Identifier string   `json:"ext,omitempty"`
}

// Assert signs an identity assertion: a short-lived statement, for one
// audience, of who p is. Package extension hands one to an extension with
// each proxied request in place of the caller's credentials, which never
// leave the platform.
//
// The assertion is an EdDSA JWT with header typ "portico-identity+jwt" and
// the signing key's kid, so the audience verifies it against the JWKS
// (GET /auth/jwks). Its claims are iss (Config.Issuer), sub, aud
// (audience), iat, exp (now + life, at most MaxAssertionLife), jti, cid, r
// (roles), g (groups), kind ("token" or "apikey") and ext (an API key's
// extension identifier). It is not recorded in the token DB and it is not
// a credential: Verify refuses it, by its typ, as an access token.
func (s *Service) Assert(p Principal, audience string, life time.Duration) (string, time.Time, error) {
	if p.Subject == "" || audience == "" {
		return "", time.Time{}, errors.New("auth: assertion needs a subject and an audience")
	}
	if life <= 0 || life > MaxAssertionLife {
		life = MaxAssertionLife
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(life)
	c := &assertionClaims{
		verifiedClaims: verifiedClaims{
			Issuer: s.cfg.Issuer, Subject: p.Subject, Audience: audience,
			ExpiresAt: exp.Unix(), ID: newID(),
		},
		IssuedAt: now.Unix(), ClientID: p.ClientID, Roles: nonNil(p.Roles), Groups: p.Groups,
		Kind: p.Kind, Identifier: p.Identifier,
	}
	tok, err := s.sign(typAssertion, c)
	return tok, exp, err
}
