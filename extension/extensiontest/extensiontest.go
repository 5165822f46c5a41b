// Package extensiontest holds the conformance suite every extension.Store
// passes.
//
// A host with its own store runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		extensiontest.RunStore(t, func(t *testing.T) extension.Store { return newMyStore(t) })
//	}
package extensiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
)

// RunStore runs the conformance suite. newStore must return an empty store
// each time it is called.
func RunStore(t *testing.T, newStore func(t *testing.T) extension.Store) {
	t.Run("Extensions", func(t *testing.T) { testExtensions(t, newStore(t)) })
	t.Run("UpdateIsAtomic", func(t *testing.T) { testUpdateRace(t, newStore(t)) })
	t.Run("CopiesOut", func(t *testing.T) { testCopies(t, newStore(t)) })
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ext(prefix string) extension.Extension {
	return extension.Extension{
		Prefix: prefix, Name: "Extension " + prefix, Description: "does things", Version: "1.2.3",
		Upstream: "http://127.0.0.1:9/" + prefix, OpenAPI: json.RawMessage(`{"openapi":"3.0.3"}`),
		Features: []string{"a", "b"}, UI: json.RawMessage(`{"menu":"x"}`), HealthPath: "/healthz",
		Timeout: 1500 * time.Millisecond, Status: extension.StatusDisconnected, Owner: "svc",
		CreatedAt: base, UpdatedAt: base,
	}
}

// assertExt compares field by field, times by instant, so a store may
// hand times back in another location or JSON back re-spaced.
func assertExt(t *testing.T, want, got extension.Extension) {
	t.Helper()
	assert.Equal(t, want.Prefix, got.Prefix)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Description, got.Description)
	assert.Equal(t, want.Version, got.Version)
	assert.Equal(t, want.Upstream, got.Upstream)
	assertJSON(t, want.OpenAPI, got.OpenAPI, "openapi")
	assertJSON(t, want.UI, got.UI, "ui")
	assert.ElementsMatch(t, want.Features, got.Features)
	assert.Equal(t, want.HealthPath, got.HealthPath)
	assert.Equal(t, want.Timeout, got.Timeout)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.LastError, got.LastError)
	assert.Equal(t, want.Owner, got.Owner)
	for _, tt := range []struct {
		name      string
		want, got time.Time
	}{{"last_seen", want.LastSeen, got.LastSeen}, {"last_check", want.LastCheck, got.LastCheck},
		{"created_at", want.CreatedAt, got.CreatedAt}, {"updated_at", want.UpdatedAt, got.UpdatedAt}} {
		assert.True(t, tt.want.Equal(tt.got), "%s: want %v, got %v", tt.name, tt.want, tt.got)
	}
}

func assertJSON(t *testing.T, want, got json.RawMessage, field string) {
	t.Helper()
	if len(want) == 0 {
		assert.Empty(t, got, field)
		return
	}
	assert.JSONEq(t, string(want), string(got), field)
}

func testExtensions(t *testing.T, s extension.Store) {
	ctx := context.Background()
	_, err := s.GetExtension(ctx, "billing")
	require.ErrorIs(t, err, extension.ErrNotFound, "get before create")
	all, err := s.ListExtensions(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)

	b := ext("billing")
	require.NoError(t, s.CreateExtension(ctx, b))
	require.ErrorIs(t, s.CreateExtension(ctx, ext("billing")), extension.ErrExists, "create twice")
	got, err := s.GetExtension(ctx, "billing")
	require.NoError(t, err)
	assertExt(t, b, got)

	bare := extension.Extension{Prefix: "aaa", Name: "bare", Upstream: "https://a.example", Features: []string{},
		HealthPath: "/health", Status: extension.StatusConnected, CreatedAt: base, UpdatedAt: base}
	require.NoError(t, s.CreateExtension(ctx, bare))
	got, err = s.GetExtension(ctx, "aaa")
	require.NoError(t, err)
	assertExt(t, bare, got)

	// Update: fn sees the stored value; its result is stored and returned.
	seen := base.Add(time.Minute)
	updated, err := s.UpdateExtension(ctx, "billing", func(e *extension.Extension) error {
		assert.Equal(t, extension.StatusDisconnected, e.Status)
		e.Status, e.LastSeen, e.LastCheck, e.LastError = extension.StatusConnected, seen, seen, ""
		e.Version = "2.0.0"
		return nil
	})
	require.NoError(t, err)
	b.Status, b.LastSeen, b.LastCheck, b.Version = extension.StatusConnected, seen, seen, "2.0.0"
	assertExt(t, b, updated)
	got, err = s.GetExtension(ctx, "billing")
	require.NoError(t, err)
	assertExt(t, b, got)

	// fn's error aborts and comes back as is.
	boom := errors.New("boom")
	_, err = s.UpdateExtension(ctx, "billing", func(e *extension.Extension) error {
		e.Version = "lost"
		return boom
	})
	require.ErrorIs(t, err, boom)
	got, err = s.GetExtension(ctx, "billing")
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", got.Version, "an aborted update changes nothing")
	_, err = s.UpdateExtension(ctx, "nope", func(*extension.Extension) error { return nil })
	require.ErrorIs(t, err, extension.ErrNotFound, "update unknown")

	// List is ordered by prefix.
	require.NoError(t, s.CreateExtension(ctx, ext("zeta")))
	all, err = s.ListExtensions(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, []string{"aaa", "billing", "zeta"}, []string{all[0].Prefix, all[1].Prefix, all[2].Prefix})
	assertExt(t, b, all[1])

	require.NoError(t, s.DeleteExtension(ctx, "billing"))
	require.ErrorIs(t, s.DeleteExtension(ctx, "billing"), extension.ErrNotFound, "delete twice")
	_, err = s.GetExtension(ctx, "billing")
	require.ErrorIs(t, err, extension.ErrNotFound, "get after delete")
	require.NoError(t, s.CreateExtension(ctx, ext("billing")), "a deleted prefix can be registered again")
}

// testUpdateRace increments a counter held in Version from many
// goroutines: an atomic UpdateExtension loses none.
func testUpdateRace(t *testing.T, s extension.Store) {
	ctx := context.Background()
	e := ext("counter")
	e.Version = "0"
	require.NoError(t, s.CreateExtension(ctx, e))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateExtension(ctx, "counter", func(e *extension.Extension) error {
					var n int
					if _, err := fmt.Sscan(e.Version, &n); err != nil {
						return err
					}
					e.Version = fmt.Sprint(n + 1)
					return nil
				})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetExtension(ctx, "counter")
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(workers*each), got.Version)
}

// testCopies checks that what a store hands out is not what it keeps.
func testCopies(t *testing.T, s extension.Store) {
	ctx := context.Background()
	e := ext("copies")
	require.NoError(t, s.CreateExtension(ctx, e))
	e.Features[0], e.OpenAPI[0], e.UI[0] = "changed", ' ', ' '

	got, err := s.GetExtension(ctx, "copies")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, got.Features, "create copies in")
	got.Features[0], got.OpenAPI[1], got.UI[1] = "changed", 'x', 'x'

	all, err := s.ListExtensions(ctx)
	require.NoError(t, err)
	all[0].Features[1] = "changed"

	var inFn *extension.Extension
	_, err = s.UpdateExtension(ctx, "copies", func(e *extension.Extension) error { inFn = e; return nil })
	require.NoError(t, err)
	inFn.Features[0] = "changed"

	got, err = s.GetExtension(ctx, "copies")
	require.NoError(t, err)
	assertExt(t, ext("copies"), got)
}
