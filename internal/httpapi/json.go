package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxBody is the body cap used when a handler is given none: 1 MB.
const DefaultMaxBody = 1 << 20

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v == nil || status == http.StatusNoContent {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}

// WriteError writes the standard error body {"error": msg, "code": code}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, ErrorBody{Error: msg, Code: code})
}

// DecodeError is a request body that could not be decoded. Status is 400 for
// malformed JSON, wrong types and unknown fields, 413 for a body over the cap
// and 415 for a body that is not JSON.
type DecodeError struct {
	Status int
	Code   string
	Msg    string
}

func (e *DecodeError) Error() string { return e.Msg }

// DecodeJSON decodes the request body into v. It reads at most max bytes
// (DefaultMaxBody when max <= 0), refuses unknown fields, trailing data and
// a Content-Type other than JSON, and returns a *DecodeError that says what
// was wrong in words a client can act on.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, max int64) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &DecodeError{http.StatusUnsupportedMediaType, "unsupported_media_type", "request body must be application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			if de := decodeError(err); de.Status == http.StatusRequestEntityTooLarge {
				return de
			}
		}
		return &DecodeError{http.StatusBadRequest, "invalid_json", "request body must hold a single JSON value"}
	}
	return nil
}

// ReadBody reads the whole request body, at most max bytes; a longer one
// is a 413 *DecodeError.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, decodeError(&http.MaxBytesError{Limit: max})
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, decodeError(err)
		}
		return nil, &DecodeError{http.StatusBadRequest, "invalid_body", "request body could not be read"}
	}
	return b, nil
}

func decodeError(err error) *DecodeError {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		timeErr   *time.ParseError
	)
	switch {
	case errors.As(err, &maxErr):
		return &DecodeError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit)}
	case errors.Is(err, io.EOF):
		return &DecodeError{http.StatusBadRequest, "invalid_json", "request body is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{http.StatusBadRequest, "invalid_json", "request body is truncated JSON"}
	case errors.As(err, &syntaxErr):
		return &DecodeError{http.StatusBadRequest, "invalid_json", fmt.Sprintf("request body is not valid JSON (at byte %d)", syntaxErr.Offset)}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &DecodeError{http.StatusBadRequest, "invalid_json", fmt.Sprintf("request body must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))}
		}
		return &DecodeError{http.StatusBadRequest, "invalid_field", fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &timeErr):
		// time.Time's UnmarshalJSON does not say which field it was.
		return &DecodeError{http.StatusBadRequest, "invalid_field", fmt.Sprintf("time %s is not RFC 3339 (like 2026-01-02T15:04:05Z)", timeErr.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one.
		return &DecodeError{http.StatusBadRequest, "unknown_field", "request body has " + strings.TrimPrefix(err.Error(), "json: ")}
	default:
		return &DecodeError{http.StatusBadRequest, "invalid_json", "request body is not valid JSON"}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "another type"
}

// Fail answers a failed request with status and a JSON body of code and
// msg. A 500 is logged with err, which the client never sees; a 401
// carries a Bearer challenge (RFC 6750).
func Fail(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, code, msg string, err error) {
	switch status {
	case http.StatusInternalServerError:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="portico"`)
	}
	WriteError(w, status, code, msg)
}
