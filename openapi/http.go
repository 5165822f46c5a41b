package openapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// Swagger UI's distribution (the swagger-ui-dist npm package; its version
// and licence are in swaggerui/), shipped inside the module.
//
//go:embed swaggerui
var swaggerUI embed.FS

// docsPage is Swagger UI's page. It loads everything from beside itself
// (docs/...) and the document from ./openapi, so it works under any
// mount prefix, and runs no inline script.
const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>API documentation</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`

// docsInit starts Swagger UI on the aggregated document, grouped by tag.
const docsInit = `window.ui = SwaggerUIBundle({
  url: new URL("openapi", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "none",
  tagsSorter: "alpha",
  operationsSorter: "alpha",
  persistAuthorization: false
});
`

// docsCSP lets the page load only its own files; Swagger UI sets inline
// styles and shows data: images.
const docsCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"

// asset is a static file served with a strong ETag.
type asset struct {
	body        []byte
	etag, ctype string
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return asset{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, ctype: ctype}
}

func (a asset) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	h := w.Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// docsAssets are Swagger UI's files by name, the page included.
func docsAssets() map[string]asset {
	assets := map[string]asset{
		"":        newAsset("index.html", []byte(docsPage)),
		"init.js": newAsset("init.js", []byte(docsInit)),
	}
	entries, _ := fs.ReadDir(swaggerUI, "swaggerui") // embedded: cannot fail
	for _, e := range entries {
		body, _ := fs.ReadFile(swaggerUI, "swaggerui/"+e.Name())
		assets[e.Name()] = newAsset(e.Name(), body)
	}
	return assets
}

// Handler serves, relative to where the host mounts it:
//
//	GET /openapi       the aggregated document (JSON), with a strong ETag;
//	                   If-None-Match is answered 304
//	GET /docs          Swagger UI on it, operations grouped by tag
//	GET /docs/{file}   Swagger UI's files
//
// The document is rebuilt on the first request after Invalidate.
func (a *Aggregator) Handler() http.Handler {
	assets := docsAssets()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi", func(w http.ResponseWriter, r *http.Request) {
		res, err := a.Document(r.Context())
		if err != nil {
			httpapi.Fail(w, r, a.log, http.StatusServiceUnavailable, "unavailable", "the API document cannot be built", err)
			return
		}
		asset{body: res.JSON, etag: res.ETag, ctype: "application/json"}.serve(w, r, "no-cache")
	})
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", docsCSP)
		assets[""].serve(w, r, "no-cache")
	})
	mux.HandleFunc("GET /docs/{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		a, ok := assets[name]
		if !ok || name == "" {
			httpapi.WriteError(w, http.StatusNotFound, "not_found", "not found")
			return
		}
		a.serve(w, r, "public, max-age=86400")
	})
	return httpapi.Mux(mux)
}
