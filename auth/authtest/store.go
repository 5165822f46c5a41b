// Package authtest holds the conformance suite every auth.Store passes.
//
// A host with its own store runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		authtest.RunStore(t, func(t *testing.T) auth.Store { return newMyStore(t) })
//	}
package authtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
)

// RunStore runs the conformance suite. newStore must return an empty store
// each time it is called.
func RunStore(t *testing.T, newStore func(t *testing.T) auth.Store) {
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newStore(t)) })
	t.Run("TokenFilters", func(t *testing.T) { testTokenFilters(t, newStore(t)) })
	t.Run("Refresh", func(t *testing.T) { testRefresh(t, newStore(t)) })
	t.Run("RefreshUseIsAtomic", func(t *testing.T) { testRefreshRace(t, newStore(t)) })
	t.Run("Clients", func(t *testing.T) { testClients(t, newStore(t)) })
	t.Run("ClientUpdateIsAtomic", func(t *testing.T) { testClientRace(t, newStore(t)) })
	t.Run("CopiesOut", func(t *testing.T) { testCopies(t, newStore(t)) })
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func record(tid, cid string, created time.Time, life time.Duration) auth.TokenRecord {
	return auth.TokenRecord{
		TokenID: tid, ClientID: cid, Roles: []string{"reader"}, Groups: []string{"staff"},
		Created: created, Expires: created.Add(life), Requester: cid,
	}
}

func testTokens(t *testing.T, s auth.Store) {
	ctx := context.Background()
	rec := record("t1", "alice", base, time.Hour)
	rec.Family = "f1"
	require.NoError(t, s.CreateToken(ctx, rec))
	require.ErrorIs(t, s.CreateToken(ctx, rec), auth.ErrExists, "creating tid t1 twice")

	got, err := s.GetToken(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, rec.TokenID, got.TokenID)
	assert.Equal(t, rec.ClientID, got.ClientID)
	assert.Equal(t, rec.Roles, got.Roles)
	assert.Equal(t, rec.Groups, got.Groups)
	assert.Equal(t, rec.Requester, got.Requester)
	assert.Equal(t, rec.Family, got.Family)
	assert.True(t, rec.Created.Equal(got.Created), "created %v, got %v", rec.Created, got.Created)
	assert.True(t, rec.Expires.Equal(got.Expires), "expires %v, got %v", rec.Expires, got.Expires)

	_, err = s.GetToken(ctx, "nope")
	require.ErrorIs(t, err, auth.ErrNotFound, "unknown tid")

	n, err := s.DeleteTokens(ctx, auth.TokenFilter{TokenID: "t1"})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.GetToken(ctx, "t1")
	require.ErrorIs(t, err, auth.ErrNotFound, "deleted tid")
	n, err = s.DeleteTokens(ctx, auth.TokenFilter{TokenID: "t1"})
	require.NoError(t, err)
	assert.Equal(t, 0, n, "deleting a deleted token")
}

func testTokenFilters(t *testing.T, s auth.Store) {
	ctx := context.Background()
	for i := range 6 {
		cid := "alice"
		if i%2 == 1 {
			cid = "bob"
		}
		rec := record(fmt.Sprintf("t%d", i), cid, base.Add(time.Duration(i)*time.Minute), time.Duration(i+1)*time.Hour)
		if i < 2 {
			rec.Family = "fam"
		}
		require.NoError(t, s.CreateToken(ctx, rec))
	}

	list, total, err := s.ListTokens(ctx, auth.TokenFilter{ClientID: "alice"})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	assert.Equal(t, []string{"t0", "t2", "t4"}, ids(list), "alice's tokens in creation order")

	list, total, err = s.ListTokens(ctx, auth.TokenFilter{Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 6, total, "total ignores the page")
	assert.Equal(t, []string{"t1", "t2"}, ids(list), "page 2 of size 2 from offset 1")

	list, total, err = s.ListTokens(ctx, auth.TokenFilter{Offset: 10})
	require.NoError(t, err)
	assert.Equal(t, 6, total)
	assert.Empty(t, list, "offset past the end")

	// Expired at base+2h30m: t0 (exp +1h) and t1 (exp +1m+2h).
	n, err := s.DeleteTokens(ctx, auth.TokenFilter{ExpiredAt: base.Add(150 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "purge of expired records")
	list, _, _ = s.ListTokens(ctx, auth.TokenFilter{})
	assert.Equal(t, []string{"t2", "t3", "t4", "t5"}, ids(list), "only unexpired records remain")

	n, err = s.DeleteTokens(ctx, auth.TokenFilter{ClientID: "bob", IssuedBefore: base.Add(5 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "bob's tokens issued before +5m: t3")

	n, err = s.DeleteTokens(ctx, auth.TokenFilter{})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the zero filter deletes everything")
}

func ids(recs []auth.TokenRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.TokenID
	}
	return out
}

func testRefresh(t *testing.T, s auth.Store) {
	ctx := context.Background()
	rec := auth.RefreshRecord{Hash: "h1", Family: "f1", ClientID: "alice", Created: base, Expires: base.Add(time.Hour)}
	require.NoError(t, s.CreateRefresh(ctx, rec))
	require.ErrorIs(t, s.CreateRefresh(ctx, rec), auth.ErrExists, "hash h1 twice")

	_, err := s.UseRefresh(ctx, "nope", base)
	require.ErrorIs(t, err, auth.ErrNotFound, "unknown hash")

	used := base.Add(time.Minute)
	got, err := s.UseRefresh(ctx, "h1", used)
	require.NoError(t, err, "first use")
	assert.Equal(t, "f1", got.Family)
	assert.True(t, got.UsedAt.Equal(used))

	got, err = s.UseRefresh(ctx, "h1", used.Add(time.Minute))
	require.ErrorIs(t, err, auth.ErrRefreshReused, "second use")
	assert.True(t, got.UsedAt.Equal(used), "a reuse reports the first use time, got %v", got.UsedAt)
	assert.Equal(t, "alice", got.ClientID)

	require.NoError(t, s.CreateRefresh(ctx, auth.RefreshRecord{Hash: "h2", Family: "f2", ClientID: "alice", Created: base, Expires: base.Add(2 * time.Hour)}))
	require.NoError(t, s.CreateRefresh(ctx, auth.RefreshRecord{Hash: "h3", Family: "f3", ClientID: "bob", Created: base, Expires: base.Add(3 * time.Hour)}))
	n, err := s.DeleteRefresh(ctx, auth.RefreshFilter{ExpiredAt: base.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "expired refresh records")
	n, err = s.DeleteRefresh(ctx, auth.RefreshFilter{Family: "f2"})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "by family")
	n, err = s.DeleteRefresh(ctx, auth.RefreshFilter{ClientID: "bob"})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "by client")
	_, err = s.UseRefresh(ctx, "h3", base)
	require.ErrorIs(t, err, auth.ErrNotFound, "deleted hash")
}

func testRefreshRace(t *testing.T, s auth.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateRefresh(ctx, auth.RefreshRecord{Hash: "h", Family: "f", ClientID: "c", Created: base, Expires: base.Add(time.Hour)}))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.UseRefresh(ctx, "h", base)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, auth.ErrRefreshReused)
		}
	}
	assert.Equal(t, 1, wins, "exactly one of %d concurrent uses wins", n)
}

func client(id string, roles ...string) auth.Client {
	return auth.Client{ID: id, Name: "Client " + id, Roles: roles, Groups: []string{"g"}, Enabled: true, PasswordHash: "$hash$" + id, CreatedAt: base}
}

func testClients(t *testing.T, s auth.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateClient(ctx, client("carol", "admin")))
	require.NoError(t, s.CreateClient(ctx, client("alice", "reader")))
	require.NoError(t, s.CreateClient(ctx, client("bob", "reader", "writer")))
	require.ErrorIs(t, s.CreateClient(ctx, client("bob")), auth.ErrExists, "bob twice")

	got, err := s.GetClient(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, []string{"reader", "writer"}, got.Roles)
	assert.Equal(t, "$hash$bob", got.PasswordHash)
	assert.True(t, got.Enabled)
	assert.True(t, got.CreatedAt.Equal(base))
	_, err = s.GetClient(ctx, "nobody")
	require.ErrorIs(t, err, auth.ErrNotFound)

	list, total, err := s.ListClients(ctx, auth.ClientFilter{})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	assert.Equal(t, []string{"alice", "bob", "carol"}, clientIDs(list), "ordered by id")
	list, total, err = s.ListClients(ctx, auth.ClientFilter{Role: "reader", Limit: 1, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, total, "two readers")
	assert.Equal(t, []string{"bob"}, clientIDs(list))

	login := base.Add(time.Hour)
	updated, err := s.UpdateClient(ctx, "alice", func(c *auth.Client) error {
		c.Enabled = false
		c.LastLogin = login
		c.MFASecret = "SECRET"
		c.MFALastStep = 42
		return nil
	})
	require.NoError(t, err)
	assert.False(t, updated.Enabled)
	got, _ = s.GetClient(ctx, "alice")
	assert.False(t, got.Enabled, "update persisted")
	assert.True(t, got.LastLogin.Equal(login))
	assert.Equal(t, "SECRET", got.MFASecret)
	assert.Equal(t, int64(42), got.MFALastStep)

	boom := errors.New("boom")
	_, err = s.UpdateClient(ctx, "alice", func(c *auth.Client) error { c.Name = "changed"; return boom })
	require.ErrorIs(t, err, boom, "fn's error is returned")
	got, _ = s.GetClient(ctx, "alice")
	assert.Equal(t, "Client alice", got.Name, "a failed update changes nothing")

	_, err = s.UpdateClient(ctx, "nobody", func(*auth.Client) error { return nil })
	require.ErrorIs(t, err, auth.ErrNotFound)

	require.NoError(t, s.DeleteClient(ctx, "alice"))
	require.ErrorIs(t, s.DeleteClient(ctx, "alice"), auth.ErrNotFound, "deleting twice")
	_, err = s.GetClient(ctx, "alice")
	require.ErrorIs(t, err, auth.ErrNotFound)
}

func clientIDs(cs []auth.Client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testClientRace(t *testing.T, s auth.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateClient(ctx, client("counter")))
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateClient(ctx, "counter", func(c *auth.Client) error {
				c.MFALastStep++
				return nil
			})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := s.GetClient(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, int64(n), got.MFALastStep, "%d concurrent increments, none lost", n)
}

func testCopies(t *testing.T, s auth.Store) {
	ctx := context.Background()
	rec := record("t", "alice", base, time.Hour)
	require.NoError(t, s.CreateToken(ctx, rec))
	rec.Roles[0] = "mutated-after-create"
	got, _ := s.GetToken(ctx, "t")
	got.Roles[0] = "mutated-after-get"
	again, _ := s.GetToken(ctx, "t")
	assert.Equal(t, []string{"reader"}, again.Roles, "the store keeps its own copy of a token record")

	c := client("dave", "reader")
	require.NoError(t, s.CreateClient(ctx, c))
	c.Roles[0] = "mutated"
	gc, _ := s.GetClient(ctx, "dave")
	gc.Roles[0] = "mutated"
	gc2, _ := s.GetClient(ctx, "dave")
	assert.Equal(t, []string{"reader"}, gc2.Roles, "the store keeps its own copy of a client")
}
