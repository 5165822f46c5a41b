package openapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/openapi"
)

const invoicesDoc = `{
  "openapi": "3.0.3",
  "info": {"title": "Billing", "version": "1"},
  "paths": {
    "/invoices": {
      "get": {"operationId": "list",
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}}],
        "responses": {"200": {"description": "ok"}}},
      "post": {"operationId": "create",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}},
        "responses": {"201": {"description": "created"}}}
    },
    "/invoices/{id}": {"get": {"operationId": "get",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
      "responses": {"200": {"description": "ok"}}}}
  },
  "components": {"schemas": {"Invoice": {"type": "object", "required": ["amount"],
    "properties": {"amount": {"type": "number"}}, "additionalProperties": false}}}
}`

func TestValidateRequests(t *testing.T) {
	srcs := []openapi.Source{{ID: "billing", Name: "Billing", Document: []byte(invoicesDoc)}}
	a := newAggregator(t, &srcs)
	var got []string // what reached the proxy: method, path and body
	h := a.ValidateRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		w.WriteHeader(http.StatusNoContent)
	}))
	send := func(method, target, body string) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, target, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const base = "/api/v1/extension/billing"

	for _, tt := range []struct {
		name, method, target, body string
		pass                       bool
	}{
		{"valid query", "GET", base + "/invoices?limit=5", "", true},
		{"no query", "GET", base + "/invoices", "", true},
		{"query not an integer", "GET", base + "/invoices?limit=abc", "", false},
		{"query out of range", "GET", base + "/invoices?limit=1000", "", false},
		{"valid body", "POST", base + "/invoices", `{"amount":12.5}`, true},
		{"body of the wrong type", "POST", base + "/invoices", `{"amount":"12"}`, false},
		{"body missing a field", "POST", base + "/invoices", `{}`, false},
		{"body with an unknown field", "POST", base + "/invoices", `{"amount":1,"admin":true}`, false},
		{"malformed body", "POST", base + "/invoices", `{"amount":`, false},
		{"no body", "POST", base + "/invoices", "", false},
		{"path parameter off pattern", "GET", base + "/invoices/abc", "", false},
		{"path parameter on pattern", "GET", base + "/invoices/42", "", true},
		{"undocumented path", "GET", base + "/reports", "", true},
		{"undocumented method", "DELETE", base + "/invoices", "", true},
		{"another extension", "GET", "/api/v1/extension/orders/invoices?limit=abc", "", true},
		{"a platform route", "GET", "/api/v1/items?limit=abc", "", true},
	} {
		got = nil
		rec := send(tt.method, tt.target, tt.body)
		if tt.pass {
			assert.Equal(t, http.StatusNoContent, rec.Code, "%s: %s", tt.name, rec.Body.String())
			u := strings.SplitN(tt.target, "?", 2)[0]
			assert.Equal(t, []string{tt.method + " " + u + " " + tt.body}, got, "%s: the request reaches the proxy intact", tt.name)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, rec.Code, tt.name)
		assert.Contains(t, rec.Body.String(), `"code":"request_invalid"`, tt.name)
		assert.Empty(t, got, "%s: a bad request never reaches the proxy", tt.name)
	}

	// The checks follow the registry.
	srcs[0].Document = []byte(strings.Replace(invoicesDoc, `"maximum": 100`, `"maximum": 5000`, 1))
	a.Invalidate()
	assert.Equal(t, http.StatusNoContent, send("GET", base+"/invoices?limit=1000", "").Code, "the new document applies")
	srcs = nil
	a.Invalidate()
	assert.Equal(t, http.StatusNoContent, send("GET", base+"/invoices?limit=abc", "").Code, "a removed extension is not checked")
}

func TestValidateRequestsPassesWhenNoDocument(t *testing.T) {
	a, err := openapi.New(openapi.Config{Logger: discard()})
	require.NoError(t, err)
	reached := false
	h := a.ValidateRequests(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/extension/x/y?z=1", nil))
	assert.True(t, reached)
}
