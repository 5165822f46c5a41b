package extension

import (
	"encoding/json"
	"errors"
	"net/http"
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
	)
	switch {
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
		return http.StatusNotFound, "not_found", "extension not found"
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
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /extensions", r.handleRegister)
	mux.HandleFunc("GET /extensions/all", r.handleList)
	mux.HandleFunc("GET /extensions/features", r.handleFeatures)
	mux.HandleFunc("GET /extension/{id}", r.handleGet)
	mux.HandleFunc("DELETE /extension/{id}", r.handleDeregister)
	mux.HandleFunc("/extension/{id}/{path...}", r.serveProxy)
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
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	page, err := httpapi.ParsePage(req)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	exts, err := r.List(req.Context(), p)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.SetPageHeaders(w, req, page, len(exts))
	httpapi.WriteJSON(w, http.StatusOK, httpapi.Window(exts, page.Limit, page.Offset))
}

func (r *Registry) handleFeatures(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	fs, err := r.Features(req.Context(), p)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"features": fs})
}

func (r *Registry) handleGet(w http.ResponseWriter, req *http.Request) {
	p, ok := r.principal(w, req)
	if !ok {
		return
	}
	e, err := r.Get(req.Context(), p, req.PathValue("id"))
	if err != nil {
		r.fail(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, e)
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
