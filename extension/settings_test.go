package extension_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
)

func TestSettings(t *testing.T) {
	var applied []extension.Settings
	h := newHarness(t, func(c *extension.Config) {
		c.OnSettings = func(s extension.Settings) { applied = append(applied, s) }
	})
	rec := h.do("GET", "/admin/settings", "admin", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"session_idle_timeout_s":0,"dependency_resolution":"proxy",
		"module_cache":{"max_bytes":67108864,"max_entries":2000,"max_module_bytes":4194304},"bundle_retention":5}`, rec.Body.String())

	rec = h.do("PUT", "/admin/settings", "admin", `{"session_idle_timeout_s":1800,"dependency_resolution":"mixed"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	s := decode[extension.Settings](t, rec)
	assert.Equal(t, 30*time.Minute, s.SessionIdleTimeout)
	assert.Equal(t, extension.ResolveMixed, s.Resolution)
	assert.Equal(t, 5, s.BundleRetention, "fields left out keep their values")
	require.Len(t, applied, 1, "the host is told")
	assert.Equal(t, s, applied[0])
	assert.Contains(t, h.do("GET", "/admin/settings", "admin", "").Body.String(), `"session_idle_timeout_s":1800`)

	for _, body := range []string{
		`{"dependency_resolution":"cdn"}`,
		`{"session_idle_timeout_s":-1}`,
		`{"session_idle_timeout_s":30}`,
		`{"session_idle_timeout_s":99999999999999}`,
		`{"module_cache":{"max_entries":0,"max_bytes":10,"max_module_bytes":1}}`,
		`{"module_cache":{"max_entries":1,"max_bytes":1,"max_module_bytes":10}}`,
		`{"bundle_retention":0}`,
		`{"bundle_retention":"5"}`,
		`{"surprise":true}`,
		`{"bundle_retention":`,
		`[]`,
		`{"dependency_resolution":"` + strings.Repeat("x", 2<<20) + `"}`,
	} {
		rec := h.do("PUT", "/admin/settings", "admin", body)
		assert.Contains(t, []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge}, rec.Code, "%.60s: %s", body, rec.Body.String())
		errorCode(t, rec)
	}
	assert.Len(t, applied, 1, "a refused change is not applied")
	for _, caller := range []string{"alice", "billing-key"} {
		assert.Equal(t, http.StatusForbidden, h.do("GET", "/admin/settings", caller, "").Code, caller)
		assert.Equal(t, http.StatusForbidden, h.do("PUT", "/admin/settings", caller, `{"bundle_retention":3}`).Code, caller)
	}
	assert.Equal(t, http.StatusUnauthorized, h.do("PUT", "/admin/settings", "", `{}`).Code)
}

// moduleUpstream is a fake CDN counting its fetches.
type moduleUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[string]int
	block chan struct{} // when set, fetches wait for it
}

func newModuleUpstream(t *testing.T) *moduleUpstream {
	u := &moduleUpstream{hits: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits[r.URL.Path]++
		block := u.block
		u.mu.Unlock()
		if block != nil {
			<-block
		}
		switch {
		case r.URL.Path == "/broken":
			w.WriteHeader(http.StatusInternalServerError)
		case r.URL.Path == "/huge":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case r.URL.Path == "/away":
			http.Redirect(w, r, "https://elsewhere.example/x.js", http.StatusFound)
		case r.URL.Path == "/latest":
			http.Redirect(w, r, "/react@18.3.1/index.js", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, ".js"):
			w.Header().Set("Content-Type", "application/javascript")
			fmt.Fprintf(w, "export default %q;", r.URL.Path)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *moduleUpstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[path]
}

func TestModuleCache(t *testing.T) {
	up := newModuleUpstream(t)
	h := newHarness(t, func(c *extension.Config) { c.ModuleUpstream = up.URL })
	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/settings", "admin",
		`{"module_cache":{"max_entries":2,"max_bytes":100000,"max_module_bytes":1000}}`).Code)

	rec := h.do("GET", "/cdn/react@18.3.1/index.js", "", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, `export default "/react@18.3.1/index.js";`, rec.Body.String())
	assert.Equal(t, "application/javascript", rec.Header().Get("Content-Type"))
	assert.Equal(t, "public, max-age=31536000, immutable", rec.Header().Get("Cache-Control"), "a pinned version never changes")
	assert.Equal(t, "upstream", rec.Header().Get("X-Module-Source"))
	assert.Equal(t, "sandbox; default-src 'none'", rec.Header().Get("Content-Security-Policy"))
	rec = h.do("GET", "/cdn/react@18.3.1/index.js", "", "")
	assert.Equal(t, "cache", rec.Header().Get("X-Module-Source"))
	assert.Equal(t, 1, up.count("/react@18.3.1/index.js"), "fetched once")

	rec = h.do("GET", "/cdn/latest", "", "")
	require.Equal(t, http.StatusOK, rec.Code, "a redirect within the upstream is followed")
	assert.Equal(t, "public, max-age=300", rec.Header().Get("Cache-Control"), "an unpinned path may change")

	// Two entries at most: the least recently used goes.
	h.do("GET", "/cdn/react@18.3.1/index.js", "", "")
	h.do("GET", "/cdn/vue@3.0.0/index.js", "", "")
	assert.Equal(t, "cache", h.do("GET", "/cdn/react@18.3.1/index.js", "", "").Header().Get("X-Module-Source"))
	assert.Equal(t, "upstream", h.do("GET", "/cdn/latest", "", "").Header().Get("X-Module-Source"), "evicted")

	for _, tt := range []struct {
		path string
		want int
	}{
		{"/cdn/missing.css", http.StatusNotFound},
		{"/cdn/broken", http.StatusBadGateway},
		{"/cdn/huge", http.StatusBadGateway},
		{"/cdn/away", http.StatusBadGateway},
		{"/cdn/a/%2e%2e/b.js", http.StatusBadRequest},
		{"/cdn/a%3Fx.js", http.StatusBadRequest},
	} {
		rec := h.do("GET", tt.path, "", "")
		assert.Equal(t, tt.want, rec.Code, "%s: %s", tt.path, rec.Body.String())
		errorCode(t, rec)
	}

	rec = h.do("GET", "/admin/cdn/status", "admin", "")
	require.Equal(t, http.StatusOK, rec.Code)
	st := decode[extension.ModuleCacheStatus](t, rec)
	assert.Equal(t, 2, st.Entries)
	assert.Positive(t, st.Bytes)
	assert.Equal(t, 2, st.Limits.MaxEntries)
	assert.Equal(t, up.URL, st.Upstream)
	assert.Positive(t, st.Hits)
	assert.EqualValues(t, 3, st.Errors, "broken, huge, away")
	require.Len(t, st.RecentErrors, 3)
	assert.Equal(t, "broken", st.RecentErrors[0].Path)
	assert.Contains(t, st.RecentErrors[0].Error, "status 500")
	assert.Equal(t, http.StatusForbidden, h.do("GET", "/admin/cdn/status", "alice", "").Code)
	assert.Equal(t, http.StatusUnauthorized, h.do("GET", "/admin/cdn/status", "", "").Code)

	// A smaller cache evicts at once.
	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/settings", "admin", `{"module_cache":{"max_entries":1,"max_bytes":100000,"max_module_bytes":1000}}`).Code)
	assert.Equal(t, 1, decode[extension.ModuleCacheStatus](t, h.do("GET", "/admin/cdn/status", "admin", "")).Entries)
}

func TestModuleFetchedOnceForConcurrentCallers(t *testing.T) {
	up := newModuleUpstream(t)
	up.block = make(chan struct{})
	h := newHarness(t, func(c *extension.Config) { c.ModuleUpstream = up.URL })
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 8 {
		wg.Go(func() {
			if h.do("GET", "/cdn/lit@3.1.0/index.js", "", "").Code == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	require.Eventually(t, func() bool { return up.count("/lit@3.1.0/index.js") == 1 }, 5*time.Second, time.Millisecond)
	close(up.block)
	wg.Wait()
	assert.EqualValues(t, 8, ok.Load())
	assert.Equal(t, 1, up.count("/lit@3.1.0/index.js"))
}

func TestModuleResolutionModes(t *testing.T) {
	up := newModuleUpstream(t)
	h := bundleHarness(t, func(c *extension.Config) { c.ModuleUpstream = up.URL })
	require.Equal(t, http.StatusCreated, h.upload("billing-key", "billing", "1", zipOf(t, map[string]string{
		"index.js": "export {}", "modules/shared@1.0.0/index.js": "export const shared = 1;",
	})).Code)

	rec := h.do("GET", "/cdn/shared@1.0.0/index.js", "", "")
	assert.Equal(t, "upstream", rec.Header().Get("X-Module-Source"), "proxy mode ignores bundled modules")

	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/settings", "admin", `{"dependency_resolution":"mixed"}`).Code)
	rec = h.do("GET", "/cdn/shared@1.0.0/index.js", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "bundle:billing@1", rec.Header().Get("X-Module-Source"))
	assert.Equal(t, "export const shared = 1;", rec.Body.String())
	assert.Equal(t, "upstream", h.do("GET", "/cdn/other@2.0.0/index.js", "", "").Header().Get("X-Module-Source"), "mixed falls back to the upstream")

	require.Equal(t, http.StatusOK, h.do("PUT", "/admin/settings", "admin", `{"dependency_resolution":"bundle-only"}`).Code)
	for _, path := range []string{"/cdn/shared@1.0.0/index.js", "/cdn/react@18.3.1/index.js"} {
		rec := h.do("GET", path, "", "")
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.Equal(t, "modules_disabled", errorCode(t, rec))
	}
}

func TestModulesWithoutUpstream(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/cdn/react@18.3.1/index.js", "", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// license signs a licence with key, expiring at exp.
func license(t *testing.T, key ed25519.PrivateKey, max int, exp time.Time) string {
	t.Helper()
	tok, err := extension.SignLicense(key, extension.License{
		ID: "lic-1", Licensee: "Example Corp", IssuedAt: exp.Add(-365 * 24 * time.Hour), ExpiresAt: exp,
		Entitlements: extension.Entitlements{MaxExtensions: max, Features: []string{"ui-bundles"}},
	})
	require.NoError(t, err)
	return tok
}

func TestLicenses(t *testing.T) {
	vendorPub, vendorKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	h := newHarness(t, func(c *extension.Config) {
		c.LicenseKeys = []ed25519.PublicKey{vendorPub}
		c.Unlicensed = extension.Entitlements{MaxExtensions: 1}
	})
	exp := h.clock.Now().Add(30 * 24 * time.Hour)

	rec := h.do("GET", "/admin/licenses", "admin", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"status":"none","entitlements":{"max_extensions":1}}`, rec.Body.String())
	h.register("admin", "one", "http://127.0.0.1:9/one")
	rec = h.do("POST", "/extensions", "admin", `{"prefix":"two","name":"two","upstream":"http://127.0.0.1:9/two"}`)
	require.Equal(t, http.StatusForbidden, rec.Code, "unlicensed: one extension")
	assert.Equal(t, "limit_reached", errorCode(t, rec))

	valid := license(t, vendorKey, 3, exp)
	payload := strings.Split(valid, ".")[1]
	tampered := strings.Replace(valid, payload, license(t, vendorKey, 300, exp)[3:3+len(payload)], 1)
	for _, tt := range []struct {
		name, token, code string
	}{
		{"tampered", tampered, "license_invalid"},
		{"signed by another key", license(t, otherKey, 3, exp), "license_invalid"},
		{"expired", license(t, vendorKey, 3, h.clock.Now().Add(-time.Second)), "license_expired"},
		{"garbage", "v1.x.y", "license_invalid"},
		{"other version", "v2." + strings.TrimPrefix(valid, "v1."), "license_invalid"},
		{"oversized", "v1." + strings.Repeat("a", 20<<10) + ".x", "license_invalid"},
	} {
		rec := h.do("POST", "/admin/licenses", "admin", `{"license":"`+tt.token+`"}`)
		assert.Equal(t, http.StatusBadRequest, rec.Code, tt.name)
		assert.Equal(t, tt.code, errorCode(t, rec), tt.name)
	}
	for _, body := range []string{`{"license":`, `{}`, `{"license":"x","y":1}`, `"x"`} {
		assert.Equal(t, http.StatusBadRequest, h.do("POST", "/admin/licenses", "admin", body).Code, body)
	}
	assert.Equal(t, http.StatusForbidden, h.do("POST", "/admin/licenses", "alice", `{"license":"`+valid+`"}`).Code)
	assert.Equal(t, http.StatusUnauthorized, h.do("POST", "/admin/licenses", "", `{"license":"`+valid+`"}`).Code)
	assert.Equal(t, "none", decode[extension.LicenseStatus](t, h.do("GET", "/admin/licenses", "admin", "")).Status, "nothing bad was installed")

	rec = h.do("POST", "/admin/licenses", "admin", `{"license":"`+valid+`"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	st := decode[extension.LicenseStatus](t, rec)
	assert.Equal(t, "valid", st.Status)
	assert.Equal(t, "Example Corp", st.License.Licensee)
	assert.Equal(t, 3, st.Entitlements.MaxExtensions)
	h.register("admin", "two", "http://127.0.0.1:9/two")
	h.register("admin", "three", "http://127.0.0.1:9/three")
	rec = h.do("POST", "/extensions", "admin", `{"prefix":"four","name":"four","upstream":"http://127.0.0.1:9/four"}`)
	assert.Equal(t, http.StatusForbidden, rec.Code, "the licence allows three")

	h.clock.Advance(31 * 24 * time.Hour)
	st = decode[extension.LicenseStatus](t, h.do("GET", "/admin/licenses", "admin", ""))
	assert.Equal(t, "expired", st.Status)
	assert.Equal(t, 1, st.Entitlements.MaxExtensions, "an expired licence falls back to the unlicensed entitlements")
}

func TestLicensingOff(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h := newHarness(t)
	rec := h.do("POST", "/admin/licenses", "admin", `{"license":"`+license(t, key, 1, time.Now().Add(time.Hour))+`"}`)
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "licensing_disabled", errorCode(t, rec))
	assert.Contains(t, h.do("GET", "/admin/licenses", "admin", "").Body.String(), `"unconfigured"`)
}
