package extension_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
)

// BenchmarkProxy measures the proxy against a direct call to the same
// upstream, in two settings:
//
//   - handler/*: a handler served in process. "direct" calls the upstream
//     itself with an http.Client and copies the answer (with a reused
//     buffer); "proxy" is the extension proxy (route lookup, identity
//     assertion, rewrite, header stripping, copy). The difference is
//     the proxy's own cost.
//
//   - http/*: a client over loopback. "direct" calls the upstream;
//     "proxy" calls the platform, which proxies: one more HTTP hop.
//
//     go test -run '^$' -bench Proxy -benchmem -count 5 ./extension/
func BenchmarkProxy(b *testing.B) {
	upstream := httptest.NewServer(benchUpstream())
	defer upstream.Close()
	reg, err := extension.New(extension.Config{
		IsAdmin: isAdmin, Logger: discard(),
		Identity: func(_ context.Context, p auth.Principal, audience string) (string, time.Time, error) {
			return "assertion", time.Now().Add(time.Minute), nil
		},
	})
	require.NoError(b, err)
	_, _, err = reg.Register(context.Background(), principals["admin"], extension.Extension{Prefix: "bench", Name: "b", Upstream: upstream.URL})
	require.NoError(b, err)
	alice := principals["alice"]
	proxy := reg.Handler()
	ct := http.DefaultTransport.(*http.Transport).Clone()
	ct.ResponseHeaderTimeout = 30 * time.Second // as the proxy's
	client := &http.Client{Transport: ct}
	buf := make([]byte, 32<<10)
	direct := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(upstream.URL + "/items/42?" + r.URL.RawQuery)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.CopyBuffer(w, resp.Body, buf)
	})

	for _, tt := range []struct {
		name string
		h    http.Handler
	}{{"direct", direct}, {"proxy", proxy}} {
		b.Run("handler/"+tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/extension/bench/items/42?x=1", nil)
				req = req.WithContext(auth.NewContext(req.Context(), alice))
				rec := httptest.NewRecorder()
				tt.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code, rec.Body.String())
				}
			}
		})
	}

	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), alice)))
	}))
	defer front.Close()
	for _, tt := range []struct{ name, url string }{
		{"direct", upstream.URL + "/items/42?x=1"}, {"proxy", front.URL + "/extension/bench/items/42?x=1"},
	} {
		b.Run("http/"+tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(tt.url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}

func benchUpstream() http.Handler {
	body := []byte(`{"id":42,"name":"item","tags":["a","b","c"]}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}
