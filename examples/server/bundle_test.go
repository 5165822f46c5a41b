package main

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/extension"
)

// TestBundlesSettingsAndLicences runs the UI side of an extension through
// the server: a bundle larger than the platform's 1 MB body cap is
// published by the extension's key, its files are served to a browser
// without credentials, an administrator promotes and rolls back, modules
// come through the cache, and a vendor licence lifts the extension cap.
func TestBundlesSettingsAndLicences(t *testing.T) {
	vendorPub, vendorKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		io.WriteString(w, "export default 1;")
	}))
	defer cdn.Close()
	s := startServer(t, t.TempDir(), map[string]string{
		"PORTICO_ADMIN_PASSWORD":        "correct-horse-battery",
		"PORTICO_MODULE_UPSTREAM":       cdn.URL,
		"PORTICO_LICENSE_KEYS":          base64.StdEncoding.EncodeToString(vendorPub),
		"PORTICO_UNLICENSED_EXTENSIONS": "1",
	})
	admin := s.login("admin", "correct-horse-battery")
	r := s.do("POST", "/auth/clients/create", admin, `{"client_id":"billing-svc","password":"billing-svc-password","roles":[]}`)
	require.Equal(t, 201, r.status, r.body)
	r = s.do("POST", "/keys", admin, `{"name":"billing","client_id":"billing-svc","identifier":"billing"}`)
	require.Equal(t, 201, r.status, r.body)
	key := field(t, r.body, "token")
	r = s.do("POST", "/extensions", key, `{"prefix":"billing","name":"Billing","upstream":"http://127.0.0.1:9"}`)
	require.Equal(t, 201, r.status, r.body)

	// A bundle of 1.5 MB: over the platform's body cap, under the upload's.
	index := "export default 'billing';"
	bundle := func(version string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for name, body := range map[string][]byte{"index.js": []byte(index + version), "assets/blob.bin": noise(1500 << 10),
			"import-map.json": []byte(`{"imports":{"dep":"` + cdn.URL + `/dep@1.0.0/index.js"}}`)} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
			require.NoError(t, err)
			w.Write(body)
		}
		require.NoError(t, zw.Close())
		return buf.Bytes()
	}
	upload := func(token, version string) response {
		req, err := http.NewRequest("POST", s.base+"/extensions/billing/bundle/"+version, bytes.NewReader(bundle(version)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/zip")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(b)}
	}
	r = upload(key, "1.0.0")
	require.Equal(t, 201, r.status, r.body)
	require.Equal(t, 201, upload(key, "2.0.0").status)
	assert.Equal(t, 401, upload("", "3.0.0").status)

	var active struct{ Bundles []extension.ActiveBundle }
	r = s.do("GET", "/extensions/bundles/active", admin, "")
	require.Equal(t, 200, r.status, r.body)
	require.NoError(t, json.Unmarshal([]byte(r.body), &active))
	require.Len(t, active.Bundles, 1)
	b := active.Bundles[0]
	assert.Equal(t, "1.0.0", b.Version)
	assert.Equal(t, "/api/v1/extensions/billing/bundle/1.0.0/index.js", b.Entry)
	assert.Equal(t, "/api/v1/cdn/dep@1.0.0/index.js", b.ImportMap.Imports["dep"])
	sum := sha512.Sum384([]byte(index + "1.0.0"))
	assert.Equal(t, "sha384-"+base64.StdEncoding.EncodeToString(sum[:]), b.Integrity)

	// What the browser fetches, without credentials.
	resp, err := http.Get(s.base + b.Entry[len("/api/v1"):])
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, index+"1.0.0", string(got))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	r = s.do("GET", "/cdn/dep@1.0.0/index.js", "", "")
	assert.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "export default 1;", r.body)

	// Promote, roll back, refuse to delete the active version.
	assert.Equal(t, 200, s.do("PUT", "/admin/bundles/billing/active", admin, `{"version":"2.0.0"}`).status)
	assert.Equal(t, 200, s.do("PUT", "/admin/bundles/billing/active", admin, `{"version":"1.0.0"}`).status)
	assert.Equal(t, 409, s.do("DELETE", "/admin/bundles/billing/1.0.0", admin, "").status)
	assert.Equal(t, 403, s.do("PUT", "/admin/bundles/billing/active", key, `{"version":"2.0.0"}`).status)
	r = s.do("GET", "/admin/bundles", admin, "")
	assert.Equal(t, "2", r.header.Get("X-Total-Count"))

	// Settings and the module cache.
	r = s.do("PUT", "/admin/settings", admin, `{"session_idle_timeout_s":3600,"bundle_retention":3}`)
	require.Equal(t, 200, r.status, r.body)
	r = s.do("GET", "/admin/cdn/status", admin, "")
	require.Equal(t, 200, r.status, r.body)
	assert.Contains(t, r.body, `"entries":1`)
	assert.Equal(t, 403, s.do("GET", "/admin/settings", key, "").status)

	// Unlicensed, one extension; a licence for five lifts it.
	r = s.do("POST", "/extensions", admin, `{"prefix":"orders","name":"Orders","upstream":"http://127.0.0.1:9"}`)
	assert.Equal(t, 403, r.status, r.body)
	lic, err := extension.SignLicense(vendorKey, extension.License{ID: "l1", Licensee: "Example",
		IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), Entitlements: extension.Entitlements{MaxExtensions: 5}})
	require.NoError(t, err)
	r = s.do("POST", "/admin/licenses", admin, `{"license":"`+lic+`x"}`)
	assert.Equal(t, 400, r.status, "tampered: %s", r.body)
	r = s.do("POST", "/admin/licenses", admin, `{"license":"`+lic+`"}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Contains(t, r.body, `"max_extensions":5`)
	r = s.do("POST", "/extensions", admin, `{"prefix":"orders","name":"Orders","upstream":"http://127.0.0.1:9"}`)
	assert.Equal(t, 201, r.status, r.body)
}

// noise is incompressible bytes.
func noise(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
