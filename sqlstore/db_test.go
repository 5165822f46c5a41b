package sqlstore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/dbtest"
	"github.com/portico-dev/portico/sqlstore"
)

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		db := open(t)
		v1 := []sqlstore.Migration{{`CREATE TABLE m_items (id TEXT PRIMARY KEY)`}}
		v2 := append(v1, sqlstore.Migration{`ALTER TABLE m_items ADD COLUMN note TEXT NOT NULL DEFAULT ''`})

		v, err := db.SchemaVersion(ctx, "m")
		require.NoError(t, err)
		assert.Zero(t, v, "an empty database has no version")

		// Two instances migrating an empty database at once.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { assert.NoError(t, db.Migrate(ctx, "m", v1)) })
		}
		wg.Wait()
		v, err = db.SchemaVersion(ctx, "m")
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		_, err = db.SQL().ExecContext(ctx, "INSERT INTO m_items (id) VALUES ('kept')")
		require.NoError(t, err)

		// An existing database moves forward, keeping its rows.
		require.NoError(t, db.Migrate(ctx, "m", v2))
		require.NoError(t, db.Migrate(ctx, "m", v2), "applied steps are not applied again")
		var note string
		require.NoError(t, db.SQL().QueryRowContext(ctx, "SELECT note FROM m_items WHERE id = 'kept'").Scan(&note))
		v, _ = db.SchemaVersion(ctx, "m")
		assert.Equal(t, 2, v)

		// An older build refuses a newer schema.
		require.ErrorIs(t, db.Migrate(ctx, "m", v1), sqlstore.ErrSchemaTooNew)

		// A failing step leaves the version and the schema as they were.
		bad := append(v2, sqlstore.Migration{`CREATE TABLE m_other (id TEXT)`, `THIS IS NOT SQL`})
		require.Error(t, db.Migrate(ctx, "m", bad))
		v, _ = db.SchemaVersion(ctx, "m")
		assert.Equal(t, 2, v)
		_, err = db.SQL().ExecContext(ctx, "SELECT * FROM m_other")
		require.Error(t, err, "the failed step's first statement was rolled back")

		// Every store migrates on an existing database of its own again.
		_, err = db.Auth(ctx)
		require.NoError(t, err)
		_, err = db.Auth(ctx)
		require.NoError(t, err)
	})
}

func TestMigrationBySeveralOpenersOfOneSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			db, err := sqlstore.Open(ctx, path, sqlstore.Config{})
			if !assert.NoError(t, err) {
				return
			}
			defer db.Close()
			_, err = db.Orchestrator(ctx)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{"", "file:x.db?mode=ro", "mysql://host/db", "sqlite:"} {
		_, err := sqlstore.Open(ctx, dsn, sqlstore.Config{})
		assert.Error(t, err, "dsn %q", dsn)
	}
	_, err := sqlstore.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", sqlstore.Config{})
	assert.Error(t, err, "an unreachable server")
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "a.db"), sqlstore.Config{})
	require.NoError(t, err)
	assert.Equal(t, sqlstore.SQLite, db.Dialect())
	var mode string
	require.NoError(t, db.SQL().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var fk int
	require.NoError(t, db.SQL().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	assert.Equal(t, 1, fk)
	require.NoError(t, db.Close())
}

// A revocation through one DB reaches the listeners of another on the
// same database (PostgreSQL), or of the same DB (SQLite); a write that
// rolls back announces nothing.
func TestChangesReachListeners(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, writer, reader *sqlstore.DB) {
		changes := make(chan sqlstore.Change, 16)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- reader.Listen(lctx, func(c sqlstore.Change) { changes <- c }) }()
		defer func() { cancel(); require.NoError(t, <-done) }()
		require.Equal(t, sqlstore.TopicReset, (<-changes).Topic, "listening starts with a reset")

		s, err := writer.Auth(ctx)
		require.NoError(t, err)
		now := time.Now()
		rec := auth.TokenRecord{TokenID: "t1", ClientID: "alice", Created: now, Expires: now.Add(time.Hour)}
		require.NoError(t, s.CreateToken(ctx, rec))
		n, err := s.DeleteTokens(ctx, auth.TokenFilter{ClientID: "bob"})
		require.NoError(t, err)
		require.Zero(t, n, "deleting nothing announces nothing")
		_, err = s.DeleteTokens(ctx, auth.TokenFilter{ClientID: "alice"})
		require.NoError(t, err)
		select {
		case c := <-changes:
			require.Equal(t, sqlstore.TopicTokens, c.Topic)
			var tc sqlstore.TokenChange
			require.NoError(t, json.Unmarshal(c.Data, &tc))
			assert.Equal(t, auth.TokenFilter{ClientID: "alice"}, tc.Filter())
		case <-time.After(10 * time.Second):
			t.Fatal("no change arrived")
		}
		r, err := writer.RBAC(ctx)
		require.NoError(t, err)
		require.Error(t, r.DeleteRole(ctx, "missing"), "a failed write")
		require.NoError(t, r.PutAssignment(ctx, rbacAssignment("ops")))
		assert.Equal(t, sqlstore.TopicRBAC, (<-changes).Topic, "the failed write announced nothing before the next one")
	}
	t.Run("sqlite", func(t *testing.T) {
		db := dbtest.SQLite(t)
		check(t, db, db)
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.PostgresURL(t)
		open := func() *sqlstore.DB {
			db, err := sqlstore.Open(ctx, url, sqlstore.Config{})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}
		check(t, open(), open())
	})
}

// A listener whose connection is cut reports it lost, and a reset once it
// listens again; changes after that reach it.
func TestListenerReconnects(t *testing.T) {
	ctx := context.Background()
	url := dbtest.PostgresURL(t)
	db, err := sqlstore.Open(ctx, url, sqlstore.Config{})
	require.NoError(t, err)
	defer db.Close()
	changes := make(chan sqlstore.Change, 16)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- db.Listen(lctx, func(c sqlstore.Change) { changes <- c }) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	require.Equal(t, sqlstore.TopicReset, (<-changes).Topic)

	_, err = db.SQL().ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'portico-listener' AND datname = current_database()")
	require.NoError(t, err)
	assert.Equal(t, sqlstore.TopicLost, (<-changes).Topic, "the cut is reported")
	assert.Equal(t, sqlstore.TopicReset, (<-changes).Topic, "and the new connection")

	other, err := sqlstore.Open(ctx, url, sqlstore.Config{})
	require.NoError(t, err)
	defer other.Close()
	r, err := other.RBAC(ctx)
	require.NoError(t, err)
	require.NoError(t, r.PutAssignment(ctx, rbacAssignment("ops")))
	assert.Equal(t, sqlstore.TopicRBAC, (<-changes).Topic, "changes arrive again")
}
