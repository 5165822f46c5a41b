package apikey_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/auth"
)

func TestTokenFormat(t *testing.T) {
	id, token, hash := apikey.NewToken()
	assert.True(t, strings.HasPrefix(token, apikey.Prefix), "token %q", token)
	assert.Len(t, token, apikey.TokenLen)
	assert.Len(t, id, 16)
	assert.Equal(t, strings.ToLower(token), token, "lowercase, so it survives case-folding systems")
	assert.True(t, apikey.LooksLikeKey(token))
	gotID, gotHash, ok := apikey.ParseToken(token)
	require.True(t, ok)
	assert.Equal(t, id, gotID)
	assert.Equal(t, hash, gotHash)

	_, other, _ := apikey.NewToken()
	assert.NotEqual(t, token, other, "tokens are random")

	// Any single-character change fails the checksum (or the form).
	for i := len(apikey.Prefix); i < len(token)-1; i++ {
		c := byte('a')
		if token[i] == 'a' {
			c = 'b'
		}
		typo := token[:i] + string(c) + token[i+1:]
		assert.False(t, apikey.LooksLikeKey(typo), "typo at %d: %q", i, typo)
	}
	for _, bad := range []string{"", apikey.Prefix, token[:len(token)-1], token + "a", "x" + token[1:], strings.ToUpper(token), token[:len(apikey.Prefix)] + "!" + token[len(apikey.Prefix)+1:]} {
		assert.False(t, apikey.LooksLikeKey(bad), "token %q", bad)
	}
}

func FuzzParseToken(f *testing.F) {
	_, token, _ := apikey.NewToken()
	f.Add(token)
	f.Add(apikey.Prefix + strings.Repeat("a", apikey.TokenLen-len(apikey.Prefix)))
	f.Add("portico_")
	f.Fuzz(func(t *testing.T, s string) {
		id, hash, ok := apikey.ParseToken(s)
		if ok {
			assert.Len(t, s, apikey.TokenLen)
			assert.Len(t, id, 16)
			assert.Len(t, hash, 32)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	h := newHarness(t)
	k, secret := h.create("alice", apikey.NewKey{Name: "ci", Identifier: "datamigrator"})

	for _, header := range []string{"Authorization", "apiKey"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "192.0.2.7:1234"
		if header == "Authorization" {
			req.Header.Set(header, "Bearer "+secret)
		} else {
			req.Header.Set(header, secret)
		}
		p, err := h.keys.Authenticate(req)
		require.NoError(t, err, "key in %s", header)
		assert.Equal(t, auth.Principal{
			Subject: "alice", ClientID: "alice", Roles: []string{"user"}, Groups: []string{"staff"},
			TokenID: k.ID, Kind: auth.KindAPIKey, Requester: "admin", Identifier: "datamigrator",
		}, p, "key in %s", header)
	}
	got, err := h.keys.Store().GetKey(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "192.0.2.7", got.LastUsedIP)
	assert.True(t, h.clock.Now().Equal(got.LastUsedAt))

	// No key at all, or a Portico token: someone else's business.
	req := httptest.NewRequest("GET", "/", nil)
	_, err = h.keys.Authenticate(req)
	assert.ErrorIs(t, err, auth.ErrNoCredentials)
	req.Header.Set("Authorization", "Bearer "+h.token("alice"))
	_, err = h.keys.Authenticate(req)
	assert.ErrorIs(t, err, auth.ErrNoCredentials, "a JWT is left to auth")

	// A well-formed key that does not exist, and a malformed one.
	_, unknown, _ := apikey.NewToken()
	_, err = h.keys.Verify(ctx, unknown, "")
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	assert.ErrorIs(t, err, auth.ErrInvalidToken, "so auth answers it as a bad token")
	_, err = h.keys.Verify(ctx, secret[:len(secret)-2]+"aa", "")
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
}

func TestAuthenticateWrongSecret(t *testing.T) {
	h := newHarness(t)
	k, _ := h.create("alice", apikey.NewKey{Name: "ci"})
	// A key with the right id and checksum but another secret.
	_, forged, _ := apikey.NewToken()
	id, _, _ := apikey.ParseToken(forged)
	require.NoError(t, h.keys.Store().CreateKey(ctx, apikey.Key{ID: id, ClientID: "alice", Name: "x", Hash: make([]byte, 32)}))
	_, err := h.keys.Verify(ctx, forged, "")
	assert.ErrorIs(t, err, apikey.ErrInvalidKey, "hash mismatch")
	_, err = h.keys.Get(ctx, h.principal("alice"), k.ID)
	assert.NoError(t, err)
}

func TestAuthenticateRefusals(t *testing.T) {
	h := newHarness(t)
	exp := h.clock.Now().Add(time.Hour)
	k, secret := h.create("alice", apikey.NewKey{Name: "ci", ExpiresAt: exp})
	_, err := h.keys.Verify(ctx, secret, "")
	require.NoError(t, err)

	_, err = h.keys.Revoke(ctx, h.principal("alice"), k.ID)
	require.NoError(t, err)
	_, err = h.keys.Verify(ctx, secret, "")
	assert.ErrorIs(t, err, apikey.ErrRevoked)
	_, err = h.keys.Reactivate(ctx, h.principal("alice"), k.ID)
	require.NoError(t, err)
	_, err = h.keys.Verify(ctx, secret, "")
	assert.NoError(t, err, "reactivated")

	_, err = h.auth.SetEnabled(ctx, "alice", false)
	require.NoError(t, err)
	_, err = h.keys.Verify(ctx, secret, "")
	assert.ErrorIs(t, err, auth.ErrClientDisabled, "the owner is disabled")
	_, err = h.auth.SetEnabled(ctx, "alice", true)
	require.NoError(t, err)

	h.clock.Advance(time.Hour)
	_, err = h.keys.Verify(ctx, secret, "")
	assert.ErrorIs(t, err, apikey.ErrExpired)

	_, bobSecret := h.create("bob", apikey.NewKey{Name: "bob's"})
	require.NoError(t, h.auth.DeleteClient(ctx, "bob"))
	_, err = h.keys.Verify(ctx, bobSecret, "")
	assert.ErrorIs(t, err, apikey.ErrInvalidKey, "the owner is gone")
}

func TestTouchIsThrottled(t *testing.T) {
	h := newHarness(t)
	k, secret := h.create("alice", apikey.NewKey{Name: "ci"})
	first := h.clock.Now()
	_, err := h.keys.Verify(ctx, secret, "10.0.0.1")
	require.NoError(t, err)
	h.clock.Advance(30 * time.Second)
	_, err = h.keys.Verify(ctx, secret, "10.0.0.1")
	require.NoError(t, err)
	got, _ := h.keys.Store().GetKey(ctx, k.ID)
	assert.True(t, first.Equal(got.LastUsedAt), "a use within a minute from the same IP is not written")
	_, err = h.keys.Verify(ctx, secret, "10.0.0.2")
	require.NoError(t, err)
	got, _ = h.keys.Store().GetKey(ctx, k.ID)
	assert.Equal(t, "10.0.0.2", got.LastUsedIP, "a new IP is written at once")
	assert.True(t, h.clock.Now().Equal(got.LastUsedAt))
}

func TestCreateRules(t *testing.T) {
	h := newHarness(t)
	alice, admin := h.principal("alice"), h.principal("admin")

	// The ceiling: alice holds nats.pub.orders.> and nats.sub.events.*.
	_, _, err := h.keys.Create(ctx, alice, apikey.NewKey{Name: "ok", Pub: apikey.Permission{Allow: []string{"orders.new", "orders.*.paid"}}, Sub: apikey.Permission{Allow: []string{"events.a"}}})
	assert.NoError(t, err, "within the creator's permissions")
	for _, nk := range []apikey.NewKey{
		{Name: "wider", Pub: apikey.Permission{Allow: []string{"orders"}}},
		{Name: "other", Pub: apikey.Permission{Allow: []string{"billing.>"}}},
		{Name: "everything", Pub: apikey.Permission{Allow: []string{">"}}},
		{Name: "deeper sub", Sub: apikey.Permission{Allow: []string{"events.>"}}},
	} {
		_, _, err := h.keys.Create(ctx, alice, nk)
		assert.ErrorIs(t, err, apikey.ErrForbidden, "key %q beyond alice's permissions", nk.Name)
	}
	_, _, err = h.keys.Create(ctx, alice, apikey.NewKey{Name: "deny only", Pub: apikey.Permission{Deny: []string{"billing.>"}}})
	assert.NoError(t, err, "a deny list only narrows")
	_, _, err = h.keys.Create(ctx, admin, apikey.NewKey{Name: "all", Pub: apikey.Permission{Allow: []string{">"}}})
	assert.NoError(t, err, "an administrator holds everything")

	// Keys for other clients.
	_, _, err = h.keys.Create(ctx, alice, apikey.NewKey{ClientID: "bob", Name: "for bob"})
	assert.ErrorIs(t, err, apikey.ErrForbidden)
	k, _, err := h.keys.Create(ctx, admin, apikey.NewKey{ClientID: "bob", Name: "for bob"})
	require.NoError(t, err)
	assert.Equal(t, "bob", k.ClientID)
	assert.Equal(t, "admin", k.CreatedBy)
	_, _, err = h.keys.Create(ctx, admin, apikey.NewKey{ClientID: "ghost", Name: "for nobody"})
	var inv *apikey.InvalidError
	assert.ErrorAs(t, err, &inv, "owner must exist")

	// An API key cannot make keys.
	keyP := alice
	keyP.Kind = auth.KindAPIKey
	_, _, err = h.keys.Create(ctx, keyP, apikey.NewKey{Name: "child"})
	assert.ErrorIs(t, err, apikey.ErrForbidden)

	// Validation.
	for _, nk := range []apikey.NewKey{
		{Name: ""},
		{Name: strings.Repeat("n", 129)},
		{Name: "x", Notes: strings.Repeat("n", 4097)},
		{Name: "x", Identifier: "Bad Id"},
		{Name: "x", ExpiresAt: h.clock.Now().Add(-time.Second)},
		{Name: "x", Pub: apikey.Permission{Allow: []string{"a..b"}}},
		{Name: "x", Sub: apikey.Permission{Deny: []string{"a.>.b"}}},
		{Name: "x", Pub: apikey.Permission{Allow: []string{"with space"}}},
	} {
		_, _, err := h.keys.Create(ctx, admin, nk)
		assert.ErrorAs(t, err, &inv, "key %+v", nk)
	}
}

func TestMaxKeyLifeAndNilAuthorize(t *testing.T) {
	h := newHarness(t, func(c *apikey.Config) { c.MaxKeyLife = 24 * time.Hour; c.Authorize = nil })
	alice := h.principal("alice")
	var inv *apikey.InvalidError
	_, _, err := h.keys.Create(ctx, alice, apikey.NewKey{Name: "forever"})
	assert.ErrorAs(t, err, &inv, "expiry required")
	_, _, err = h.keys.Create(ctx, alice, apikey.NewKey{Name: "long", ExpiresAt: h.clock.Now().Add(25 * time.Hour)})
	assert.ErrorAs(t, err, &inv, "expiry too far")
	_, _, err = h.keys.Create(ctx, alice, apikey.NewKey{Name: "ok", ExpiresAt: h.clock.Now().Add(time.Hour)})
	assert.NoError(t, err)
	_, _, err = h.keys.Create(ctx, alice, apikey.NewKey{Name: "subjects", ExpiresAt: h.clock.Now().Add(time.Hour), Pub: apikey.Permission{Allow: []string{"orders.new"}}})
	assert.ErrorIs(t, err, apikey.ErrForbidden, "without Authorize only administrators give keys subjects")
}

func TestOwnership(t *testing.T) {
	h := newHarness(t)
	alice, bob, admin := h.principal("alice"), h.principal("bob"), h.principal("admin")
	k, _ := h.create("alice", apikey.NewKey{Name: "a1"})
	h.create("alice", apikey.NewKey{Name: "a2"})
	h.create("bob", apikey.NewKey{Name: "b1"})

	_, err := h.keys.Get(ctx, bob, k.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound, "another client's key looks absent")
	_, err = h.keys.Revoke(ctx, bob, k.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	assert.ErrorIs(t, h.keys.Delete(ctx, bob, k.ID), apikey.ErrNotFound)
	name := "stolen"
	_, err = h.keys.Update(ctx, bob, k.ID, apikey.KeyUpdate{Name: &name})
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = h.keys.Get(ctx, admin, k.ID)
	assert.NoError(t, err, "an administrator sees every key")

	own, total, err := h.keys.List(ctx, alice, apikey.KeyFilter{}, false)
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	assert.Len(t, own, 2)
	_, _, err = h.keys.List(ctx, alice, apikey.KeyFilter{}, true)
	assert.ErrorIs(t, err, apikey.ErrForbidden)
	_, _, err = h.keys.List(ctx, alice, apikey.KeyFilter{ClientID: "bob"}, false)
	assert.ErrorIs(t, err, apikey.ErrForbidden)
	_, total, err = h.keys.List(ctx, admin, apikey.KeyFilter{}, true)
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	_, total, err = h.keys.List(ctx, admin, apikey.KeyFilter{ClientID: "bob"}, false)
	require.NoError(t, err)
	assert.Equal(t, 1, total)
}

func TestExchange(t *testing.T) {
	h := newHarness(t)
	exp := h.clock.Now().Add(2 * time.Hour)
	k, secret := h.create("alice", apikey.NewKey{Name: "svc", ExpiresAt: exp,
		Pub: apikey.Permission{Allow: []string{"orders.new"}, Deny: []string{"orders.new.secret"}},
		Sub: apikey.Permission{Allow: []string{"events.a"}}})
	p, err := h.keys.Verify(ctx, secret, "")
	require.NoError(t, err)
	c, err := h.keys.Exchange(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, k.ID, c.ID)
	assert.Equal(t, h.keys.AccountPublicKey(), c.Account)
	assert.True(t, strings.HasPrefix(c.Seed, "SU"), "a user seed")

	uc, err := jwt.DecodeUserClaims(c.JWT)
	require.NoError(t, err)
	assert.Equal(t, c.Account, uc.Issuer, "signed by the account")
	assert.Equal(t, c.UserKey, uc.Subject)
	assert.Equal(t, exp.Unix(), uc.Expires, "no later than the key (TTL is 24h)")
	assert.Equal(t, jwt.StringList{"orders.new"}, uc.Pub.Allow)
	assert.Equal(t, jwt.StringList{"orders.new.secret"}, uc.Pub.Deny)
	assert.Equal(t, jwt.StringList{"_INBOX.>", "events.a"}, uc.Sub.Allow, "infrastructure subjects added")
	require.NotNil(t, uc.Resp, "replies to requests are allowed")
	creds, err := c.Creds()
	require.NoError(t, err)
	assert.Contains(t, string(creds), "-----BEGIN NATS USER JWT-----")
	assert.Contains(t, string(creds), c.Seed)

	// A key that allows nothing must not read as "everything" to NATS.
	_, bare := h.create("alice", apikey.NewKey{Name: "bare"})
	p, err = h.keys.Verify(ctx, bare, "")
	require.NoError(t, err)
	c, err = h.keys.Exchange(ctx, p)
	require.NoError(t, err)
	uc, err = jwt.DecodeUserClaims(c.JWT)
	require.NoError(t, err)
	assert.Equal(t, jwt.StringList{">"}, uc.Pub.Deny, "an empty allow list denies everything")

	_, err = h.keys.Exchange(ctx, h.principal("alice"))
	assert.ErrorIs(t, err, apikey.ErrForbidden, "a token cannot be exchanged")

	noNATS := newHarness(t, func(c *apikey.Config) { c.Account = nil })
	_, s2 := noNATS.create("alice", apikey.NewKey{Name: "x"})
	p, err = noNATS.keys.Verify(ctx, s2, "")
	require.NoError(t, err)
	_, err = noNATS.keys.Exchange(ctx, p)
	assert.ErrorIs(t, err, apikey.ErrNATSDisabled)
}

func TestRevocationReachesAccountJWT(t *testing.T) {
	h := newHarness(t)
	k, secret := h.create("alice", apikey.NewKey{Name: "svc"})
	p, err := h.keys.Verify(ctx, secret, "")
	require.NoError(t, err)
	c1, err := h.keys.Exchange(ctx, p)
	require.NoError(t, err)
	c2, err := h.keys.Exchange(ctx, p)
	require.NoError(t, err)
	assert.NotEqual(t, c1.UserKey, c2.UserKey, "a fresh user nkey each time")
	assert.Empty(t, h.lastPublished(), "nothing revoked yet")

	_, err = h.keys.Revoke(ctx, h.principal("alice"), k.ID)
	require.NoError(t, err)
	ac, err := jwt.DecodeAccountClaims(h.lastPublished())
	require.NoError(t, err)
	opPub, _ := h.operator.PublicKey()
	assert.Equal(t, opPub, ac.Issuer, "signed by the operator")
	for _, c := range []apikey.Credentials{c1, c2} {
		uc, err := jwt.DecodeUserClaims(c.JWT)
		require.NoError(t, err)
		assert.True(t, ac.IsClaimRevoked(uc), "credentials %s revoked", c.UserKey)
	}

	// Narrowing a key revokes what was issued under the old lists.
	k2, s2 := h.create("alice", apikey.NewKey{Name: "svc2", Pub: apikey.Permission{Allow: []string{"orders.>"}}})
	p, err = h.keys.Verify(ctx, s2, "")
	require.NoError(t, err)
	c3, err := h.keys.Exchange(ctx, p)
	require.NoError(t, err)
	narrower := apikey.Permission{Allow: []string{"orders.new"}}
	_, err = h.keys.Update(ctx, h.principal("alice"), k2.ID, apikey.KeyUpdate{Pub: &narrower})
	require.NoError(t, err)
	ac, err = jwt.DecodeAccountClaims(h.lastPublished())
	require.NoError(t, err)
	uc, _ := jwt.DecodeUserClaims(c3.JWT)
	assert.True(t, ac.IsClaimRevoked(uc), "credentials with the wider list revoked")

	// Once the credentials expire, their revocations are dropped.
	h.clock.Advance(25 * time.Hour)
	n, err := h.keys.Cleanup(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	ac, err = jwt.DecodeAccountClaims(h.lastPublished())
	require.NoError(t, err)
	assert.Empty(t, ac.Revocations)
}

// racingStore revokes the key the moment before a credential is recorded,
// as a concurrent Revoke whose credential sweep ran too early would.
type racingStore struct {
	*apikey.MemoryStore
	now time.Time
}

func (r *racingStore) AddCredential(ctx context.Context, c apikey.Credential) error {
	_, err := r.MemoryStore.UpdateKey(ctx, c.KeyID, func(k *apikey.Key) error {
		k.Revoked, k.RevokedAt, k.UpdatedAt = true, r.now, r.now.Add(time.Second)
		return nil
	})
	if err != nil {
		return err
	}
	return r.MemoryStore.AddCredential(ctx, c)
}

func TestExchangeRacingRevoke(t *testing.T) {
	store := &racingStore{MemoryStore: apikey.NewMemoryStore()}
	h := newHarness(t, func(c *apikey.Config) { c.Store = store })
	store.now = h.clock.Now()
	_, secret := h.create("alice", apikey.NewKey{Name: "svc"})
	p, err := h.keys.Verify(ctx, secret, "")
	require.NoError(t, err)
	_, err = h.keys.Exchange(ctx, p)
	assert.ErrorIs(t, err, apikey.ErrRevoked, "the exchange sees the revocation that raced it")
	revoked, err := store.RevokedCredentials(ctx, h.clock.Now())
	require.NoError(t, err)
	assert.Len(t, revoked, 1, "and revokes what it had issued")
	assert.NotEmpty(t, h.lastPublished(), "on the NATS server too")
}
