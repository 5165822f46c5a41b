package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/extension"
	"github.com/portico-dev/portico/orchestrator"
	"github.com/portico-dev/portico/ratelimit"
	"github.com/portico-dev/portico/rbac"
	"github.com/portico-dev/portico/sqlstore"
)

// stores are the platform's stores: all in memory (-memory), or all in one
// SQL database (-db, by default a SQLite file in the data directory).
type stores struct {
	name string       // "memory", "sqlite" or "postgres", for the log and /info
	db   *sqlstore.DB // nil in memory
	auth auth.Store
	rbac rbac.Store
	keys apikey.Store
	ext  extension.Store
	orch orchestrator.Store
}

// openStores opens the stores cfg asks for, migrating the database.
func openStores(ctx context.Context, cfg config, log *slog.Logger) (*stores, error) {
	if cfg.memory {
		log.Warn("state is kept in memory and lost when the server stops; only the signing and nkey seeds persist")
		return &stores{
			name: "memory", auth: auth.NewMemoryStore(), rbac: rbac.NewMemoryStore(), keys: apikey.NewMemoryStore(),
			ext: extension.NewMemoryStore(), orch: orchestrator.NewMemoryStore(),
		}, nil
	}
	dsn := cfg.db
	if dsn == "" {
		dsn = filepath.Join(cfg.data, "portico.db")
	}
	db, err := sqlstore.Open(ctx, dsn, sqlstore.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	s := &stores{name: db.Dialect().String(), db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s database: %w", s.name, err)
	}
	log.Info("state is kept in a database", "dialect", s.name, "db", redact(dsn))
	return s, nil
}

func (s *stores) migrate(ctx context.Context) (err error) {
	if s.auth, err = s.db.Auth(ctx); err != nil {
		return err
	}
	if s.rbac, err = s.db.RBAC(ctx); err != nil {
		return err
	}
	if s.keys, err = s.db.APIKey(ctx); err != nil {
		return err
	}
	if s.ext, err = s.db.Extension(ctx); err != nil {
		return err
	}
	s.orch, err = s.db.Orchestrator(ctx)
	return err
}

// rateLimit returns the store for the rate limiter's buckets: the
// database's for -rate-store=db, and by default on PostgreSQL, where
// several instances share one database and so should share one limit; nil
// (the limiter's own memory store, per instance) otherwise. A SQLite file
// is one process's, and a take there costs a durable commit.
func (s *stores) rateLimit(ctx context.Context, choice string) (ratelimit.Store, error) {
	if choice == "memory" || choice == "" && (s.db == nil || s.db.Dialect() != sqlstore.Postgres) {
		return nil, nil
	}
	return s.db.RateLimit(ctx)
}

func (s *stores) close() {
	if s.db != nil {
		s.db.Close()
	}
}

// redact drops a URL's password, for the log.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil || !strings.Contains(dsn, "://") {
		return dsn
	}
	return u.Redacted()
}

// followChanges applies what other instances sharing the database change
// to this instance's caches, until ctx is done: revoked tokens leave the
// verified-token cache, roles and assignments are reloaded, extensions'
// cached routes and settings are refreshed, and the API document is
// rebuilt. A reset (the listener connected or reconnected, so changes in
// between may have been missed) drops all of them.
//
// following is closed once the listener listens.
func (p *platform) followChanges(ctx context.Context, db *sqlstore.DB, following chan struct{}) error {
	once := sync.OnceFunc(func() { close(following) })
	return db.Listen(ctx, func(ch sqlstore.Change) {
		if ch.Topic == sqlstore.TopicReset {
			defer once()
		}
		if err := p.applyChange(ctx, ch); err != nil && ctx.Err() == nil {
			p.log.Error("applying a change from another instance", "topic", ch.Topic, "err", err)
		}
	})
}

func (p *platform) applyChange(ctx context.Context, ch sqlstore.Change) error {
	switch ch.Topic {
	case sqlstore.TopicReset, sqlstore.TopicLost:
		p.auth.Invalidate(auth.TokenFilter{})
		p.docs.Invalidate()
		return p.rbac.Reload(ctx)
	case sqlstore.TopicTokens:
		var tc sqlstore.TokenChange
		if err := json.Unmarshal(ch.Data, &tc); err != nil {
			p.auth.Invalidate(auth.TokenFilter{}) // unreadable: drop everything
			return err
		}
		p.auth.Invalidate(tc.Filter())
	case sqlstore.TopicRBAC:
		return p.rbac.Reload(ctx)
	case sqlstore.TopicExtension:
		var prefix string
		if len(ch.Data) > 0 {
			if err := json.Unmarshal(ch.Data, &prefix); err != nil {
				return err
			}
		}
		p.docs.Invalidate()
		return p.ext.Changed(ctx, prefix)
	}
	return nil
}
