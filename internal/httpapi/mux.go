package httpapi

import (
	"net/http"
)

// Mux wraps a ServeMux so that the requests it has no route for are answered
// with the JSON error body (404 not_found, or 405 method_not_allowed with the
// mux's Allow header) instead of the ServeMux's plain text. Redirects the
// ServeMux issues for unclean paths pass through unchanged.
func Mux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux would answer with one of its own handlers; learn which
		// without letting it write.
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			WriteError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path)
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed on "+r.URL.Path)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// headerRecorder captures the status and headers a handler writes and drops
// the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.header }

func (r *headerRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *headerRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}
