package apikey_test

import (
	"net/http/httptest"
	"testing"

	"github.com/portico-dev/portico/apikey"
)

// BenchmarkAuthenticate measures authenticating a request by API key: parse
// and checksum, the key lookup, the constant-time hash compare and the
// owner lookup, on the memory stores. Run:
//
//	go test ./apikey -run X -bench Authenticate -benchmem
func BenchmarkAuthenticate(b *testing.B) {
	h := newHarness(b)
	_, secret := h.create("alice", apikey.NewKey{Name: "bench"})
	for _, header := range []string{"Authorization", "apiKey"} {
		b.Run(header, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			if header == "Authorization" {
				req.Header.Set(header, "Bearer "+secret)
			} else {
				req.Header.Set(header, secret)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.keys.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("apiKey", secret)
			for pb.Next() {
				if _, err := h.keys.Authenticate(req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
