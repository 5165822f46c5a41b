package auth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRevocationCheck measures the per-request revocation verdict on
// a warm token. Revocation removes a token's cache entry before it returns,
// so the verdict is the cache probe (with its expiry and key-version
// checks), here among 10,000 cached tokens.
func BenchmarkRevocationCheck(b *testing.B) {
	c := newTokenCache(20000)
	now := time.Now()
	exp := now.Add(time.Hour).UnixNano()
	for i := range 10000 {
		c.put(fmt.Sprintf("token-%05d", i), &cacheEntry{exp: exp, keyVer: 1}, 0, now)
	}
	tok := "token-04242"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.get(tok, now, 1); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkRevocationCheckStore is the verdict on a cache miss: the token
// DB lookup in the memory store.
func BenchmarkRevocationCheckStore(b *testing.B) {
	s := NewMemoryStore()
	ctx := context.Background()
	for i := range 10000 {
		_ = s.CreateToken(ctx, TokenRecord{TokenID: fmt.Sprintf("t%05d", i), ClientID: "c", Roles: []string{"r"}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetToken(ctx, "t04242"); err != nil {
			b.Fatal(err)
		}
	}
}
