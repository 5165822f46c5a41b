package extension_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
)

func Example() {
	// An extension service.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s, credentials: %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer upstream.Close()

	reg, _ := extension.New(extension.Config{Logger: discard()})

	// The extension registers itself with its own API key.
	key := auth.Principal{Subject: "billing-svc", ClientID: "billing-svc", Kind: auth.KindAPIKey, Identifier: "billing"}
	e, created, _ := reg.Register(context.Background(), key, extension.Extension{
		Prefix: "billing", Name: "Billing", Upstream: upstream.URL + "/v2",
	})
	fmt.Println(e.Prefix, e.Status, created)

	// A caller, authenticated by the host's middleware, goes through the proxy.
	caller := auth.Principal{Subject: "alice", ClientID: "alice", Kind: auth.KindToken, TokenID: "t1"}
	req := httptest.NewRequest("GET", "/extension/billing/invoices", nil)
	req.Header.Set("Authorization", "Bearer alice-token")
	req = req.WithContext(auth.NewContext(req.Context(), caller))
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	fmt.Println(rec.Code, string(body))
	// Output:
	// billing disconnected true
	// 200 GET /v2/invoices, credentials: ""
}

func ExampleRegistry_PublishBundle() {
	ctx := context.Background()
	reg, _ := extension.New(extension.Config{BaseURL: "/api/v1", Logger: discard()})
	key := auth.Principal{Subject: "billing-svc", ClientID: "billing-svc", Kind: auth.KindAPIKey, Identifier: "billing"}
	reg.Register(ctx, key, extension.Extension{Prefix: "billing", Name: "Billing", Upstream: "http://127.0.0.1:9"})

	// The bundle: a zip with index.js at its root.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.js")
	io.WriteString(w, "export default function mount(el) { el.textContent = 'Billing'; }")
	zw.Close()

	b, err := reg.PublishBundle(ctx, key, "billing", "1.0.0", buf.Bytes())
	fmt.Println(b.Version, b.Active, err)

	// What a UI shell loads.
	active, _ := reg.ActiveBundles(ctx, key)
	fmt.Println(active[0].Entry)
	fmt.Println(active[0].ImportMap.Integrity[active[0].Entry] == b.Integrity)
	// Output:
	// 1.0.0 true <nil>
	// /api/v1/extensions/billing/bundle/1.0.0/index.js
	// true
}
