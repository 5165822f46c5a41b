package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/portico-dev/portico/internal/httpapi"
)

// maxValidationMessage caps the reason a 400 gives.
const maxValidationMessage = 512

// validator is the router of the extensions' operations for one
// aggregated document.
type validator struct {
	etag   string
	router routers.Router
}

// ValidateRequests is middleware that checks each request for an
// extension's operation against the extension's OpenAPI document, with
// kin-openapi's openapi3filter: path, query and header parameters, and
// the body against its schema. A request that does not conform is answered
// 400 with the reason (code "request_invalid") and never reaches next. A
// request for a path or method the document does not describe passes
// unchecked, since an extension may serve more than it documents; so does
// every request when the document cannot be built. Security requirements
// are not checked here: the platform authenticates before the proxy.
//
// Mount it in front of the extension proxy, where it sees the full request
// path (/api/v1/extension/{id}/...), before any http.StripPrefix. It reads
// the body, so the host's body cap must already apply; the body is handed
// on intact.
func (a *Aggregator) ValidateRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.validator(r.Context())
		if err != nil {
			a.log.Warn("openapi: request validation skipped", "err", err)
			next.ServeHTTP(w, r)
			return
		}
		route, params, err := v.router.FindRoute(r)
		if err != nil { // not an operation any extension documents
			next.ServeHTTP(w, r)
			return
		}
		err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		})
		if err != nil {
			httpapi.WriteError(w, http.StatusBadRequest, "request_invalid", validationMessage(err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validationMessage is the reason a request failed, in one bounded line.
func validationMessage(err error) string {
	var reqErr *openapi3filter.RequestError
	msg := err.Error()
	if errors.As(err, &reqErr) {
		msg = reqErr.Error()
	}
	msg, _, _ = strings.Cut(msg, "\n")
	if len(msg) > maxValidationMessage {
		msg = msg[:maxValidationMessage] + "…"
	}
	return "request does not match the extension's API document: " + msg
}

// validator returns the router for the current document, building it
// when the document changed.
func (a *Aggregator) validator(ctx context.Context) (*validator, error) {
	doc, err := a.Document(ctx)
	if err != nil {
		return nil, err
	}
	if v := a.valid.Load(); v != nil && v.etag == doc.ETag {
		return v, nil
	}
	a.validMu.Lock()
	defer a.validMu.Unlock()
	if v := a.valid.Load(); v != nil && v.etag == doc.ETag {
		return v, nil
	}
	// Only the extensions' operations: the platform's own routes are not
	// the proxy's to check.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc.JSON, &raw); err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(raw["paths"], &paths); err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	for p := range a.base.Paths {
		delete(paths, p)
	}
	if raw["paths"], err = json.Marshal(paths); err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	delete(raw, "servers") // paths are matched as the request has them
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	t, err := load(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	router, err := legacy.NewRouter(t)
	if err != nil {
		return nil, fmt.Errorf("openapi: validator: %w", err)
	}
	v := &validator{etag: doc.ETag, router: router}
	a.valid.Store(v)
	return v, nil
}
