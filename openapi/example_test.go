package openapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"

	"github.com/portico-dev/portico/openapi"
)

func Example() {
	billing := `{"openapi":"3.0.3","info":{"title":"Billing","version":"1"},
		"paths":{"/invoices":{"get":{"operationId":"list","responses":{"200":{"description":"ok",
			"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Invoice"}}}}}}}},
		"components":{"schemas":{"Invoice":{"type":"object"}}}}`
	agg, _ := openapi.New(openapi.Config{
		Sources: func(context.Context) ([]openapi.Source, error) {
			return []openapi.Source{
				{ID: "billing", Name: "Billing", Document: []byte(billing)},
				{ID: "broken", Document: []byte(`{"openapi":"3.0.3","paths":{"/x":{"$ref":"https://example.com/x.json"}}}`)},
			}, nil
		},
		Logger: discard(),
	})
	res, _ := agg.Document(context.Background())

	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	_ = json.Unmarshal(res.JSON, &doc)
	fmt.Println(slices.Sorted(maps.Keys(doc.Paths)))
	fmt.Println(slices.Sorted(maps.Keys(doc.Components.Schemas)))
	fmt.Println(res.Report.Included)
	fmt.Println(res.Report.Excluded[0].ID, "-", res.Report.Excluded[0].Reason)
	// Output:
	// [/api/v1/extension/billing/invoices]
	// [billing.Invoice]
	// [billing]
	// broken - external $ref "https://example.com/x.json" refused
}

func ExampleAggregator_ValidateRequests() {
	ext := `{"openapi":"3.0.3","info":{"title":"Billing","version":"1"},"paths":{"/invoices":{"get":{
		"parameters":[{"name":"limit","in":"query","schema":{"type":"integer"}}],"responses":{"200":{"description":"ok"}}}}}}`
	docs, _ := openapi.New(openapi.Config{
		Sources: func(context.Context) ([]openapi.Source, error) {
			return []openapi.Source{{ID: "billing", Name: "Billing", Document: []byte(ext)}}, nil
		},
	})
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "proxied") })
	h := docs.ValidateRequests(proxy)
	for _, target := range []string{"/api/v1/extension/billing/invoices?limit=10", "/api/v1/extension/billing/invoices?limit=ten"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 400
}
