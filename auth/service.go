package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portico-dev/portico/internal/periodic"
)

// Token lifetimes and limits.
const (
	// MinTokenLife is the shortest life a minted token may ask for.
	MinTokenLife = 10 * time.Second
	// DefaultAccessTTL is an access token's life when Config.AccessTTL is 0.
	DefaultAccessTTL = 15 * time.Minute
	// MaxLeeway bounds Config.Leeway.
	MaxLeeway = 5 * time.Minute
)

// JWT header typ values, so one kind of token can never pass for another.
const (
	typAccess    = "at+jwt"
	typRefresh   = "rt+jwt"
	typAssertion = "portico-identity+jwt"
)

// Config configures a Service. The zero value is a working, safe setup:
// an in-memory store, a freshly generated signing key, 15-minute access
// tokens, 7-day refresh tokens, local password login, no self-registration.
type Config struct {
	// Store keeps tokens, refresh tokens and clients. Nil: NewMemoryStore().
	Store Store
	// Keys signs and verifies tokens. Nil: a new key is generated, so tokens
	// do not survive a restart.
	Keys *KeySet
	// Issuer and Audience are the iss and aud of issued tokens, both
	// required when verifying. Empty: "portico".
	Issuer   string
	Audience string
	// AccessTTL is the life of tokens got by login and refresh. Zero: 15 minutes.
	AccessTTL time.Duration
	// MaxTokenLife caps the life of minted tokens (the configurable max
	// age). Zero: 24 hours. It must be at least AccessTTL.
	MaxTokenLife time.Duration
	// RefreshTTL is the life of refresh tokens. Zero: 7 days; negative: no
	// refresh tokens are issued.
	RefreshTTL time.Duration
	// RefreshGrace is how long after a refresh token is spent that
	// presenting it again still succeeds (two tabs refreshing at once)
	// instead of revoking the family. Zero: 10 seconds; negative: none.
	RefreshGrace time.Duration
	// Leeway is the clock skew allowed on exp and nbf. Zero: 30 seconds;
	// at most MaxLeeway.
	Leeway time.Duration
	// MaxTokenSize caps a token's length, checked before parsing. Zero: 8 KiB.
	MaxTokenSize int
	// CacheSize bounds the verified-token cache. Zero: 10,000 tokens;
	// negative: no cache.
	CacheSize int
	// AdminRole is the role that may act on other clients' tokens and on
	// clients. Empty: "admin".
	AdminRole string
	// IsAdmin decides whether a caller is an administrator. Nil: the caller
	// holds AdminRole. A host using package rbac wires its decision here.
	IsAdmin func(ctx context.Context, p Principal) bool
	// SelfRegister lets anyone create a client through the register route.
	// RegisterRoles are the roles such a client gets (none if empty).
	SelfRegister  bool
	RegisterRoles []string
	// Providers check login credentials, in order; the first to accept
	// wins. Nil: the local PasswordProvider.
	Providers []Provider
	// Authenticators are asked after the Service's own bearer-token check,
	// by Middleware and the Service's handlers (package apikey adds its own).
	Authenticators []Authenticator
	// Passwords hashes client passwords. Nil: Argon2id{}.
	Passwords PasswordHasher
	// MFAIssuer labels TOTP enrolments in authenticator apps. Empty: "Portico".
	MFAIssuer string
	// OIDC enables exchanging external OIDC ID tokens. Nil: disabled.
	OIDC *OIDCConfig
	// LoginAttempts failed logins per client IP and username are allowed
	// within LoginWindow; more are refused with 429. Zero: 5 per 15 minutes;
	// negative LoginAttempts: no limit.
	LoginAttempts int
	LoginWindow   time.Duration
	// ClientIP returns the caller's IP for the login guard and audit. Nil:
	// the host part of RemoteAddr (no forwarded headers are trusted).
	ClientIP func(r *http.Request) string
	// CleanupInterval is how often Run purges expired records. Zero: 10 minutes.
	CleanupInterval time.Duration
	// Audit receives an event for every login, refresh, logout, mint,
	// revocation and client change. Nil: none are sent. It is called
	// synchronously, so it must be quick (AuditLog.Record is).
	Audit func(AuditEvent)
	// MaxBodyBytes caps request bodies of the Service's handlers. Zero: 64 KiB.
	MaxBodyBytes int64
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Logger receives errors the handlers cannot show the client. Nil:
	// slog.Default(). Tokens, passwords and secrets are never logged.
	Logger *slog.Logger
}

// Service issues, verifies and revokes tokens, logs clients in and manages
// them. It is safe for concurrent use.
type Service struct {
	cfg       Config
	store     Store
	keys      *KeySet
	parser    *jwt.Parser // one for every kind; keyFunc checks typ
	cache     *tokenCache
	guard     *loginGuard
	providers []Provider
	chain     []Authenticator
	oidc      *oidcVerifier
	log       *slog.Logger
	now       func() time.Time
	idle      atomic.Int64 // the session idle timeout, a time.Duration; 0: none
}

// SetSessionIdleTimeout ends login sessions left unused for d: a refresh
// token issued (by login or by the last refresh) more than d ago is
// refused with ErrExpired and its session revoked. Since access tokens
// last Config.AccessTTL, a session ends at most that long after it went
// idle. Zero turns the timeout off. Safe to call at any time.
func (s *Service) SetSessionIdleTimeout(d time.Duration) { s.idle.Store(int64(max(d, 0))) }

// New validates cfg, fills in its defaults and returns a Service. It starts
// nothing; call Run to purge expired records in the background.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Keys == nil {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		if cfg.Keys, err = NewKeySet(k); err != nil {
			return nil, err
		}
	}
	cfg.Issuer = cmp.Or(cfg.Issuer, "portico")
	cfg.Audience = cmp.Or(cfg.Audience, "portico")
	cfg.AccessTTL = cmp.Or(cfg.AccessTTL, DefaultAccessTTL)
	cfg.MaxTokenLife = cmp.Or(cfg.MaxTokenLife, 24*time.Hour)
	cfg.RefreshTTL = cmp.Or(cfg.RefreshTTL, 7*24*time.Hour)
	cfg.RefreshGrace = cmp.Or(cfg.RefreshGrace, 10*time.Second)
	cfg.Leeway = cmp.Or(cfg.Leeway, 30*time.Second)
	cfg.MaxTokenSize = cmp.Or(cfg.MaxTokenSize, 8<<10)
	cfg.CacheSize = cmp.Or(cfg.CacheSize, 10000)
	cfg.AdminRole = cmp.Or(cfg.AdminRole, "admin")
	cfg.MFAIssuer = cmp.Or(cfg.MFAIssuer, "Portico")
	cfg.LoginAttempts = cmp.Or(cfg.LoginAttempts, 5)
	cfg.LoginWindow = cmp.Or(cfg.LoginWindow, 15*time.Minute)
	cfg.CleanupInterval = cmp.Or(cfg.CleanupInterval, 10*time.Minute)
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 64<<10)
	if cfg.Passwords == nil {
		cfg.Passwords = Argon2id{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = RemoteIP
	}
	switch {
	case cfg.AccessTTL < MinTokenLife:
		return nil, fmt.Errorf("auth: AccessTTL must be at least %s", MinTokenLife)
	case cfg.MaxTokenLife < cfg.AccessTTL:
		return nil, errors.New("auth: MaxTokenLife must be at least AccessTTL")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("auth: Leeway must be between 0 and %s", MaxLeeway)
	case cfg.MaxTokenSize < 512:
		return nil, errors.New("auth: MaxTokenSize must be at least 512 bytes")
	case cfg.LoginWindow < 0 || cfg.CleanupInterval < 0 || cfg.MaxBodyBytes < 0:
		return nil, errors.New("auth: LoginWindow, CleanupInterval and MaxBodyBytes must not be negative")
	}
	if err := validateRoles("AdminRole", []string{cfg.AdminRole}); err != nil {
		return nil, err
	}
	if err := validateRoles("RegisterRoles", cfg.RegisterRoles); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:   cfg,
		store: cfg.Store,
		keys:  cfg.Keys,
		cache: newTokenCache(cfg.CacheSize),
		guard: newLoginGuard(cfg.LoginAttempts, cfg.LoginWindow),
		log:   cfg.Logger,
		now:   cfg.Now,
	}
	s.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	s.providers = cfg.Providers
	if s.providers == nil {
		s.providers = []Provider{&PasswordProvider{Clients: cfg.Store, Passwords: cfg.Passwords, Now: cfg.Now}}
	}
	s.chain = append([]Authenticator{s}, cfg.Authenticators...)
	if cfg.OIDC != nil {
		v, err := newOIDCVerifier(*cfg.OIDC, cfg.Now, cfg.Leeway)
		if err != nil {
			return nil, err
		}
		s.oidc = v
	}
	return s, nil
}

// Keys returns the key set the Service signs with.
func (s *Service) Keys() *KeySet { return s.keys }

// Store returns the Service's store.
func (s *Service) Store() Store { return s.store }

// claims is the JWT payload the Service signs: the registered claims
// (verifiedClaims, which verification decodes) plus the token DB fields.
type claims struct {
	verifiedClaims
	IssuedAt  int64    `json:"iat"`
	ClientID  string   `json:"cid"`
	Roles     []string `json:"r,omitempty"`
	Groups    []string `json:"g,omitempty"`
	Created   string   `json:"cts,omitempty"`
	Expires   string   `json:"ets,omitempty"`
	Requester string   `json:"rcid,omitempty"`
}

// verifiedClaims is what verification decodes: only the fields it checks.
// Roles, groups and times come from the token DB record, so the rest of the
// payload is skipped rather than decoded. Plain fields, not golang-jwt's
// NumericDate and ClaimStrings, keep decoding free of per-field
// UnmarshalJSON calls; the methods below hand golang-jwt's validator what
// it checks (exp required, nbf, iss, aud).
// aud is a single string (RFC 7519 allows either form).
type verifiedClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	ExpiresAt int64  `json:"exp"`
	NotBefore int64  `json:"nbf,omitempty"`
	ID        string `json:"jti"`
	TokenID   string `json:"tid,omitempty"`
	Family    string `json:"fam,omitempty"`
}

var _ jwt.Claims = (*verifiedClaims)(nil)

func numericDate(sec int64) (*jwt.NumericDate, error) {
	if sec == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0)), nil
}

func (c *verifiedClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return numericDate(c.ExpiresAt)
}
func (c *verifiedClaims) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.NotBefore) }
func (c *verifiedClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return nil, nil }
func (c *verifiedClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *verifiedClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *verifiedClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// newID returns 128 bits from crypto/rand, base64url.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sign makes a JWT of the given typ with the signing key.
func (s *Service) sign(typ string, c jwt.Claims) (string, error) {
	k := s.keys.Signing()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["typ"] = typ
	t.Header["kid"] = k.ID
	tok, err := t.SignedString(k.Private)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return tok, nil
}

// issue records rec in the token DB and returns its signed access token.
func (s *Service) issue(ctx context.Context, rec TokenRecord) (string, error) {
	c := &claims{
		verifiedClaims: verifiedClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   rec.ClientID,
			Audience:  s.cfg.Audience,
			ExpiresAt: rec.Expires.Unix(),
			ID:        rec.TokenID,
			TokenID:   rec.TokenID,
			Family:    rec.Family,
		},
		IssuedAt:  rec.Created.Unix(),
		ClientID:  rec.ClientID,
		Roles:     nonNil(rec.Roles),
		Groups:    rec.Groups,
		Created:   rec.Created.Format(time.RFC3339),
		Expires:   rec.Expires.Format(time.RFC3339),
		Requester: rec.Requester,
	}
	tok, err := s.sign(typAccess, c)
	if err != nil {
		return "", err
	}
	if err := s.store.CreateToken(ctx, rec); err != nil {
		return "", fmt.Errorf("auth: record token: %w", err)
	}
	return tok, nil
}

// newRecord is a token DB record for a new token, times to the second in UTC.
func (s *Service) newRecord(cid string, roles, groups []string, life time.Duration, requester, family string) TokenRecord {
	now := s.now().UTC().Truncate(time.Second)
	if roles == nil {
		roles = []string{}
	}
	return TokenRecord{
		TokenID:   newID(),
		ClientID:  cid,
		Roles:     slices.Clone(roles),
		Groups:    slices.Clone(groups),
		Created:   now,
		Expires:   now.Add(life),
		Requester: requester,
		Family:    family,
	}
}

// keyFunc returns the key a token names, after checking its typ. It reads
// only alg (already pinned by the parser), typ and kid from the header:
// jwk, jku, x5u and x5c are ignored.
func (s *Service) keyFunc(typ string, use *keyUse) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if got, _ := t.Header["typ"].(string); got != typ {
			return nil, fmt.Errorf("typ %q is not %q", got, typ)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" || len(kid) > maxKidLen {
			return nil, errors.New("missing or oversized kid")
		}
		pub, u, ok := s.keys.lookup(kid, s.now())
		if !ok {
			return nil, errors.New("unknown kid")
		}
		*use = u
		return pub, nil
	}
}

// parse verifies a token's size, signature, typ and registered claims.
func (s *Service) parse(typ, token string) (*verifiedClaims, keyUse, error) {
	if len(token) > s.cfg.MaxTokenSize {
		return nil, keyUse{}, tokenErr(ErrInvalidToken, errors.New("token too large"))
	}
	var c verifiedClaims
	var use keyUse
	if _, err := s.parser.ParseWithClaims(token, &c, s.keyFunc(typ, &use)); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			return nil, keyUse{}, tokenErr(ErrExpired, err)
		}
		return nil, keyUse{}, tokenErr(ErrInvalidToken, err)
	}
	if c.Subject == "" || c.ID == "" {
		return nil, keyUse{}, tokenErr(ErrInvalidToken, errors.New("missing sub or jti"))
	}
	return &c, use, nil
}

// Verify checks an access token: its size, signature (EdDSA, a published
// kid), typ, iss, aud, exp and nbf, and that its token DB record exists and
// agrees with it. It returns the caller as a Principal. Errors wrap
// ErrInvalidToken, ErrExpired or ErrRevoked (a store failure is returned as
// is).
//
// A token that verified before is answered from the verified-token cache
// without repeating the signature check or the store lookup; revocation
// removes it from the cache before returning, so revocation is immediate.
func (s *Service) Verify(ctx context.Context, token string) (Principal, error) {
	p, err := s.verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	return *p, nil
}

func (s *Service) verify(ctx context.Context, token string) (*Principal, error) {
	now := s.now()
	if e, ok := s.cache.get(token, now, s.keys.version()); ok {
		return &e.p, nil
	}
	gen := s.cache.generation()
	c, use, err := s.parse(typAccess, token)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.GetToken(ctx, c.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, tokenErr(ErrRevoked, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: token lookup: %w", err)
	}
	if rec.ClientID != c.Subject || rec.TokenID != c.TokenID || rec.Expires.Unix() != c.ExpiresAt {
		return nil, tokenErr(ErrInvalidToken, errors.New("token does not match its record"))
	}
	e := &cacheEntry{
		p: Principal{
			Subject:   rec.ClientID,
			ClientID:  rec.ClientID,
			Roles:     rec.Roles,
			Groups:    rec.Groups,
			TokenID:   rec.TokenID,
			Kind:      KindToken,
			Requester: rec.Requester,
			ExpiresAt: rec.Expires,
		},
		rec:    rec,
		exp:    rec.Expires.Add(s.cfg.Leeway).UnixNano(),
		keyVer: use.version,
	}
	if !use.retireAt.IsZero() {
		e.exp = min(e.exp, use.retireAt.UnixNano())
	}
	s.cache.put(token, e, gen, now)
	return &e.p, nil
}

// Authenticate implements Authenticator for Portico access tokens in an
// "Authorization: Bearer" header. A bearer value that is not a JWT (an API
// key, say) is ErrNoCredentials, left to the next authenticator.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	p, err := s.authenticateBearer(r)
	if err != nil {
		return Principal{}, err
	}
	return *p, nil
}

func (s *Service) authenticateBearer(r *http.Request) (*Principal, error) {
	tok, ok := BearerToken(r)
	if !ok || strings.Count(tok, ".") != 2 {
		return nil, ErrNoCredentials
	}
	return s.verify(r.Context(), tok)
}

// Middleware authenticates every request with the Service's tokens and then
// Config.Authenticators, answering 401 when none succeeds. It is
// Authenticate's middleware over that chain, logging store failures.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return authenticateWith(s.chain, s.fail, next)
}

// IsAdmin reports whether p is an administrator (Config.IsAdmin, or holding
// Config.AdminRole).
func (s *Service) IsAdmin(ctx context.Context, p Principal) bool {
	if s.cfg.IsAdmin != nil {
		return s.cfg.IsAdmin(ctx, p)
	}
	return p.HasRole(s.cfg.AdminRole)
}

// Revoke deletes the token records f selects and drops them from the
// verified-token cache; tokens they belonged to fail from the next request
// on. It returns how many were revoked. Unless f names one token (TokenID)
// or selects by expiry, the refresh tokens it selects (by client, family and
// issue time) are deleted too. The zero filter revokes every token.
func (s *Service) Revoke(ctx context.Context, f TokenFilter) (int, error) {
	f.Limit, f.Offset = 0, 0
	if f.TokenID == "" && f.ExpiredAt.IsZero() {
		if _, err := s.store.DeleteRefresh(ctx, RefreshFilter{ClientID: f.ClientID, Family: f.Family, IssuedBefore: f.IssuedBefore}); err != nil {
			return 0, fmt.Errorf("auth: revoke refresh tokens: %w", err)
		}
	}
	n, err := s.store.DeleteTokens(ctx, f)
	// Invalidate whatever the store says: a partial delete must not leave
	// cached tokens whose records are gone.
	s.cache.invalidate(f)
	if err != nil {
		return n, fmt.Errorf("auth: revoke tokens: %w", err)
	}
	s.audit(ctx, "token.revoke", f.ClientID, nil, fmt.Sprintf("%s: %d revoked", revokeTarget(f), n))
	return n, nil
}

func revokeTarget(f TokenFilter) string {
	switch {
	case f.TokenID != "":
		return "token:" + f.TokenID
	case f.Family != "":
		return "family:" + f.Family
	case f.ClientID != "":
		return "client:" + f.ClientID
	}
	return "all"
}

// Invalidate drops the cached verifications f selects without touching the
// store. A host whose store is shared by several instances calls it when
// another instance reports a revocation.
func (s *Service) Invalidate(f TokenFilter) { s.cache.invalidate(f) }

// Cleanup purges expired token and refresh records and returns how many
// token records it removed.
func (s *Service) Cleanup(ctx context.Context) (int, error) {
	now := s.now()
	if _, err := s.store.DeleteRefresh(ctx, RefreshFilter{ExpiredAt: now}); err != nil {
		return 0, fmt.Errorf("auth: purge refresh tokens: %w", err)
	}
	n, err := s.store.DeleteTokens(ctx, TokenFilter{ExpiredAt: now})
	s.cache.invalidate(TokenFilter{ExpiredAt: now})
	if err != nil {
		return 0, fmt.Errorf("auth: purge tokens: %w", err)
	}
	return n, nil
}

// Run purges expired records every Config.CleanupInterval until ctx is
// done, and then returns nil. Failures are logged and retried next time.
func (s *Service) Run(ctx context.Context) error {
	return periodic.Run(ctx, s.cfg.CleanupInterval, func(ctx context.Context) {
		if n, err := s.Cleanup(ctx); err != nil {
			s.log.ErrorContext(ctx, "auth: cleanup failed", "err", err)
		} else if n > 0 {
			s.log.DebugContext(ctx, "auth: purged expired tokens", "count", n)
		}
		s.guard.sweep(s.now())
	})
}

// Grant is what a login, refresh or mint hands the client.
type Grant struct {
	Token        string      `json:"token"`
	RefreshToken string      `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time   `json:"expires_at"`
	Data         TokenRecord `json:"token_data"`
}

// MintRequest asks for a token. ClientID empty means the caller itself;
// Roles empty means all of the caller's roles (for itself) or the client's
// roles (an admin minting for another); Life zero means Config.AccessTTL.
type MintRequest struct {
	ClientID string
	Roles    []string
	Life     time.Duration
}

// Mint issues a token on behalf of by. Anyone may mint for itself with a
// subset of its own roles; only an administrator may mint for another
// client (which must exist and be enabled), with any roles. The life must
// be between MinTokenLife and Config.MaxTokenLife. The record's rcid is by's
// client id.
func (s *Service) Mint(ctx context.Context, by Principal, req MintRequest) (Grant, error) {
	life := cmp.Or(req.Life, s.cfg.AccessTTL)
	if life < MinTokenLife || life > s.cfg.MaxTokenLife {
		return Grant{}, invalid("token_life", fmt.Sprintf("must be between %d and %d seconds", int(MinTokenLife.Seconds()), int(s.cfg.MaxTokenLife.Seconds())))
	}
	if err := validateRoles("roles", req.Roles); err != nil {
		return Grant{}, err
	}
	cid, roles, groups := by.ClientID, req.Roles, by.Groups
	if req.ClientID != "" && req.ClientID != by.ClientID {
		if !s.IsAdmin(ctx, by) {
			return Grant{}, fmt.Errorf("%w: only an administrator may mint tokens for another client", ErrForbidden)
		}
		c, err := s.store.GetClient(ctx, req.ClientID)
		if err != nil {
			return Grant{}, err
		}
		if !c.Enabled {
			return Grant{}, ErrClientDisabled
		}
		cid, groups = c.ID, c.Groups
		if len(roles) == 0 {
			roles = c.Roles
		}
	} else {
		if len(roles) == 0 {
			roles = by.Roles
		}
		for _, r := range roles {
			if !by.HasRole(r) && !s.IsAdmin(ctx, by) {
				return Grant{}, fmt.Errorf("%w: cannot mint a token with role %q, which the caller does not hold", ErrForbidden, r)
			}
		}
	}
	rec := s.newRecord(cid, dedupe(roles), groups, life, by.ClientID, "")
	tok, err := s.issue(ctx, rec)
	if err != nil {
		return Grant{}, err
	}
	s.audit(ctx, "token.mint", "client:"+cid, nil, "tid "+rec.TokenID)
	return Grant{Token: tok, ExpiresAt: rec.Expires, Data: rec}, nil
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// RemoteIP returns the host part of r.RemoteAddr. It trusts no forwarded
// header; a host behind a proxy supplies its own Config.ClientIP.
func RemoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
