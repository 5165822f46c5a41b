package extension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/httpapi"
)

// errorStatus maps an error to its HTTP status, machine code and public
// message: the one place the package's errors meet HTTP.
func errorStatus(err error) (status int, code, msg string) {
	var (
		decodeErr  *httpapi.DecodeError
		invalidErr *InvalidError
		limitErr   *LimitError
		moduleErr  *ModuleError
	)
	switch {
	case errors.Is(err, errModulesOff):
		return http.StatusNotFound, "modules_disabled", "dependency modules are served from bundles only"
	case errors.Is(err, ErrLicensingOff):
		return http.StatusNotFound, "licensing_disabled", "licensing is not configured on this server"
	case errors.Is(err, ErrLicenseExpired):
		return http.StatusBadRequest, "license_expired", "the licence has expired"
	case errors.Is(err, ErrLicenseInvalid):
		return http.StatusBadRequest, "license_invalid", strings.TrimPrefix(err.Error(), "extension: ")
	case errors.Is(err, ErrActive):
		return http.StatusConflict, "bundle_active", "the active bundle version cannot be deleted; activate another first"
	case errors.As(err, &moduleErr):
		return http.StatusBadGateway, "module_unavailable", strings.TrimPrefix(moduleErr.Error(), "extension: ")
	case errors.As(err, &decodeErr):
		return decodeErr.Status, decodeErr.Code, decodeErr.Msg
	case errors.As(err, &invalidErr):
		return http.StatusBadRequest, "invalid_field", invalidErr.Field + " " + invalidErr.Reason
	case errors.As(err, &limitErr):
		return http.StatusForbidden, "limit_reached", strings.TrimPrefix(limitErr.Error(), "extension: ")
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, "missing_credentials", "authentication required"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden", strings.TrimPrefix(err.Error(), "extension: forbidden: ")
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "conflict", "already exists"
	}
	return http.StatusInternalServerError, "internal", "internal server error"
}

func (r *Registry) fail(w http.ResponseWriter, req *http.Request, err error) {
	status, code, msg := errorStatus(err)
	httpapi.Fail(w, req, r.log, status, code, msg, err)
}

// Handler serves the registry and the proxy, relative to where the host
// mounts it, behind an authentication middleware that puts an
// auth.Principal in the context:
//
//	POST   /extensions            register or update an extension (201 when new)
//	GET    /extensions/all        the extensions the caller may see (paged)
//	GET    /extensions/features   their features, each with its extensions
//	GET    /extension/{id}        one extension, with its OpenAPI document
//	DELETE /extension/{id}        deregister an extension
//	ANY    /extension/{id}/{path...}  the proxy to the extension's upstream
//
// UI bundles, settings, the module cache and licences:
//
//	POST   /extensions/{identifier}/bundle/{version}  publish a bundle (a zip; 201)
//	GET    /extensions/{identifier}/bundle/{version}/{path...}  a bundle's file, cached immutably
//	GET    /extensions/bundles/active         the active bundles the caller may see
//	GET    /admin/bundles                     every bundle (administrators)
//	PUT    /admin/bundles/{prefix}/active     activate a version: {"version": "..."}
//	DELETE /admin/bundles/{prefix}/{version}  delete an inactive version (409 for the active one)
//	GET    /admin/settings, PUT /admin/settings  the settings (PUT changes the fields it holds)
//	GET    /admin/cdn/status                  the module cache's size, limits and errors
//	GET    /admin/licenses, POST /admin/licenses  the licence; install one: {"license": "v1...."}
//	GET    /cdn/{path...}                     a dependency module, by the resolution mode
//
// Bundle files and modules carry a sandboxing Content-Security-Policy, so
// a file opened as a page cannot act in the platform's origin.
//
// Bundle files and modules are code a browser imports without
// credentials: they need no principal, and a host may leave them
// unauthenticated. Every other route needs one.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /extensions", r.handleRegister)
	mux.HandleFunc("GET /extensions/all", r.handleList)
	mux.HandleFunc("GET /extensions/features", r.handleFeatures)
	mux.HandleFunc("GET /extension/{id}", r.handleGet)
	mux.HandleFunc("DELETE /extension/{id}", r.handleDeregister)
	mux.HandleFunc("/extension/{id}/{path...}", r.serveProxy)

	mux.HandleFunc("POST /extensions/{identifier}/bundle/{version}", r.handlePublishBundle)
	mux.HandleFunc("GET /extensions/{identifier}/bundle/{version}/{path...}", r.handleBundleFile)
	mux.HandleFunc("GET /extensions/bundles/active", r.handleActiveBundles)
	mux.HandleFunc("GET /admin/bundles", r.handleBundles)
	mux.HandleFunc("PUT /admin/bundles/{prefix}/active", r.handleActivateBundle)
	mux.HandleFunc("DELETE /admin/bundles/{prefix}/{version}", r.handleDeleteBundle)
	mux.HandleFunc("GET /admin/settings", r.handleSettings)
	mux.HandleFunc("PUT /admin/settings", r.handlePutSettings)
	mux.HandleFunc("GET /admin/cdn/status", r.handleModuleStatus)
	mux.HandleFunc("GET /admin/licenses", r.handleLicense)
	mux.HandleFunc("POST /admin/licenses", r.handleInstallLicense)
	mux.HandleFunc("GET /cdn/{path...}", r.handleModule)
	return httpapi.Mux(mux)
}

// principal returns the caller, or answers 401.
func (r *Registry) principal(w http.ResponseWriter, req *http.Request) (auth.Principal, bool) {
	p, ok := auth.FromContext(req.Context())
	if !ok {
		r.fail(w, req, ErrUnauthenticated)
	}
	return p, ok
}

// answer serves a route that needs a caller and answers 200 with what fn
// returns, or fn's error.
func (r *Registry) answer(w http.ResponseWriter, req *http.Request, fn func(context.Context, auth.Principal) (any, error)) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	v, err := fn(req.Context(), p)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// answerPage serves a list route that needs a caller: the ?limit= and
// ?offset= window of what fn returns, with the paging headers.
func answerPage[T any](r *Registry, w http.ResponseWriter, req *http.Request, fn func(context.Context, auth.Principal) ([]T, error)) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	page, err := httpapi.ParsePage(req)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	all, err := fn(req.Context(), p)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.SetPageHeaders(w, req, page, len(all))
	httpapi.WriteJSON(w, http.StatusOK, httpapi.Window(all, page.Limit, page.Offset))
}

// registration is the body of POST /extensions: the fields a caller sets.
type registration struct {
	Prefix      string          `json:"prefix"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Version     string          `json:"version"`
	Upstream    string          `json:"upstream"`
	OpenAPI     json.RawMessage `json:"openapi"`
	Features    []string        `json:"features"`
	UI          json.RawMessage `json:"ui"`
	HealthPath  string          `json:"health_path"`
	TimeoutMS   int64           `json:"timeout_ms"`
	Status      *string         `json:"status"` // refused: a status is observed, not told
}

func (r *Registry) handleRegister(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	var b registration
	if err := httpapi.DecodeJSON(w, req, &b, r.cfg.MaxBodyBytes); err != nil {
		r.fail(w, req, err)
		return
	}
	if b.Status != nil {
		r.fail(w, req, invalid("status", "is set by health checks, not by registration"))
		return
	}
	if b.TimeoutMS < 0 || b.TimeoutMS > maxTimeout.Milliseconds() { // before the conversion can overflow
		r.fail(w, req, invalid("timeout_ms", "must be between 0 and %d", maxTimeout.Milliseconds()))
		return
	}
	e, created, err := r.Register(req.Context(), p, Extension{
		Prefix: b.Prefix, Name: b.Name, Description: b.Description, Version: b.Version, Upstream: b.Upstream,
		OpenAPI: b.OpenAPI, Features: b.Features, UI: b.UI, HealthPath: b.HealthPath,
		Timeout: time.Duration(b.TimeoutMS) * time.Millisecond,
	})
	if err != nil {
		r.fail(w, req, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, e)
}

func (r *Registry) handleList(w http.ResponseWriter, req *http.Request) {
	answerPage(r, w, req, r.List)
}

func (r *Registry) handleFeatures(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		fs, err := r.Features(ctx, p)
		return map[string]any{"features": fs}, err
	})
}

func (r *Registry) handleGet(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		return r.Get(ctx, p, req.PathValue("id"))
	})
}

func (r *Registry) handleDeregister(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	if err := r.Deregister(req.Context(), p, req.PathValue("id")); err != nil {
		r.fail(w, req, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *Registry) handlePublishBundle(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	body, err := httpapi.ReadBody(w, req, r.cfg.MaxBundleBytes)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	b, err := r.PublishBundle(req.Context(), p, req.PathValue("identifier"), req.PathValue("version"), body)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, b)
}

// immutable is the caching of what never changes under its URL: bundle
// files (a version is never re-published) and pinned modules.
const immutable = "public, max-age=31536000, immutable"

// codeCSP goes on bundle files and modules. It does not touch their use as
// scripts, styles or images by the UI shell, but a file opened as a page
// (an HTML or SVG file in a bundle, say) runs sandboxed, in an origin of
// its own, and cannot reach the platform's.
const codeCSP = "sandbox; default-src 'none'"

func (r *Registry) handleBundleFile(w http.ResponseWriter, req *http.Request) {
	f, data, err := r.BundleFile(req.Context(), req.PathValue("identifier"), req.PathValue("version"), req.PathValue("path"))
	if err != nil {
		r.fail(w, req, err)
		return
	}
	etag := `"` + f.Integrity + `"`
	h := w.Header()
	h.Set("Content-Security-Policy", codeCSP)
	h.Set("Cache-Control", immutable)
	h.Set("ETag", etag)
	if req.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

func (r *Registry) handleActiveBundles(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		bs, err := r.ActiveBundles(ctx, p)
		return map[string]any{"bundles": bs}, err
	})
}

// bundleSummary is a bundle as GET /admin/bundles lists it.
type bundleSummary struct {
	Prefix      string    `json:"prefix"`
	Version     string    `json:"version"`
	Active      bool      `json:"active"`
	Integrity   string    `json:"integrity"`
	Size        int64     `json:"size"`
	Files       int       `json:"files"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

func (r *Registry) handleBundles(w http.ResponseWriter, req *http.Request) {
	answerPage(r, w, req, func(ctx context.Context, p auth.Principal) ([]bundleSummary, error) {
		bs, err := r.Bundles(ctx, p)
		out := make([]bundleSummary, len(bs))
		for i, b := range bs {
			out[i] = bundleSummary{b.Prefix, b.Version, b.Active, b.Integrity, b.Size, len(b.Files), b.PublishedAt, b.PublishedBy}
		}
		return out, err
	})
}

func (r *Registry) handleActivateBundle(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		var body struct {
			Version string `json:"version"`
		}
		if err := r.decodeRequired(w, req, &body, "version", &body.Version); err != nil {
			return nil, err
		}
		return r.ActivateBundle(ctx, p, req.PathValue("prefix"), body.Version)
	})
}

func (r *Registry) handleDeleteBundle(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	if err := r.DeleteBundle(req.Context(), p, req.PathValue("prefix"), req.PathValue("version")); err != nil {
		r.fail(w, req, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *Registry) handleSettings(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		if err := r.requireAdmin(ctx, p); err != nil {
			return nil, err
		}
		return r.Settings(ctx)
	})
}

func (r *Registry) handlePutSettings(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	if err := r.requireAdmin(req.Context(), p); err != nil {
		r.fail(w, req, err)
		return
	}
	cur, err := r.Settings(req.Context())
	if err != nil {
		r.fail(w, req, err)
		return
	}
	wire := cur.wire() // the fields the body leaves out keep their values
	if err := httpapi.DecodeJSON(w, req, &wire, r.cfg.MaxBodyBytes); err != nil {
		r.fail(w, req, err)
		return
	}
	s, err := wire.settings()
	if err == nil {
		s, err = r.UpdateSettings(req.Context(), p, s)
	}
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s)
}

func (r *Registry) handleModuleStatus(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		return r.ModuleCacheStatus(ctx, p)
	})
}

func (r *Registry) handleLicense(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		if err := r.requireAdmin(ctx, p); err != nil {
			return nil, err
		}
		return r.License(ctx)
	})
}

func (r *Registry) handleInstallLicense(w http.ResponseWriter, req *http.Request) {
	r.answer(w, req, func(ctx context.Context, p auth.Principal) (any, error) {
		var body struct {
			License string `json:"license"`
		}
		if err := r.decodeRequired(w, req, &body, "license", &body.License); err != nil {
			return nil, err
		}
		return r.InstallLicense(ctx, p, body.License)
	})
}

// decodeRequired decodes the JSON body into v and requires the string
// field named field, which v holds at value, to be set.
func (r *Registry) decodeRequired(w http.ResponseWriter, req *http.Request, v any, field string, value *string) error {
	if err := httpapi.DecodeJSON(w, req, v, r.cfg.MaxBodyBytes); err != nil {
		return err
	}
	if *value == "" {
		return invalid(field, "is required")
	}
	return nil
}

func (r *Registry) handleModule(w http.ResponseWriter, req *http.Request) {
	m, err := r.Module(req.Context(), req.PathValue("path"))
	if err != nil {
		r.fail(w, req, err)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", codeCSP)
	h.Set("Content-Type", m.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(m.Data)))
	h.Set("X-Module-Source", m.Source)
	h.Set("Cache-Control", "public, max-age=300")
	if pinned(m.Path) && !strings.HasPrefix(m.Source, "bundle:") {
		h.Set("Cache-Control", immutable)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(m.Data)
}

// pinned reports whether a module path names an exact version
// (react@18.3.1/..., @scope/pkg@1.0.0/...), which never changes.
func pinned(path string) bool {
	first, rest, _ := strings.Cut(path, "/")
	if strings.HasPrefix(first, "@") { // a scoped package: @scope/name@version
		first, _, _ = strings.Cut(rest, "/")
	}
	_, version, ok := strings.Cut(first, "@")
	return ok && version != "" && strings.Count(version, ".") == 2 &&
		!strings.ContainsFunc(version, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
}
