package extension_test

import (
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
)

// sha384SRI computes an SRI hash the way a browser checks one, apart from
// the package's own code.
func sha384SRI(s string) string {
	h := sha512.New384()
	h.Write([]byte(s))
	return "sha384-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

var bundleFiles = map[string]string{
	"index.js":         `import {x} from "./lib/util.js"; export default x;`,
	"lib/util.js":      `export const x = 1;`,
	"vendor/lodash.js": `export default {};`,
	"style.css":        `body{}`,
	"import-map.json":  `{"imports":{"lodash":"./vendor/lodash.js","billing/lib/":"./lib/"}}`,
}

func withBundle(version string) map[string]string {
	out := make(map[string]string, len(bundleFiles))
	for k, v := range bundleFiles {
		out[k] = v
	}
	out["index.js"] += "// " + version
	return out
}

func bundleHarness(t *testing.T, mutate ...func(*extension.Config)) *harness {
	h := newHarness(t, append([]func(*extension.Config){func(c *extension.Config) { c.BaseURL = "/api/v1" }}, mutate...)...)
	h.register("billing-key", "billing", "http://127.0.0.1:9/billing")
	return h
}

func TestBundleLifecycle(t *testing.T) {
	h := bundleHarness(t)

	rec := h.upload("billing-key", "billing", "1.0.0", zipOf(t, withBundle("1.0.0")))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	v1 := decode[extension.Bundle](t, rec)
	assert.Equal(t, sha384SRI(withBundle("1.0.0")["index.js"]), v1.Integrity, "integrity is the sha384 of index.js")
	assert.True(t, v1.Active, "the first version becomes active")
	assert.Equal(t, "svc", v1.PublishedBy)
	assert.Len(t, v1.Files, 5)
	assert.Equal(t, sha384SRI(bundleFiles["lib/util.js"]), v1.ImportMap.Integrity["./lib/util.js"])
	assert.NotContains(t, v1.ImportMap.Integrity, "./style.css", "only modules are in the integrity section")

	h.clock.Advance(time.Minute)
	rec = h.upload("billing-key", "billing", "2.0.0", zipOf(t, withBundle("2.0.0")))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.False(t, decode[extension.Bundle](t, rec).Active, "a later version waits to be promoted")

	rec = h.upload("billing-key", "billing", "1.0.0", zipOf(t, withBundle("other")))
	assert.Equal(t, http.StatusConflict, rec.Code, "a version is never re-published")

	active := func() extension.ActiveBundle {
		t.Helper()
		rec := h.do("GET", "/extensions/bundles/active", "alice", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := decode[struct{ Bundles []extension.ActiveBundle }](t, rec).Bundles
		require.Len(t, got, 1)
		return got[0]
	}
	a := active()
	assert.Equal(t, "1.0.0", a.Version)
	assert.Equal(t, "billing", a.Identifier)
	assert.Equal(t, "/api/v1/extensions/billing/bundle/1.0.0/index.js", a.Entry)
	assert.Equal(t, v1.Integrity, a.Integrity)
	assert.Equal(t, "/api/v1/extensions/billing/bundle/1.0.0/vendor/lodash.js", a.ImportMap.Imports["lodash"])
	assert.Equal(t, "/api/v1/extensions/billing/bundle/1.0.0/lib/", a.ImportMap.Imports["billing/lib/"])
	assert.Equal(t, a.Entry, a.ImportMap.Imports["billing"])
	assert.Equal(t, v1.Integrity, a.ImportMap.Integrity[a.Entry], "integrity is keyed by the URL the browser fetches")

	// Promote, then roll back by promoting the older version.
	rec = h.do("PUT", "/admin/bundles/billing/active", "admin", `{"version":"2.0.0"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "2.0.0", active().Version)
	rec = h.do("GET", "/admin/bundles", "admin", "")
	require.Equal(t, http.StatusOK, rec.Code)
	list := decode[[]struct {
		Version     string
		Active      bool
		Size        int64
		PublishedAt time.Time `json:"published_at"`
	}](t, rec)
	require.Len(t, list, 2)
	assert.Equal(t, "2.0.0", list[0].Version, "newest first")
	assert.True(t, list[0].Active)
	assert.False(t, list[1].Active)
	assert.Positive(t, list[1].Size)
	assert.False(t, list[0].PublishedAt.IsZero())

	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/bundles/billing/active", "admin", `{"version":"1.0.0"}`).Code)
	assert.Equal(t, "1.0.0", active().Version, "rollback")

	rec = h.do("DELETE", "/admin/bundles/billing/1.0.0", "admin", "")
	assert.Equal(t, http.StatusConflict, rec.Code, "the active version cannot be deleted")
	assert.Equal(t, "bundle_active", errorCode(t, rec))
	assert.Equal(t, http.StatusNoContent, h.do("DELETE", "/admin/bundles/billing/2.0.0", "admin", "").Code)
	assert.Equal(t, http.StatusNotFound, h.do("DELETE", "/admin/bundles/billing/2.0.0", "admin", "").Code)

	// Deregistering removes the bundles.
	require.Equal(t, http.StatusNoContent, h.do("DELETE", "/extension/billing", "billing-key", "").Code)
	rec = h.do("GET", "/admin/bundles", "admin", "")
	assert.Equal(t, "[]", strings.TrimSpace(rec.Body.String()))
}

func TestBundleFilesAreImmutable(t *testing.T) {
	h := bundleHarness(t)
	require.Equal(t, http.StatusCreated, h.upload("billing-key", "billing", "1.0.0", zipOf(t, bundleFiles)).Code)

	rec := h.do("GET", "/extensions/billing/bundle/1.0.0/lib/util.js", "", "")
	require.Equal(t, http.StatusOK, rec.Code, "bundle files need no credentials")
	assert.Equal(t, bundleFiles["lib/util.js"], rec.Body.String())
	assert.Equal(t, "public, max-age=31536000, immutable", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "text/javascript; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "sandbox; default-src 'none'", rec.Header().Get("Content-Security-Policy"), "a file opened as a page is sandboxed")
	etag := rec.Header().Get("ETag")
	assert.Equal(t, `"`+sha384SRI(bundleFiles["lib/util.js"])+`"`, etag)

	r := newRequest("GET", "/extensions/billing/bundle/1.0.0/lib/util.js")
	r.Header.Set("If-None-Match", etag)
	rec = h.serve(r)
	assert.Equal(t, http.StatusNotModified, rec.Code)

	assert.Equal(t, "text/css; charset=utf-8", h.do("GET", "/extensions/billing/bundle/1.0.0/style.css", "", "").Header().Get("Content-Type"))
	for _, path := range []string{
		"/extensions/billing/bundle/1.0.0/missing.js",
		"/extensions/billing/bundle/9.9.9/index.js",
		"/extensions/nobody/bundle/1.0.0/index.js",
	} {
		assert.Equal(t, http.StatusNotFound, h.do("GET", path, "", "").Code, path)
	}
}

func TestBundleRetention(t *testing.T) {
	h := bundleHarness(t)
	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/settings", "admin", `{"bundle_retention":2}`).Code)
	for _, v := range []string{"1", "2", "3", "4"} {
		h.clock.Advance(time.Minute)
		require.Equal(t, http.StatusCreated, h.upload("billing-key", "billing", v, zipOf(t, withBundle(v))).Code)
	}
	rec := h.do("GET", "/admin/bundles", "admin", "")
	var versions []string
	for _, b := range decode[[]struct {
		Version string
		Active  bool
	}](t, rec) {
		versions = append(versions, b.Version)
	}
	assert.Equal(t, []string{"4", "1"}, versions, "two kept: the newest and the active one")
}

func TestBundleUploadPermissions(t *testing.T) {
	h := bundleHarness(t)
	h.register("admin", "secret", "http://127.0.0.1:9/secret")
	z := zipOf(t, bundleFiles)
	for _, tt := range []struct {
		caller, prefix string
		want           int
	}{
		{"", "billing", http.StatusUnauthorized},
		{"nobody", "billing", http.StatusUnauthorized},
		{"rogue-key", "billing", http.StatusForbidden}, // the identifier matches, the owner does not
		{"other-key", "billing", http.StatusForbidden},
		{"alice", "billing", http.StatusForbidden},
		{"alice", "secret", http.StatusNotFound}, // hidden from alice
		{"billing-key", "unknown", http.StatusNotFound},
		{"admin", "billing", http.StatusCreated},
	} {
		rec := h.upload(tt.caller, tt.prefix, "1.0.0", z)
		assert.Equal(t, tt.want, rec.Code, "%s uploading to %s: %s", tt.caller, tt.prefix, rec.Body.String())
	}
	for _, tt := range []struct{ method, path, caller, body string }{
		{"GET", "/admin/bundles", "alice", ""},
		{"GET", "/admin/bundles", "billing-key", ""},
		{"PUT", "/admin/bundles/billing/active", "billing-key", `{"version":"1.0.0"}`},
		{"DELETE", "/admin/bundles/billing/1.0.0", "alice", ""},
	} {
		assert.Equal(t, http.StatusForbidden, h.do(tt.method, tt.path, tt.caller, tt.body).Code, "%s %s as %s", tt.method, tt.path, tt.caller)
		assert.Equal(t, http.StatusUnauthorized, h.do(tt.method, tt.path, "", tt.body).Code, "%s %s without credentials", tt.method, tt.path)
	}
	rec := h.do("GET", "/extensions/bundles/active", "alice", "")
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.Equal(t, http.StatusUnauthorized, h.do("GET", "/extensions/bundles/active", "", "").Code)
}

func TestBundleBadInput(t *testing.T) {
	h := bundleHarness(t, func(c *extension.Config) {
		c.MaxBundleBytes = 64 << 10
		c.MaxBundleUnpacked = 256 << 10
		c.MaxBundleFiles = 10
		c.ModuleUpstream = "https://esm.example"
	})
	with := func(extra map[string]string) []byte {
		files := map[string]string{"index.js": "export {}"}
		for k, v := range extra {
			files[k] = v
		}
		return zipOf(t, files)
	}
	many := map[string]string{}
	for i := range 11 {
		many[strings.Repeat("f", i+1)+".js"] = ""
	}
	for _, tt := range []struct {
		name, version string
		body          []byte
		want          int
	}{
		{"not a zip", "1", []byte("hello"), http.StatusBadRequest},
		{"empty body", "1", nil, http.StatusBadRequest},
		{"no index.js", "1", zipOf(t, map[string]string{"main.js": ""}), http.StatusBadRequest},
		{"index.js not at the root", "1", zipOf(t, map[string]string{"dist/index.js": ""}), http.StatusBadRequest},
		{"traversal", "1", with(map[string]string{"../evil.js": ""}), http.StatusBadRequest},
		{"absolute path", "1", with(map[string]string{"/etc/evil.js": ""}), http.StatusBadRequest},
		{"backslash", "1", with(map[string]string{`a\..\evil.js`: ""}), http.StatusBadRequest},
		{"unclean path", "1", with(map[string]string{"a/./b.js": ""}), http.StatusBadRequest},
		{"too many files", "1", with(many), http.StatusBadRequest},
		{"unpacks too large", "1", with(map[string]string{"big.js": strings.Repeat("a", 300<<10)}), http.StatusBadRequest},
		{"upload too large", "1", with(map[string]string{"rand.bin": randomText(200 << 10)}), http.StatusRequestEntityTooLarge},
		{"bad version", "a%20b", with(nil), http.StatusBadRequest},
		{"version too long", strings.Repeat("1", 65), with(nil), http.StatusBadRequest},
		{"import map not JSON", "1", with(map[string]string{"import-map.json": "{"}), http.StatusBadRequest},
		{"import map unknown key", "1", with(map[string]string{"import-map.json": `{"imports":{},"x":1}`}), http.StatusBadRequest},
		{"import map target elsewhere", "1", with(map[string]string{"import-map.json": `{"imports":{"x":"https://evil.example/x.js"}}`}), http.StatusBadRequest},
		{"import map target missing", "1", with(map[string]string{"import-map.json": `{"imports":{"x":"./nope.js"}}`}), http.StatusBadRequest},
		{"import map target escapes", "1", with(map[string]string{"import-map.json": `{"imports":{"x":"./../index.js"}}`}), http.StatusBadRequest},
		{"import map module path escapes", "1", with(map[string]string{"import-map.json": `{"imports":{"x":"https://esm.example/../x.js"}}`}), http.StatusBadRequest},
	} {
		rec := h.upload("billing-key", "billing", tt.version, tt.body)
		assert.Equal(t, tt.want, rec.Code, "%s: %s", tt.name, rec.Body.String())
		errorCode(t, rec)
	}
	rec := h.upload("billing-key", "billing", "1", with(map[string]string{"import-map.json": `{"imports":{"react":"https://esm.example/react@18.3.1"}}`}))
	require.Equal(t, http.StatusCreated, rec.Code, "a module under the upstream is allowed: %s", rec.Body.String())
	rec = h.do("GET", "/extensions/bundles/active", "admin", "")
	assert.Contains(t, rec.Body.String(), `"react":"/api/v1/cdn/react@18.3.1"`, "modules resolve through the platform")

	for _, tt := range []struct{ method, path, body string }{
		{"PUT", "/admin/bundles/billing/active", `{"version":`},
		{"PUT", "/admin/bundles/billing/active", `{"version":"1","x":1}`},
		{"PUT", "/admin/bundles/billing/active", `{}`},
		{"PUT", "/admin/bundles/billing/active", `{"version":"` + strings.Repeat("v", 2<<20) + `"}`},
	} {
		rec := h.do(tt.method, tt.path, "admin", tt.body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, rec.Code, "%s %.40s", tt.path, tt.body)
	}
	assert.Equal(t, http.StatusNotFound, h.do("PUT", "/admin/bundles/billing/active", "admin", `{"version":"9"}`).Code)
	assert.Equal(t, http.StatusNotFound, h.do("PUT", "/admin/bundles/nobody/active", "admin", `{"version":"1"}`).Code)
}

// randomText is incompressible text, so a zip of it stays large.
func randomText(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}
