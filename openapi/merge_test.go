package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/openapi"
)

const platformDoc = `{
  "openapi": "3.0.3",
  "info": {"title": "Platform", "version": "1"},
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    "schemas": {"Item": {"type": "object", "properties": {"platform": {"type": "boolean"}}}}
  },
  "security": [{"bearer": []}],
  "paths": {"/api/v1/items": {"get": {"operationId": "listItems", "responses": {"200": {"description": "ok",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}}}}
}`

// extDoc is an extension document with an Item schema of its own, a
// parameter, a security scheme and an example holding a "$ref" as data.
func extDoc(field string) string {
	return `{
  "openapi": "3.0.3",
  "info": {"title": "ext", "version": "2"},
  "servers": [{"url": "http://internal:8080"}],
  "tags": [{"name": "internal"}],
  "security": [{"token": []}],
  "components": {
    "securitySchemes": {
      "token": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
      "key": {"type": "apiKey", "in": "header", "name": "X-Key"}
    },
    "parameters": {"Id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}},
    "schemas": {
      "Item": {"type": "object", "properties": {
        "` + field + `": {"type": "string"},
        "example": {"$ref": "#/components/schemas/Tag"},
        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}},
        "example": {"$ref": "not a reference, data"}},
      "Tag": {"type": "string"}
    }
  },
  "paths": {
    "/items": {"get": {"operationId": "list", "tags": ["internal"], "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}}}}},
    "/items/{id}": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {"operationId": "get", "security": [{"key": []}], "responses": {"200": {"description": "ok",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}}}
  }
}`
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newAggregator(t testing.TB, srcs *[]openapi.Source) *openapi.Aggregator {
	t.Helper()
	a, err := openapi.New(openapi.Config{
		Platform: []byte(platformDoc),
		Sources:  func(context.Context) ([]openapi.Source, error) { return *srcs, nil },
		Logger:   discard(),
	})
	require.NoError(t, err)
	return a
}

// reload checks the served JSON the way a client would: loaded afresh and
// validated.
func reload(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "the merged document validates")
	return doc
}

func TestMergeNamespacesExtensions(t *testing.T) {
	srcs := []openapi.Source{
		{ID: "orders", Name: "Orders", Description: "Order service", Document: []byte(extDoc("number"))},
		{ID: "billing", Name: "Billing", Document: []byte(extDoc("amount"))},
	}
	res, err := newAggregator(t, &srcs).Document(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"billing", "orders"}, res.Report.Included)
	assert.Empty(t, res.Report.Excluded)

	doc := reload(t, res.JSON)
	assert.ElementsMatch(t, []string{"/api/v1/items",
		"/api/v1/extension/billing/items", "/api/v1/extension/billing/items/{id}",
		"/api/v1/extension/orders/items", "/api/v1/extension/orders/items/{id}"}, doc.Paths.Keys())

	// Colliding component names live side by side.
	schemas := doc.Components.Schemas
	assert.Contains(t, schemas["Item"].Value.Properties, "platform", "the platform's own Item is untouched")
	assert.Contains(t, schemas["billing.Item"].Value.Properties, "amount")
	assert.Contains(t, schemas["orders.Item"].Value.Properties, "number")
	assert.Contains(t, doc.Components.Parameters, "billing.Id")

	get := doc.Paths.Value("/api/v1/extension/billing/items/{id}")
	assert.Equal(t, "billing.get", get.Get.OperationID)
	assert.Equal(t, []string{"Billing"}, get.Get.Tags)
	assert.Equal(t, "#/components/parameters/billing.Id", get.Parameters[0].Ref)
	assert.Equal(t, "#/components/schemas/billing.Item", get.Get.Responses.Value("200").Value.Content["application/json"].Schema.Ref)
	list := doc.Paths.Value("/api/v1/extension/orders/items").Get
	assert.Equal(t, "orders.list", list.OperationID)
	assert.Equal(t, []string{"Orders"}, list.Tags, "the extension's own tags give way to its name")
	assert.Equal(t, "#/components/schemas/orders.Item", list.Responses.Value("200").Value.Content["application/json"].Schema.Value.Items.Ref)
	assert.Equal(t, "listItems", doc.Paths.Value("/api/v1/items").Get.OperationID)

	// References inside a property named "example" are references; an
	// example is data.
	item := schemas["billing.Item"].Value
	assert.Equal(t, "#/components/schemas/billing.Tag", item.Properties["example"].Ref)
	assert.Equal(t, map[string]any{"$ref": "not a reference, data"}, item.Example)

	// Security: a scheme equal to the platform's becomes the platform's;
	// another is namespaced; requirements follow.
	assert.Contains(t, doc.Components.SecuritySchemes, "billing.key")
	assert.NotContains(t, doc.Components.SecuritySchemes, "billing.token")
	assert.Equal(t, openapi3.SecurityRequirements{{"billing.key": {}}}, *get.Get.Security)
	assert.Equal(t, openapi3.SecurityRequirements{{"bearer": {}}}, *list.Security, "the document-wide requirement, on the platform's scheme")

	// Tags, one per extension, and no servers of theirs.
	var tags []string
	for _, tg := range doc.Tags {
		tags = append(tags, tg.Name)
	}
	assert.Equal(t, []string{"Billing", "Orders"}, tags)
	assert.Equal(t, "Order service", doc.Tags[1].Description)
	assert.NotContains(t, string(res.JSON), "internal:8080")
}

func TestMergeLeavesOutBadDocuments(t *testing.T) {
	good := []byte(extDoc("n"))
	for _, tt := range []struct {
		name, doc, reason string
	}{
		{"external ref", strings.Replace(extDoc("n"), `"#/components/schemas/Tag"}}}`, `"https://evil.example/x.json#/Tag"}}}`, 1), "external $ref"},
		{"file ref", strings.Replace(extDoc("n"), `{"$ref": "#/components/parameters/Id"}`, `{"$ref": "other.yaml#/Id"}`, 1), "external $ref"},
		{"non-component ref", strings.Replace(extDoc("n"), `{"$ref": "#/components/parameters/Id"}`, `{"$ref": "#/paths/~1items/get"}`, 1), "only references to #/components/"},
		{"dangling ref", strings.Replace(extDoc("n"), `"#/components/schemas/Tag"}}}`, `"#/components/schemas/Nope"}}}`, 1), "load"},
		{"invalid", `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"type":"integer","minimum":"low"}}}}}}}}}`, "load"},
		{"missing info", `{"openapi":"3.0.3","paths":{}}`, "invalid"},
		{"swagger 2", `{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{}}`, "only 3.0.x"},
		{"3.1", `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{}}`, "only 3.0.x"},
		{"not JSON", `openapi: 3.0.3`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"trailing", `{"openapi":"3.0.3"} {}`, "trailing data"},
		{"empty", ``, "no document"},
		{"relative path", `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{"items":{}}}`, "does not start with /"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srcs := []openapi.Source{
				{ID: "bad", Document: []byte(tt.doc)},
				{ID: "good", Document: good},
			}
			res, err := newAggregator(t, &srcs).Document(context.Background())
			require.NoError(t, err)
			assert.Equal(t, []string{"good"}, res.Report.Included, "the rest is unaffected")
			require.Len(t, res.Report.Excluded, 1)
			assert.Equal(t, "bad", res.Report.Excluded[0].ID)
			assert.Contains(t, res.Report.Excluded[0].Reason, tt.reason)
			doc := reload(t, res.JSON)
			assert.Len(t, doc.Paths.Keys(), 3)
			assert.NotContains(t, string(res.JSON), "evil.example")
		})
	}
}

func TestMergeRefusesTakenNames(t *testing.T) {
	// A platform component in an extension's namespace keeps that
	// extension out rather than being overwritten.
	platform := strings.Replace(platformDoc, `"schemas": {"Item"`, `"schemas": {"ext.Item": {"type": "string"}, "Item"`, 1)
	a, err := openapi.New(openapi.Config{Platform: []byte(platform), Logger: discard(),
		Sources: func(context.Context) ([]openapi.Source, error) {
			return []openapi.Source{{ID: "ext", Document: []byte(extDoc("n"))}, {ID: "ext", Document: []byte(extDoc("m"))}}, nil
		}})
	require.NoError(t, err)
	res, err := a.Document(context.Background())
	require.NoError(t, err)
	require.Len(t, res.Report.Excluded, 2)
	assert.Contains(t, res.Report.Excluded[0].Reason, `component "ext.Item" is already in the document`)
	assert.Equal(t, "duplicate id", res.Report.Excluded[1].Reason)
	reload(t, res.JSON)
}

func TestReaggregation(t *testing.T) {
	srcs := []openapi.Source{{ID: "billing", Name: "Billing", Document: []byte(extDoc("amount"))}}
	var reads atomic.Int32
	fail := false
	a, err := openapi.New(openapi.Config{Platform: []byte(platformDoc), Logger: discard(),
		Sources: func(context.Context) ([]openapi.Source, error) {
			reads.Add(1)
			if fail {
				return nil, errors.New("store down")
			}
			return srcs, nil
		}})
	require.NoError(t, err)
	first, err := a.Document(context.Background())
	require.NoError(t, err)
	again, err := a.Document(context.Background())
	require.NoError(t, err)
	assert.Same(t, first, again, "served from the last aggregation until invalidated")
	assert.Equal(t, int32(1), reads.Load())

	a.Invalidate()
	same, err := a.Document(context.Background())
	require.NoError(t, err)
	assert.Equal(t, first.ETag, same.ETag, "the same sources give the same document")

	srcs = append(srcs, openapi.Source{ID: "orders", Document: []byte(extDoc("number"))})
	a.Invalidate()
	changed, err := a.Document(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, first.ETag, changed.ETag)
	assert.Equal(t, []string{"billing", "orders"}, changed.Report.Included)

	fail = true
	a.Invalidate()
	last, err := a.Document(context.Background())
	require.NoError(t, err, "a failed read serves the last document")
	assert.Same(t, changed, last)

	b, err := openapi.New(openapi.Config{Logger: discard(),
		Sources: func(context.Context) ([]openapi.Source, error) { return nil, errors.New("store down") }})
	require.NoError(t, err)
	_, err = b.Document(context.Background())
	assert.Error(t, err, "with nothing to fall back on")
}

func TestNewRefusesBadPlatform(t *testing.T) {
	for name, cfg := range map[string]openapi.Config{
		"not JSON":     {Platform: []byte("{")},
		"invalid":      {Platform: []byte(`{"openapi":"3.0.3","paths":{}}`)},
		"prefix slash": {PathPrefix: "/api/"},
		"prefix rel":   {PathPrefix: "api"},
	} {
		_, err := openapi.New(cfg)
		assert.Error(t, err, name)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte(extDoc("n")))
	f.Add([]byte(`{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{"/a":{"$ref":"#/components/x"}}}`))
	f.Add([]byte(`{"openapi":"3.0.0","components":{"schemas":{"a":{"$ref":"#/components/schemas/a"}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		a, err := openapi.New(openapi.Config{Platform: []byte(platformDoc), Logger: discard(),
			Sources: func(context.Context) ([]openapi.Source, error) {
				return []openapi.Source{{ID: "fuzz", Document: doc}}, nil
			}})
		require.NoError(t, err)
		res, err := a.Document(context.Background())
		require.NoError(t, err)
		var m struct {
			Paths map[string]json.RawMessage `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(res.JSON, &m))
		require.Contains(t, m.Paths, "/api/v1/items", "the platform's paths survive any extension document")
		for k := range m.Paths {
			require.True(t, k == "/api/v1/items" || strings.HasPrefix(k, "/api/v1/extension/fuzz/"), "path %q escaped its namespace", k)
		}
	})
}
