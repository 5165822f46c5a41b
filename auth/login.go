package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Bounds on login input, checked before any hashing so a huge password
// cannot buy a huge amount of work.
const (
	maxUsernameLen = 256
	maxPasswordLen = 1024
	minPasswordLen = 8
)

// Credentials are what a login presents.
type Credentials struct {
	Username string
	Password string
	MFACode  string
	// RemoteIP is the caller's address, for the brute-force guard and audit.
	RemoteIP string
}

// A Provider checks login credentials and returns the client they belong
// to. It returns ErrInvalidCredentials when they do not match, so the next
// provider is asked; ErrMFARequired, ErrInvalidMFA and ErrClientDisabled
// end the login.
type Provider interface {
	Login(ctx context.Context, cr Credentials) (Client, error)
}

// PasswordProvider logs clients in with the password hash kept in a
// ClientStore, and with a TOTP code when the client has MFA enabled.
type PasswordProvider struct {
	Clients   ClientStore
	Passwords PasswordHasher   // nil: Argon2id{}
	Now       func() time.Time // nil: time.Now

	once  sync.Once
	dummy string
}

// Login implements Provider. An unknown username costs the same hash
// verification as a wrong password, so timing does not reveal which
// usernames exist.
func (pp *PasswordProvider) Login(ctx context.Context, cr Credentials) (Client, error) {
	hasher := pp.Passwords
	if hasher == nil {
		hasher = Argon2id{}
	}
	now := time.Now
	if pp.Now != nil {
		now = pp.Now
	}
	c, err := pp.Clients.GetClient(ctx, cr.Username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	if err != nil || c.PasswordHash == "" {
		pp.once.Do(func() { pp.dummy, _ = hasher.Hash("portico-dummy-password") })
		_, _ = hasher.Verify(pp.dummy, cr.Password)
		return Client{}, ErrInvalidCredentials
	}
	ok, err := hasher.Verify(c.PasswordHash, cr.Password)
	if err != nil {
		return Client{}, fmt.Errorf("auth: password hash of %q: %w", c.ID, err)
	}
	if !ok {
		return Client{}, ErrInvalidCredentials
	}
	if !c.Enabled {
		return Client{}, ErrClientDisabled
	}
	if c.MFASecret == "" {
		return c, nil
	}
	if cr.MFACode == "" {
		return Client{}, ErrMFARequired
	}
	step, ok := checkTOTP(c.MFASecret, cr.MFACode, now(), c.MFALastStep)
	if !ok {
		return Client{}, ErrInvalidMFA
	}
	// Record the step atomically, so the same code cannot log in twice even
	// when both attempts race.
	return pp.Clients.UpdateClient(ctx, c.ID, func(c *Client) error {
		if step <= c.MFALastStep {
			return ErrInvalidMFA
		}
		c.MFALastStep = step
		return nil
	})
}

// Login checks credentials with the configured providers and, on success,
// starts a session: an access token and (unless disabled) a refresh token
// of a new family. Failed attempts per RemoteIP and username are limited;
// past the limit it returns *TooManyAttemptsError without checking.
func (s *Service) Login(ctx context.Context, cr Credentials) (Grant, error) {
	now := s.now()
	key := cr.RemoteIP + "\x00" + strings.ToLower(cr.Username)
	if wait := s.guard.blocked(key, now); wait > 0 {
		s.auditAs(ctx, cr.Username, cr.RemoteIP, "login", cr.Username, ErrInvalidCredentials, "blocked by the brute-force guard")
		return Grant{}, &TooManyAttemptsError{RetryAfter: wait}
	}
	c, err := s.checkCredentials(ctx, cr)
	if err != nil {
		if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrInvalidMFA) {
			s.guard.fail(key, now)
		}
		s.auditAs(ctx, cr.Username, cr.RemoteIP, "login", cr.Username, err, "")
		return Grant{}, err
	}
	s.guard.reset(key)
	updated, err := s.store.UpdateClient(ctx, c.ID, func(c *Client) error { c.LastLogin = now.UTC(); return nil })
	switch {
	case err == nil:
		c = updated
	case !errors.Is(err, ErrNotFound): // a provider may vouch for a client the store lacks
		return Grant{}, fmt.Errorf("auth: record login: %w", err)
	}
	g, err := s.startSession(ctx, c, newID())
	s.auditAs(ctx, c.ID, cr.RemoteIP, "login", c.ID, err, "")
	return g, err
}

func (s *Service) checkCredentials(ctx context.Context, cr Credentials) (Client, error) {
	if cr.Username == "" || len(cr.Username) > maxUsernameLen || len(cr.Password) > maxPasswordLen {
		return Client{}, ErrInvalidCredentials
	}
	for _, p := range s.providers {
		c, err := p.Login(ctx, cr)
		if errors.Is(err, ErrInvalidCredentials) {
			continue
		}
		return c, err
	}
	return Client{}, ErrInvalidCredentials
}

// startSession issues an access token and a refresh token in family.
func (s *Service) startSession(ctx context.Context, c Client, family string) (Grant, error) {
	rec := s.newRecord(c.ID, c.Roles, c.Groups, s.cfg.AccessTTL, c.ID, family)
	tok, err := s.issue(ctx, rec)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{Token: tok, ExpiresAt: rec.Expires, Data: rec}
	if s.cfg.RefreshTTL > 0 {
		if g.RefreshToken, err = s.newRefresh(ctx, c.ID, family, rec.Created); err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

func (s *Service) newRefresh(ctx context.Context, cid, family string, now time.Time) (string, error) {
	exp := now.Add(s.cfg.RefreshTTL)
	tok, err := s.sign(typRefresh, &claims{
		verifiedClaims: verifiedClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   cid,
			Audience:  s.cfg.Audience,
			ExpiresAt: exp.Unix(),
			ID:        newID(),
			Family:    family,
		},
		IssuedAt: now.Unix(),
		ClientID: cid,
	})
	if err != nil {
		return "", err
	}
	rec := RefreshRecord{Hash: hashToken(tok), Family: family, ClientID: cid, Created: now, Expires: exp}
	if err := s.store.CreateRefresh(ctx, rec); err != nil {
		return "", fmt.Errorf("auth: record refresh token: %w", err)
	}
	return tok, nil
}

// hashToken is the hex SHA-256 under which a secret token is stored. A
// token has 128 random bits, so a fast hash is enough: there is nothing to
// brute-force.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Refresh exchanges a refresh token for a new access token and a new
// refresh token of the same family; the presented one is spent. Presenting
// a spent token again within Config.RefreshGrace is answered the same way
// (two tabs refreshing at once); after it, the whole family is revoked and
// ErrRefreshReused returned, since one of the two holders is a thief. The
// client must still exist and be enabled; the new token carries its
// current roles.
func (s *Service) Refresh(ctx context.Context, token string) (Grant, error) {
	c, _, err := s.parse(typRefresh, token)
	if err != nil {
		return Grant{}, err
	}
	now := s.now()
	rec, err := s.store.UseRefresh(ctx, hashToken(token), now)
	switch {
	case errors.Is(err, ErrNotFound):
		return Grant{}, tokenErr(ErrRevoked, nil)
	case errors.Is(err, ErrRefreshReused):
		if s.cfg.RefreshGrace < 0 || now.Sub(rec.UsedAt) > s.cfg.RefreshGrace {
			if _, rerr := s.Revoke(ctx, TokenFilter{Family: rec.Family}); rerr != nil {
				return Grant{}, rerr
			}
			s.audit(ctx, "refresh.reuse", rec.ClientID, ErrRefreshReused, "family revoked")
			return Grant{}, ErrRefreshReused
		}
	case err != nil:
		return Grant{}, fmt.Errorf("auth: refresh lookup: %w", err)
	}
	if rec.ClientID != c.Subject || rec.Family != c.Family {
		return Grant{}, tokenErr(ErrInvalidToken, errors.New("refresh token does not match its record"))
	}
	if idle := time.Duration(s.idle.Load()); idle > 0 && now.Sub(rec.Created) > idle {
		if _, err := s.Revoke(ctx, TokenFilter{Family: rec.Family}); err != nil {
			return Grant{}, err
		}
		s.audit(ctx, "refresh.idle", rec.ClientID, ErrExpired, "session idle")
		return Grant{}, tokenErr(ErrExpired, errors.New("session idle"))
	}
	cl, err := s.store.GetClient(ctx, rec.ClientID)
	if errors.Is(err, ErrNotFound) {
		return Grant{}, tokenErr(ErrRevoked, errors.New("client deleted"))
	}
	if err != nil {
		return Grant{}, err
	}
	if !cl.Enabled {
		return Grant{}, ErrClientDisabled
	}
	g, err := s.startSession(ctx, cl, rec.Family)
	s.audit(ctx, "refresh", cl.ID, err, "")
	return g, err
}

// Logout revokes the caller's token and, for a token got by logging in,
// every token and refresh token of its session.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	if p.Kind != KindToken {
		return fmt.Errorf("%w: only a token session can be logged out", ErrForbidden)
	}
	f := TokenFilter{TokenID: p.TokenID}
	if rec, err := s.store.GetToken(ctx, p.TokenID); err == nil && rec.Family != "" {
		f = TokenFilter{Family: rec.Family}
	}
	_, err := s.Revoke(ctx, f)
	s.audit(ctx, "logout", p.Subject, err, "")
	return err
}

// loginGuard counts failed logins per key in fixed windows. It is bounded:
// past maxGuardKeys tracked keys, the oldest windows are dropped first.
type loginGuard struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	keys   map[string]guardEntry
}

type guardEntry struct {
	start time.Time
	fails int
}

const maxGuardKeys = 100_000

func newLoginGuard(limit int, window time.Duration) *loginGuard {
	return &loginGuard{limit: limit, window: window, keys: map[string]guardEntry{}}
}

// blocked returns how long key must wait, 0 if it may try now.
func (g *loginGuard) blocked(key string, now time.Time) time.Duration {
	if g.limit < 0 {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.keys[key]
	if !ok || now.Sub(e.start) >= g.window || e.fails < g.limit {
		return 0
	}
	return e.start.Add(g.window).Sub(now)
}

func (g *loginGuard) fail(key string, now time.Time) {
	if g.limit < 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.keys[key]
	if !ok || now.Sub(e.start) >= g.window {
		if !ok && len(g.keys) >= maxGuardKeys {
			g.sweepLocked(now)
		}
		e = guardEntry{start: now}
	}
	e.fails++
	g.keys[key] = e
}

func (g *loginGuard) reset(key string) {
	g.mu.Lock()
	delete(g.keys, key)
	g.mu.Unlock()
}

func (g *loginGuard) sweep(now time.Time) {
	g.mu.Lock()
	g.sweepLocked(now)
	g.mu.Unlock()
}

// sweepLocked drops finished windows, and if the map is still full, half
// of what is left (map order is random).
func (g *loginGuard) sweepLocked(now time.Time) {
	for k, e := range g.keys {
		if now.Sub(e.start) >= g.window {
			delete(g.keys, k)
		}
	}
	if len(g.keys) < maxGuardKeys {
		return
	}
	n := len(g.keys) / 2
	for k := range g.keys {
		if n == 0 {
			break
		}
		delete(g.keys, k)
		n--
	}
}
