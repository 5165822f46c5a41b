package openapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/openapi"
)

// benchDoc is an extension document with n paths, each with a GET and a
// POST on schemas of its own.
func benchDoc(n int) []byte {
	var paths, schemas []string
	for i := range n {
		paths = append(paths, fmt.Sprintf(`"/things%d/{id}": {
  "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
  "get": {"operationId": "get%d", "responses": {"200": {"description": "ok",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing%d"}}}}}},
  "post": {"operationId": "post%d", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing%d"}}}},
    "responses": {"201": {"description": "created"}}}}`, i, i, i, i, i))
		schemas = append(schemas, fmt.Sprintf(`"Thing%d": {"type": "object", "required": ["name"], "properties": {
  "name": {"type": "string", "maxLength": 64}, "count": {"type": "integer", "minimum": 0},
  "tags": {"type": "array", "items": {"type": "string"}}}}`, i))
	}
	return []byte(`{"openapi": "3.0.3", "info": {"title": "bench", "version": "1"},
"components": {"schemas": {` + strings.Join(schemas, ",") + `}},
"paths": {` + strings.Join(paths, ",") + `}}`)
}

// BenchmarkAggregate builds the document from 100 extension documents of
// 50 paths each: cold (every document prepared) and after one extension
// changed (the other 99 from the cache).
//
//	go test -run '^$' -bench Aggregate -benchmem ./openapi/
func BenchmarkAggregate(b *testing.B) {
	srcs := make([]openapi.Source, 100)
	for i := range srcs {
		srcs[i] = openapi.Source{ID: fmt.Sprintf("ext%03d", i), Name: fmt.Sprintf("Extension %d", i), Document: benchDoc(50)}
	}
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a := newAggregator(b, &srcs)
			res, err := a.Document(context.Background())
			require.NoError(b, err)
			if len(res.Report.Included) != 100 {
				b.Fatal(res.Report.Excluded)
			}
		}
	})
	b.Run("one-changed", func(b *testing.B) {
		a := newAggregator(b, &srcs)
		_, err := a.Document(context.Background())
		require.NoError(b, err)
		mine := append([]openapi.Source(nil), srcs...)
		a2, err := openapi.New(openapi.Config{Platform: []byte(platformDoc), Logger: discard(),
			Sources: func(context.Context) ([]openapi.Source, error) { return mine, nil }})
		require.NoError(b, err)
		_, err = a2.Document(context.Background())
		require.NoError(b, err)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			n++
			mine[0].Description = fmt.Sprint(n)
			a2.Invalidate()
			res, err := a2.Document(context.Background())
			require.NoError(b, err)
			if len(res.Report.Included) != 100 {
				b.Fatal(res.Report.Excluded)
			}
		}
	})
}
