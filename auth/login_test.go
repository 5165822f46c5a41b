package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

func TestLogin(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	login := func(user, pw string) error {
		_, err := h.svc.Login(ctx, auth.Credentials{Username: user, Password: pw, RemoteIP: "198.51.100.7"})
		return err
	}
	g := h.login("alice", alicePW)
	assert.NotEmpty(t, g.RefreshToken)
	assert.Equal(t, "alice", g.Data.ClientID)
	assert.Equal(t, "alice", g.Data.Requester, "rcid of a login is the client itself")
	assert.Equal(t, []string{"reader", "writer"}, g.Data.Roles)
	c, err := h.svc.GetClient(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, h.clock.Now(), c.LastLogin, "last login recorded")

	require.ErrorIs(t, login("alice", "wrong-password"), auth.ErrInvalidCredentials)
	require.ErrorIs(t, login("nobody", "whatever-pw"), auth.ErrInvalidCredentials, "unknown user looks the same")
	require.ErrorIs(t, login("", "x"), auth.ErrInvalidCredentials)

	_, err = h.svc.SetEnabled(ctx, "bob", false)
	require.NoError(t, err)
	require.ErrorIs(t, login("bob", bobPW), auth.ErrClientDisabled)

	events, _ := h.audit.Query(auth.AuditQuery{Action: "login", Subject: "alice"})
	require.NotEmpty(t, events)
	assert.Equal(t, "failure", events[0].Outcome, "newest first: the wrong password")
	assert.Equal(t, "198.51.100.7", events[0].IP)
	for _, e := range events {
		assert.NotContains(t, e.Detail, "wrong-password", "no secret in the audit log")
	}
}

func TestLoginGuard(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	try := func(ip, pw string) error {
		_, err := h.svc.Login(ctx, auth.Credentials{Username: "alice", Password: pw, RemoteIP: ip})
		return err
	}
	for i := range 5 {
		require.ErrorIs(t, try("203.0.113.9", "bad-password"), auth.ErrInvalidCredentials, "attempt %d", i+1)
	}
	err := try("203.0.113.9", alicePW)
	var many *auth.TooManyAttemptsError
	require.ErrorAs(t, err, &many, "the 6th attempt, even with the right password")
	assert.Equal(t, 15*time.Minute, many.RetryAfter)
	require.NoError(t, try("203.0.113.10", alicePW), "another IP is not blocked")

	h.clock.Advance(10 * time.Minute)
	require.ErrorAs(t, try("203.0.113.9", alicePW), &many)
	assert.Equal(t, 5*time.Minute, many.RetryAfter, "Retry-After counts down")

	h.clock.Advance(5 * time.Minute)
	require.NoError(t, try("203.0.113.9", alicePW), "the window has passed")

	// A success resets the count.
	for range 4 {
		require.Error(t, try("203.0.113.9", "bad-password"))
	}
	require.NoError(t, try("203.0.113.9", alicePW))
	for range 4 {
		require.ErrorIs(t, try("203.0.113.9", "bad-password"), auth.ErrInvalidCredentials)
	}
}

// totpCode is an independent RFC 6238 implementation for the tests.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	require.NoError(t, err)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[19] & 0xf
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1_000_000)
}

func TestMFA(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	login := func(code string) error {
		_, err := h.svc.Login(ctx, auth.Credentials{Username: "alice", Password: alicePW, MFACode: code, RemoteIP: "192.0.2.1"})
		return err
	}
	enr, err := h.svc.BeginMFA(ctx, "alice")
	require.NoError(t, err)
	assert.Contains(t, enr.URI, "otpauth://totp/Portico:alice?")
	require.NoError(t, login(""), "MFA is not on until confirmed")

	require.ErrorIs(t, h.svc.ConfirmMFA(ctx, "alice", "000000"), auth.ErrInvalidMFA)
	require.NoError(t, h.svc.ConfirmMFA(ctx, "alice", totpCode(t, enr.Secret, h.clock.Now())))

	require.ErrorIs(t, login(""), auth.ErrMFARequired)
	require.ErrorIs(t, login("123"), auth.ErrInvalidMFA)
	h.clock.Advance(30 * time.Second)
	code := totpCode(t, enr.Secret, h.clock.Now())
	require.NoError(t, login(code))
	require.ErrorIs(t, login(code), auth.ErrInvalidMFA, "a code is accepted once")
	h.clock.Advance(30 * time.Second)
	require.NoError(t, login(totpCode(t, enr.Secret, h.clock.Now())), "the next step's code")

	h.clock.Advance(30 * time.Second)
	require.ErrorIs(t, h.svc.DisableMFA(ctx, "alice", "000000", false), auth.ErrInvalidMFA)
	require.NoError(t, h.svc.DisableMFA(ctx, "alice", totpCode(t, enr.Secret, h.clock.Now()), false))
	require.NoError(t, login(""), "MFA off again")
}

func TestRefresh(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	g1 := h.login("alice", alicePW)

	h.clock.Advance(time.Minute)
	g2, err := h.svc.Refresh(ctx, g1.RefreshToken)
	require.NoError(t, err)
	assert.NotEqual(t, g1.RefreshToken, g2.RefreshToken, "rotated")
	assert.Equal(t, g1.Data.Family, g2.Data.Family, "same session")
	require.NoError(t, verifyErr(h, g2.Token))

	_, err = h.svc.Refresh(ctx, g1.Token)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "an access token is not a refresh token")

	// Within the grace window a spent token still works (two tabs).
	h.clock.Advance(5 * time.Second)
	g3, err := h.svc.Refresh(ctx, g1.RefreshToken)
	require.NoError(t, err, "reuse within grace")

	// After it, reuse means theft: the whole family goes.
	h.clock.Advance(time.Minute)
	_, err = h.svc.Refresh(ctx, g1.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRefreshReused)
	for name, tok := range map[string]string{"g2": g2.Token, "g3": g3.Token} {
		require.ErrorIs(t, verifyErr(h, tok), auth.ErrRevoked, "access token %s of the revoked family", name)
	}
	_, err = h.svc.Refresh(ctx, g3.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRevoked, "refresh token of the revoked family")

	other := h.login("alice", alicePW)
	require.NoError(t, verifyErr(h, other.Token), "another session of the same client survives")

	t.Run("disabled client", func(t *testing.T) {
		g := h.login("bob", bobPW)
		_, err := h.svc.SetEnabled(ctx, "bob", false)
		require.NoError(t, err)
		_, err = h.svc.Refresh(ctx, g.RefreshToken)
		require.ErrorIs(t, err, auth.ErrRevoked, "disabling deleted its refresh tokens")
	})
	t.Run("picks up role changes", func(t *testing.T) {
		g := h.login("alice", alicePW)
		_, err := h.svc.RemoveRole(ctx, "alice", "writer")
		require.NoError(t, err)
		g2, err := h.svc.Refresh(ctx, g.RefreshToken)
		require.NoError(t, err)
		assert.Equal(t, []string{"reader"}, g2.Data.Roles)
	})
	t.Run("idle session", func(t *testing.T) {
		h.svc.SetSessionIdleTimeout(time.Hour)
		defer h.svc.SetSessionIdleTimeout(0)
		g := h.login("admin", adminPW)
		h.clock.Advance(59 * time.Minute)
		g2, err := h.svc.Refresh(ctx, g.RefreshToken)
		require.NoError(t, err, "used within the idle timeout")
		h.clock.Advance(61 * time.Minute)
		_, err = h.svc.Refresh(ctx, g2.RefreshToken)
		require.ErrorIs(t, err, auth.ErrExpired, "idle for longer")
		h.svc.SetSessionIdleTimeout(0)
		g3 := h.login("admin", adminPW)
		h.clock.Advance(5 * time.Hour)
		_, err = h.svc.Refresh(ctx, g3.RefreshToken)
		require.NoError(t, err, "no timeout once it is off")
	})
	t.Run("expired", func(t *testing.T) {
		g := h.login("admin", adminPW)
		h.clock.Advance(7*24*time.Hour + time.Minute)
		_, err := h.svc.Refresh(ctx, g.RefreshToken)
		require.ErrorIs(t, err, auth.ErrExpired)
	})
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	g := h.login("alice", alicePW)
	p, err := h.svc.Verify(ctx, g.Token)
	require.NoError(t, err)
	refreshed, err := h.svc.Refresh(ctx, g.RefreshToken)
	require.NoError(t, err)
	other := h.login("alice", alicePW)

	require.NoError(t, h.svc.Logout(ctx, p))
	require.ErrorIs(t, verifyErr(h, g.Token), auth.ErrRevoked)
	require.ErrorIs(t, verifyErr(h, refreshed.Token), auth.ErrRevoked, "the whole session")
	_, err = h.svc.Refresh(ctx, refreshed.RefreshToken)
	require.ErrorIs(t, err, auth.ErrRevoked, "its refresh token too")
	require.NoError(t, verifyErr(h, other.Token), "another session survives")
}

func TestMint(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	alice, err := h.svc.Verify(ctx, h.token("alice"))
	require.NoError(t, err)
	admin, err := h.svc.Verify(ctx, h.token("admin"))
	require.NoError(t, err)

	cases := []struct {
		name string
		by   auth.Principal
		req  auth.MintRequest
		want error
	}{
		{"self, subset of roles", alice, auth.MintRequest{Roles: []string{"reader"}, Life: time.Hour}, nil},
		{"self, all roles by default", alice, auth.MintRequest{}, nil},
		{"self by name", alice, auth.MintRequest{ClientID: "alice", Roles: []string{"writer"}}, nil},
		{"self, a role not held", alice, auth.MintRequest{Roles: []string{"admin"}}, auth.ErrForbidden},
		{"non-admin for another client", alice, auth.MintRequest{ClientID: "bob"}, auth.ErrForbidden},
		{"admin for another client with any roles", admin, auth.MintRequest{ClientID: "bob", Roles: []string{"auditor"}}, nil},
		{"admin for an unknown client", admin, auth.MintRequest{ClientID: "ghost"}, auth.ErrNotFound},
		{"life below 10 s", alice, auth.MintRequest{Life: 9 * time.Second}, &auth.InvalidError{}},
		{"life above the max", alice, auth.MintRequest{Life: 25 * time.Hour}, &auth.InvalidError{}},
		{"invalid role name", alice, auth.MintRequest{Roles: []string{"bad role"}}, &auth.InvalidError{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := h.svc.Mint(ctx, tc.by, tc.req)
			switch want := tc.want.(type) {
			case nil:
				require.NoError(t, err)
				p, err := h.svc.Verify(ctx, g.Token)
				require.NoError(t, err)
				assert.Equal(t, tc.by.ClientID, p.Requester, "rcid is who minted")
				if tc.req.ClientID != "" {
					assert.Equal(t, tc.req.ClientID, p.ClientID)
				}
				if len(tc.req.Roles) > 0 {
					assert.Equal(t, tc.req.Roles, p.Roles)
				}
				if tc.req.Life > 0 {
					assert.Equal(t, tc.req.Life, g.ExpiresAt.Sub(h.clock.Now()))
				}
			case *auth.InvalidError:
				require.ErrorAs(t, err, &want)
			default:
				require.ErrorIs(t, err, want)
			}
		})
	}
}

func TestDisableRevokesLiveTokens(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok := h.token("bob")
	require.Equal(t, 200, h.do("GET", "/auth", tok, "").Code)
	rec := h.do("POST", "/auth/clients/bob/disable", h.token("admin"), "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	rec = h.do("GET", "/auth", tok, "")
	require.Equal(t, 401, rec.Code, "the disabled client's token on the next request")
	assert.Equal(t, "token_revoked", errorCode(t, rec))
	_, err := h.svc.SetEnabled(ctx, "bob", true)
	require.NoError(t, err)
	assert.Equal(t, 401, h.do("GET", "/auth", tok, "").Code, "re-enabling does not revive revoked tokens")
}

func TestCleanupRemovesOnlyExpired(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	admin, err := h.svc.Verify(ctx, h.token("admin"))
	require.NoError(t, err)
	short, err := h.svc.Mint(ctx, admin, auth.MintRequest{Life: time.Minute})
	require.NoError(t, err)
	long, err := h.svc.Mint(ctx, admin, auth.MintRequest{Life: time.Hour})
	require.NoError(t, err)

	h.clock.Advance(2 * time.Minute)
	n, err := h.svc.Cleanup(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the minute-long token has expired")
	_, err = h.svc.Store().GetToken(ctx, short.Data.TokenID)
	require.ErrorIs(t, err, auth.ErrNotFound)
	_, err = h.svc.Store().GetToken(ctx, long.Data.TokenID)
	require.NoError(t, err)
	_, err = h.svc.Store().GetToken(ctx, admin.TokenID)
	require.NoError(t, err, "the 15-minute login token is still live")
}

func TestTOTPVectors(t *testing.T) {
	// RFC 6238 appendix B (SHA-1), last six digits.
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 1234567890: "005924", 2000000000: "279037"} {
		assert.Equal(t, want, totpCode(t, secret, time.Unix(unix, 0)), "independent implementation at %d", unix)
		assert.True(t, auth.CheckTOTPForTest(secret, want, time.Unix(unix, 0)), "auth's implementation at %d", unix)
	}
}
