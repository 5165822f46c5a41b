package httpapi

import "net/http"

// ResponseWriter records the status and size of a response. It is the one
// wrapper Portico puts around an http.ResponseWriter; Unwrap lets
// http.NewResponseController still reach Flush and Hijack underneath, so
// Server-Sent Events, WebSocket upgrades and streamed proxy responses work
// through it.
type ResponseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// NewResponseWriter wraps w; an existing *ResponseWriter is returned as is.
func NewResponseWriter(w http.ResponseWriter) *ResponseWriter {
	if rw, ok := w.(*ResponseWriter); ok {
		return rw
	}
	return &ResponseWriter{ResponseWriter: w}
}

// WriteHeader records the status and passes it on.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write records the size and passes the bytes on.
func (w *ResponseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Status is the status written so far, 0 if none.
func (w *ResponseWriter) Status() int { return w.status }

// Bytes is the number of body bytes written.
func (w *ResponseWriter) Bytes() int64 { return w.bytes }

// Written reports whether the header has been sent.
func (w *ResponseWriter) Written() bool { return w.status != 0 }

// Unwrap returns the wrapped writer for http.NewResponseController.
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
