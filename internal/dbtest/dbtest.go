// Package dbtest gives tests fresh databases: a SQLite file in a temporary
// directory, and a database of its own on the PostgreSQL server named by
// PORTICO_TEST_POSTGRES, which .ci/run starts. Without that variable the
// PostgreSQL tests skip, saying so loudly.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portico-dev/portico/sqlstore"
)

// EnvPostgres names the admin URL of the PostgreSQL server the tests use.
const EnvPostgres = "PORTICO_TEST_POSTGRES"

// SQLite opens a new SQLite database in t's temporary directory.
func SQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "portico.db"))
}

// PostgresURL creates an empty database on the test server and returns its
// URL; the database is dropped when t ends. It skips t when there is no
// server.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Skip("PostgreSQL SKIPPED: " + EnvPostgres + " is not set; .ci/run starts a server and sets it")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "portico_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("PostgreSQL at %s: create database: %v", u.Host, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}

// Postgres opens a new, empty PostgreSQL database; see PostgresURL.
func Postgres(t testing.TB) *sqlstore.DB {
	t.Helper()
	return open(t, PostgresURL(t))
}

func open(t testing.TB, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), dsn, sqlstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn once per SQL dialect, as subtests "sqlite" and "postgres",
// with a function that opens a fresh database of that dialect.
func Each(t *testing.T, fn func(t *testing.T, open func(t testing.TB) *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres) })
}
