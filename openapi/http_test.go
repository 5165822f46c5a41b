package openapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/openapi"
)

func TestHandler(t *testing.T) {
	srcs := []openapi.Source{{ID: "billing", Name: "Billing", Document: []byte(extDoc("amount"))}}
	a := newAggregator(t, &srcs)
	h := http.StripPrefix("/api/v1", a.Handler())
	get := func(path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := get("/api/v1/openapi")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	etag := rec.Header().Get("ETag")
	assert.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
	assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	doc := reload(t, rec.Body.Bytes())
	assert.NotNil(t, doc.Paths.Value("/api/v1/extension/billing/items"))

	rec = get("/api/v1/openapi", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, rec.Code)
	assert.Empty(t, rec.Body.Bytes())

	srcs = append(srcs, openapi.Source{ID: "orders", Document: []byte(extDoc("n"))})
	a.Invalidate()
	rec = get("/api/v1/openapi", "If-None-Match", etag)
	assert.Equal(t, http.StatusOK, rec.Code, "a changed document is sent again")
	assert.NotEqual(t, etag, rec.Header().Get("ETag"))

	rec = get("/api/v1/docs")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'self'")
	body := rec.Body.String()
	assert.Contains(t, body, `src="docs/swagger-ui-bundle.js"`)
	assert.NotContains(t, body, "<script>", "no inline script")
	assert.NotContains(t, body, "http", "nothing from the internet")

	for _, tt := range []struct{ file, ctype, has string }{
		{"swagger-ui-bundle.js", "javascript", "SwaggerUIBundle"},
		{"swagger-ui.css", "text/css", ".swagger-ui"},
		{"init.js", "javascript", `tagsSorter: "alpha"`},
	} {
		rec = get("/api/v1/docs/" + tt.file)
		require.Equal(t, http.StatusOK, rec.Code, tt.file)
		assert.Contains(t, rec.Header().Get("Content-Type"), tt.ctype, tt.file)
		assert.Contains(t, rec.Body.String(), tt.has, tt.file)
		assert.NotEmpty(t, rec.Header().Get("ETag"), tt.file)
	}
	for _, path := range []string{"/api/v1/docs/nope.js", "/api/v1/docs/..%2fhttp.go", "/api/v1/nope"} {
		rec = get(path)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
		assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"), path)
	}
	req := httptest.NewRequest("POST", "/api/v1/openapi", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}
