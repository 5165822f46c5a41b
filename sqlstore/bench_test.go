package sqlstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/dbtest"
	"github.com/portico-dev/portico/sqlstore"
)

func benchDialects(b *testing.B, fn func(b *testing.B, open func(testing.TB) *sqlstore.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, dbtest.SQLite) })
	b.Run("postgres", func(b *testing.B) { fn(b, dbtest.Postgres) })
}

// benchAuth returns a service over a SQL token DB, and a live token.
func benchAuth(b *testing.B, db *sqlstore.DB, cacheSize int) (*auth.Service, string) {
	ctx := context.Background()
	store, err := db.Auth(ctx)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Store: store, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: "alice-password-1", Roles: []string{"reader"}}); err != nil {
		b.Fatal(err)
	}
	g, err := svc.Login(ctx, auth.Credentials{Username: "alice", Password: "alice-password-1"})
	if err != nil {
		b.Fatal(err)
	}
	return svc, g.Token
}

// BenchmarkAuthenticate is the auth middleware on one request with the
// token DB in SQL: cold (no verified-token cache: JWT parse, Ed25519
// verify and a token DB read per request) and warm (the cache answers).
func BenchmarkAuthenticate(b *testing.B) {
	benchDialects(b, func(b *testing.B, open func(testing.TB) *sqlstore.DB) {
		for _, c := range []struct {
			name  string
			cache int
		}{{"cold", -1}, {"warm", 0}} {
			b.Run(c.name, func(b *testing.B) {
				svc, tok := benchAuth(b, open(b), c.cache)
				h := svc.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest("GET", "/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					w := httptest.NewRecorder()
					for pb.Next() {
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Fatalf("status %d", w.Code)
						}
					}
				})
			})
		}
	})
}

// BenchmarkLogin is password logins in parallel with the default Argon2id
// parameters, each writing an access and a refresh record: the hash
// dominates, the store's share is the difference to the memory store.
func BenchmarkLogin(b *testing.B) {
	run := func(b *testing.B, store auth.Store) {
		svc, err := auth.New(auth.Config{Store: store})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := svc.CreateClient(ctx, auth.NewClient{ID: "alice", Password: "alice-password-1"}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := svc.Login(ctx, auth.Credentials{Username: "alice", Password: "alice-password-1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("memory", func(b *testing.B) { run(b, auth.NewMemoryStore()) })
	benchDialects(b, func(b *testing.B, open func(testing.TB) *sqlstore.DB) {
		store, err := open(b).Auth(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		run(b, store)
	})
}
