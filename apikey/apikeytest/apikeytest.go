// Package apikeytest holds the conformance suite every apikey.Store passes.
//
// A host with its own store runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		apikeytest.RunStore(t, func(t *testing.T) apikey.Store { return newMyStore(t) })
//	}
package apikeytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
)

// RunStore runs the conformance suite. newStore must return an empty store
// each time it is called.
func RunStore(t *testing.T, newStore func(t *testing.T) apikey.Store) {
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("UpdateIsAtomic", func(t *testing.T) { testUpdateRace(t, newStore(t)) })
	t.Run("Credentials", func(t *testing.T) { testCredentials(t, newStore(t)) })
	t.Run("CopiesOut", func(t *testing.T) { testCopies(t, newStore(t)) })
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func key(id, owner string, created time.Time) apikey.Key {
	return apikey.Key{
		ID: id, ClientID: owner, Name: "key " + id, Notes: "notes", Identifier: "ext",
		Pub:       apikey.Permission{Allow: []string{"orders.>"}, Deny: []string{"orders.secret"}},
		Sub:       apikey.Permission{Allow: []string{"events.*"}, Deny: []string{}},
		ExpiresAt: created.Add(24 * time.Hour), CreatedAt: created, CreatedBy: "admin", UpdatedAt: created,
		Hash: []byte("0123456789abcdef0123456789abcdef"),
	}
}

func assertKey(t *testing.T, want, got apikey.Key) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.ClientID, got.ClientID)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Notes, got.Notes)
	assert.Equal(t, want.Identifier, got.Identifier)
	assert.Equal(t, want.Pub, got.Pub)
	assert.Equal(t, want.Sub, got.Sub)
	assert.Equal(t, want.CreatedBy, got.CreatedBy)
	assert.Equal(t, want.Revoked, got.Revoked)
	assert.Equal(t, want.LastUsedIP, got.LastUsedIP)
	assert.Equal(t, want.Hash, got.Hash)
	for _, tt := range []struct {
		name      string
		want, got time.Time
	}{{"expires_at", want.ExpiresAt, got.ExpiresAt}, {"created_at", want.CreatedAt, got.CreatedAt},
		{"updated_at", want.UpdatedAt, got.UpdatedAt}, {"revoked_at", want.RevokedAt, got.RevokedAt},
		{"last_used_at", want.LastUsedAt, got.LastUsedAt}} {
		assert.True(t, tt.want.Equal(tt.got), "%s: want %v, got %v", tt.name, tt.want, tt.got)
	}
}

func testKeys(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	_, err := s.GetKey(ctx, "k1")
	require.ErrorIs(t, err, apikey.ErrNotFound, "get before create")
	require.ErrorIs(t, s.DeleteKey(ctx, "k1"), apikey.ErrNotFound, "delete before create")
	require.ErrorIs(t, s.TouchKey(ctx, "k1", base, "10.0.0.1"), apikey.ErrNotFound, "touch before create")
	_, err = s.UpdateKey(ctx, "k1", func(*apikey.Key) error { return nil })
	require.ErrorIs(t, err, apikey.ErrNotFound, "update before create")

	k := key("k1", "alice", base)
	require.NoError(t, s.CreateKey(ctx, k))
	require.ErrorIs(t, s.CreateKey(ctx, k), apikey.ErrExists, "create k1 twice")
	got, err := s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assertKey(t, k, got)

	never := key("k2", "alice", base)
	never.ExpiresAt = time.Time{}
	require.NoError(t, s.CreateKey(ctx, never))
	got, err = s.GetKey(ctx, "k2")
	require.NoError(t, err)
	assert.True(t, got.ExpiresAt.IsZero(), "a key without expiry stays without")

	updated, err := s.UpdateKey(ctx, "k1", func(k *apikey.Key) error {
		k.Name, k.Revoked, k.RevokedAt = "renamed", true, base.Add(time.Minute)
		k.Pub.Allow = []string{"a.b"}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "renamed", updated.Name)
	k.Name, k.Revoked, k.RevokedAt, k.Pub.Allow = "renamed", true, base.Add(time.Minute), []string{"a.b"}
	got, err = s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assertKey(t, k, got)

	boom := errors.New("boom")
	_, err = s.UpdateKey(ctx, "k1", func(k *apikey.Key) error { k.Name = "lost"; return boom })
	require.ErrorIs(t, err, boom, "fn's error is returned as is")
	got, err = s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.Name, "a failed update changes nothing")

	require.NoError(t, s.TouchKey(ctx, "k1", base.Add(time.Hour), "2001:db8::1"))
	got, err = s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assert.True(t, base.Add(time.Hour).Equal(got.LastUsedAt))
	assert.Equal(t, "2001:db8::1", got.LastUsedIP)

	require.NoError(t, s.DeleteKey(ctx, "k1"))
	_, err = s.GetKey(ctx, "k1")
	require.ErrorIs(t, err, apikey.ErrNotFound, "get after delete")
}

func testList(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	for i := range 5 {
		owner := "alice"
		if i%2 == 1 {
			owner = "bob"
		}
		require.NoError(t, s.CreateKey(ctx, key(fmt.Sprintf("k%d", i), owner, base.Add(time.Duration(i)*time.Minute))))
	}
	require.NoError(t, s.CreateKey(ctx, key("k0b", "alice", base)), "same created_at as k0: ties by id")

	all, total, err := s.ListKeys(ctx, apikey.KeyFilter{})
	require.NoError(t, err)
	assert.Equal(t, 6, total)
	ids := func(ks []apikey.Key) []string {
		out := []string{}
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	assert.Equal(t, []string{"k0", "k0b", "k1", "k2", "k3", "k4"}, ids(all), "oldest first, ties by id")

	alice, total, err := s.ListKeys(ctx, apikey.KeyFilter{ClientID: "alice"})
	require.NoError(t, err)
	assert.Equal(t, 4, total)
	assert.Equal(t, []string{"k0", "k0b", "k2", "k4"}, ids(alice))

	page, total, err := s.ListKeys(ctx, apikey.KeyFilter{ClientID: "alice", Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 4, total, "total ignores paging")
	assert.Equal(t, []string{"k0b", "k2"}, ids(page))

	past, total, err := s.ListKeys(ctx, apikey.KeyFilter{Offset: 10})
	require.NoError(t, err)
	assert.Equal(t, 6, total)
	assert.Empty(t, past)
}

func testUpdateRace(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateKey(ctx, key("k1", "alice", base)))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.UpdateKey(ctx, "k1", func(k *apikey.Key) error {
				k.Notes += "x"
				return nil
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assert.Len(t, got.Notes, len("notes")+20, "every update applied exactly once")
}

func testCredentials(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	cred := func(user, keyID string, exp time.Duration) apikey.Credential {
		return apikey.Credential{UserKey: user, KeyID: keyID, IssuedAt: base, ExpiresAt: base.Add(exp)}
	}
	require.NoError(t, s.AddCredential(ctx, cred("U1", "k1", time.Hour)))
	require.NoError(t, s.AddCredential(ctx, cred("U2", "k1", 2*time.Hour)))
	require.NoError(t, s.AddCredential(ctx, cred("U3", "k2", time.Hour)))
	require.ErrorIs(t, s.AddCredential(ctx, cred("U1", "k1", time.Hour)), apikey.ErrExists, "a user key is used once")

	revoked, err := s.RevokedCredentials(ctx, base)
	require.NoError(t, err)
	assert.Empty(t, revoked)

	n, err := s.RevokeCredentials(ctx, "k1", base.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = s.RevokeCredentials(ctx, "k1", base.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 0, n, "already revoked credentials are not counted again")

	revoked, err = s.RevokedCredentials(ctx, base)
	require.NoError(t, err)
	require.Len(t, revoked, 2)
	assert.Equal(t, "U1", revoked[0].UserKey, "ordered by user key")
	assert.Equal(t, "U2", revoked[1].UserKey)
	assert.Equal(t, "k1", revoked[0].KeyID)
	assert.True(t, base.Add(time.Minute).Equal(revoked[0].RevokedAt), "the first revocation time is kept")
	assert.True(t, base.Add(time.Hour).Equal(revoked[0].ExpiresAt))

	revoked, err = s.RevokedCredentials(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, revoked, 1, "credentials expired by now are left out")
	assert.Equal(t, "U2", revoked[0].UserKey)

	n, err = s.DeleteExpiredCredentials(ctx, base.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "U1 and U3 expire at base+1h")
	require.NoError(t, s.AddCredential(ctx, cred("U1", "k9", time.Hour)), "a deleted credential's user key is free")
}

func testCopies(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := key("k1", "alice", base)
	require.NoError(t, s.CreateKey(ctx, k))
	k.Pub.Allow[0] = "changed"
	k.Hash[0] = 'X'
	got, err := s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, "orders.>", got.Pub.Allow[0], "the store kept the caller's slice")
	assert.Equal(t, byte('0'), got.Hash[0], "the store kept the caller's hash")
	got.Sub.Allow[0] = "changed"
	list, _, err := s.ListKeys(ctx, apikey.KeyFilter{})
	require.NoError(t, err)
	assert.Equal(t, "events.*", list[0].Sub.Allow[0], "GetKey returned the store's memory")
	list[0].Pub.Deny[0] = "changed"
	_, err = s.UpdateKey(ctx, "k1", func(k *apikey.Key) error { return nil })
	require.NoError(t, err)
	got, err = s.GetKey(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, "orders.secret", got.Pub.Deny[0], "ListKeys returned the store's memory")
}
