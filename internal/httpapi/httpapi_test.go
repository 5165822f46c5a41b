package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestID(t *testing.T) {
	var seen string
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestIDFrom(r.Context()) }))
	for in, keep := range map[string]bool{"abc-123_X.y": true, "": false, "has space": false, strings.Repeat("a", 65): false, "<script>": false} {
		req := httptest.NewRequest("GET", "/", nil)
		if in != "" {
			req.Header.Set("X-Request-Id", in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		assert.Equal(t, seen, got, "the context holds the id answered")
		if keep {
			assert.Equal(t, in, got, "a well-formed incoming id is kept")
		} else {
			assert.Regexp(t, `^[0-9a-f]{24}$`, got, "incoming %q replaced", in)
		}
	}
}

func TestRecover(t *testing.T) {
	var reported any
	h := Recover(func(_ *http.Request, v any) { reported = v })(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 500, rec.Code)
	assert.JSONEq(t, `{"error":"internal server error","code":"internal"}`, rec.Body.String())
	assert.Equal(t, "boom", reported)

	abort := Recover(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() { abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
}

func TestMaxBodyRefusesLargeContentLength(t *testing.T) {
	called := false
	h := MaxBody(10)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))))
	assert.Equal(t, 413, rec.Code)
	assert.False(t, called)
}

func TestResponseWriterUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	rw := NewResponseWriter(rec)
	assert.Same(t, rw, NewResponseWriter(rw), "no double wrapping")
	require.NoError(t, http.NewResponseController(rw).Flush(), "Flush reaches the recorder through Unwrap")
	assert.True(t, rec.Flushed)
	_, _ = rw.Write([]byte("hi"))
	assert.Equal(t, 200, rw.Status())
	assert.Equal(t, int64(2), rw.Bytes())
}

func TestPageHeadersKeepMountPrefix(t *testing.T) {
	req := httptest.NewRequest("GET", "/api/v1/auth/tokens?limit=2&client_id=x", nil)
	req.URL.Path = "/auth/tokens" // as http.StripPrefix leaves it
	p, err := ParsePage(req)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	SetPageHeaders(rec, req, p, 5)
	assert.Equal(t, "5", rec.Header().Get("X-Total-Count"))
	assert.Equal(t, `</api/v1/auth/tokens?client_id=x&limit=2&offset=2>; rel="next"`, rec.Header().Get("Link"))
	rec = httptest.NewRecorder()
	SetPageHeaders(rec, req, Page{Limit: 2, Offset: 4}, 5)
	assert.Empty(t, rec.Header().Get("Link"), "no next page")
}

func TestDecodeJSONErrors(t *testing.T) {
	var v struct {
		N int       `json:"n"`
		T time.Time `json:"t"`
	}
	for body, code := range map[string]string{`{"n":"x"}`: "invalid_field", `{"n":1}{`: "invalid_json", `nul`: "invalid_json", `{"t":"yesterday"}`: "invalid_field"} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		err := DecodeJSON(httptest.NewRecorder(), req, &v, 0)
		var de *DecodeError
		require.True(t, errors.As(err, &de), body)
		assert.Equal(t, code, de.Code, body)
	}
}

func TestFail(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	req := httptest.NewRequest("GET", "/x", nil)

	rec := httptest.NewRecorder()
	Fail(rec, req, log, http.StatusInternalServerError, "internal", "internal server error", errors.New("db on fire"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "db on fire", "the cause stays out of the answer")
	assert.Contains(t, logs.String(), "db on fire", "and goes to the log")

	rec = httptest.NewRecorder()
	Fail(rec, req, log, http.StatusUnauthorized, "missing_credentials", "authentication required", nil)
	assert.Equal(t, `Bearer realm="portico"`, rec.Header().Get("WWW-Authenticate"))
	assert.JSONEq(t, `{"error":"authentication required","code":"missing_credentials"}`, rec.Body.String())
}

func TestWindow(t *testing.T) {
	items := []int{0, 1, 2, 3, 4}
	for _, tt := range []struct {
		limit, offset int
		want          []int
	}{
		{0, 0, []int{0, 1, 2, 3, 4}},
		{2, 0, []int{0, 1}},
		{2, 3, []int{3, 4}},
		{10, 4, []int{4}},
		{2, 5, []int{}},
		{0, 9, []int{}},
	} {
		assert.Equal(t, tt.want, Window(items, tt.limit, tt.offset), "limit %d offset %d", tt.limit, tt.offset)
	}
}
