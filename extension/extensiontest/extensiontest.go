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
	t.Run("Bundles", func(t *testing.T) { testBundles(t, newStore(t)) })
	t.Run("ActivateIsAtomic", func(t *testing.T) { testActivateRace(t, newStore(t)) })
	t.Run("SettingsAndLicense", func(t *testing.T) { testSettings(t, newStore(t)) })
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

func bundle(prefix, version string, at time.Time) (extension.Bundle, map[string][]byte) {
	files := map[string][]byte{"index.js": []byte("export default '" + version + "';"), "lib/a.js": []byte("export const a = 1;")}
	return extension.Bundle{
		Prefix: prefix, Version: version, Active: true, // stores ignore Active on create
		Integrity: "sha384-" + version,
		ImportMap: extension.ImportMap{
			Imports:   map[string]string{"a": "./lib/a.js"},
			Scopes:    map[string]map[string]string{"./lib/": {"b": "./index.js"}},
			Integrity: map[string]string{"./index.js": "sha384-i", "./lib/a.js": "sha384-a"},
		},
		Files: []extension.BundleFile{
			{Path: "index.js", Size: int64(len(files["index.js"])), Integrity: "sha384-i", ContentType: "text/javascript; charset=utf-8"},
			{Path: "lib/a.js", Size: int64(len(files["lib/a.js"])), Integrity: "sha384-a", ContentType: "text/javascript; charset=utf-8"},
		},
		Size: int64(len(files["index.js"]) + len(files["lib/a.js"])), PublishedAt: at, PublishedBy: "svc",
	}, files
}

func versions(bs []extension.Bundle) map[string]bool {
	out := make(map[string]bool, len(bs))
	for _, b := range bs {
		out[b.Prefix+"@"+b.Version] = b.Active
	}
	return out
}

func testBundles(t *testing.T, s extension.Store) {
	ctx := context.Background()
	b1, files := bundle("billing", "1.0.0", base)
	require.ErrorIs(t, s.CreateBundle(ctx, b1, files), extension.ErrNotFound, "a bundle of an unregistered extension")
	require.NoError(t, s.CreateExtension(ctx, ext("billing")))
	require.NoError(t, s.CreateExtension(ctx, ext("orders")))
	require.NoError(t, s.CreateBundle(ctx, b1, files))
	require.ErrorIs(t, s.CreateBundle(ctx, b1, files), extension.ErrExists, "a version twice")
	b2, files2 := bundle("billing", "2.0.0", base.Add(time.Minute))
	require.NoError(t, s.CreateBundle(ctx, b2, files2))
	o1, ofiles := bundle("orders", "1.0.0", base)
	require.NoError(t, s.CreateBundle(ctx, o1, ofiles))

	all, err := s.ListBundles(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"billing@1.0.0": false, "billing@2.0.0": false, "orders@1.0.0": false}, versions(all),
		"every bundle, none active on creation")
	got, err := s.ListBundles(ctx, "billing")
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, g := range got {
		want := b1
		if g.Version == "2.0.0" {
			want = b2
		}
		want.Active = false
		assert.True(t, want.PublishedAt.Equal(g.PublishedAt), "published_at")
		g.PublishedAt = want.PublishedAt
		assert.Equal(t, want, g, "a bundle comes back as stored")
	}
	none, err := s.ListBundles(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, none)

	f, data, err := s.BundleFile(ctx, "billing", "2.0.0", "lib/a.js")
	require.NoError(t, err)
	assert.Equal(t, b2.Files[1], f)
	assert.Equal(t, files2["lib/a.js"], data)
	for _, tt := range [][3]string{{"billing", "2.0.0", "nope.js"}, {"billing", "9", "index.js"}, {"nobody", "1.0.0", "index.js"}} {
		_, _, err := s.BundleFile(ctx, tt[0], tt[1], tt[2])
		require.ErrorIs(t, err, extension.ErrNotFound, "file %v", tt)
	}

	act, err := s.ActivateBundle(ctx, "billing", "1.0.0")
	require.NoError(t, err)
	assert.True(t, act.Active)
	assert.Equal(t, "1.0.0", act.Version)
	_, err = s.ActivateBundle(ctx, "billing", "2.0.0")
	require.NoError(t, err)
	_, err = s.ActivateBundle(ctx, "orders", "1.0.0")
	require.NoError(t, err)
	all, err = s.ListBundles(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"billing@1.0.0": false, "billing@2.0.0": true, "orders@1.0.0": true}, versions(all),
		"one active per extension")
	_, err = s.ActivateBundle(ctx, "billing", "9")
	require.ErrorIs(t, err, extension.ErrNotFound)

	require.ErrorIs(t, s.DeleteBundle(ctx, "billing", "2.0.0"), extension.ErrActive, "the active version")
	require.NoError(t, s.DeleteBundle(ctx, "billing", "1.0.0"))
	require.ErrorIs(t, s.DeleteBundle(ctx, "billing", "1.0.0"), extension.ErrNotFound, "delete twice")
	_, _, err = s.BundleFile(ctx, "billing", "1.0.0", "index.js")
	require.ErrorIs(t, err, extension.ErrNotFound, "a deleted version's files")

	// Copies out: changing what came back changes nothing stored.
	got, err = s.ListBundles(ctx, "orders")
	require.NoError(t, err)
	got[0].Files[0].Path = "changed"
	got[0].ImportMap.Imports["a"] = "changed"
	got[0].ImportMap.Scopes["./lib/"]["b"] = "changed"
	_, data, err = s.BundleFile(ctx, "orders", "1.0.0", "index.js")
	require.NoError(t, err)
	data[0] = 'X'
	got, err = s.ListBundles(ctx, "orders")
	require.NoError(t, err)
	assert.Equal(t, "index.js", got[0].Files[0].Path)
	assert.Equal(t, "./lib/a.js", got[0].ImportMap.Imports["a"])
	assert.Equal(t, "./index.js", got[0].ImportMap.Scopes["./lib/"]["b"])
	_, data, err = s.BundleFile(ctx, "orders", "1.0.0", "index.js")
	require.NoError(t, err)
	assert.Equal(t, ofiles["index.js"], data)

	// Deleting an extension deletes its bundles.
	require.NoError(t, s.DeleteExtension(ctx, "billing"))
	all, err = s.ListBundles(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"orders@1.0.0": true}, versions(all))
	require.NoError(t, s.CreateExtension(ctx, ext("billing")))
	require.NoError(t, s.CreateBundle(ctx, b1, files), "a re-registered extension starts without bundles")
}

// testActivateRace activates versions from many goroutines: one ends
// active, never two.
func testActivateRace(t *testing.T, s extension.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateExtension(ctx, ext("race")))
	for i := range 5 {
		b, files := bundle("race", fmt.Sprint(i), base.Add(time.Duration(i)*time.Second))
		require.NoError(t, s.CreateBundle(ctx, b, files))
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := s.ActivateBundle(ctx, "race", fmt.Sprint(i%5))
			assert.True(t, err == nil || i%5 == 0 && errors.Is(err, extension.ErrNotFound), "activate: %v", err) // 0 may be deleted
			if i%5 != 0 {
				err := s.DeleteBundle(ctx, "race", "0")
				assert.True(t, err == nil || errors.Is(err, extension.ErrActive) || errors.Is(err, extension.ErrNotFound), "delete: %v", err)
			}
		})
	}
	wg.Wait()
	all, err := s.ListBundles(ctx, "race")
	require.NoError(t, err)
	active := 0
	for _, b := range all {
		if b.Active {
			active++
		}
	}
	assert.Equal(t, 1, active, "exactly one active version")
}

func testSettings(t *testing.T, s extension.Store) {
	ctx := context.Background()
	_, err := s.GetSettings(ctx)
	require.ErrorIs(t, err, extension.ErrNotFound, "settings never stored")
	want := extension.DefaultSettings()
	want.SessionIdleTimeout, want.Resolution = 30*time.Minute, extension.ResolveBundleOnly
	require.NoError(t, s.PutSettings(ctx, want))
	got, err := s.GetSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	want.BundleRetention = 9
	require.NoError(t, s.PutSettings(ctx, want))
	got, err = s.GetSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got, "put replaces")

	_, err = s.GetLicense(ctx)
	require.ErrorIs(t, err, extension.ErrNotFound, "no licence installed")
	require.NoError(t, s.PutLicense(ctx, "v1.first.sig"))
	require.NoError(t, s.PutLicense(ctx, "v1.second.sig"))
	lic, err := s.GetLicense(ctx)
	require.NoError(t, err)
	assert.Equal(t, "v1.second.sig", lic, "put replaces")
}
