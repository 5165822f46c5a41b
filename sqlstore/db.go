package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect is the SQL flavour of a DB.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// Config configures Open. The zero value is ready to use.
type Config struct {
	// Logger receives the listener's reconnects; nil means slog.Default().
	Logger *slog.Logger
	// BusyTimeout is how long a SQLite statement waits for another
	// connection's (or process's) write lock; zero means 10 s.
	BusyTimeout time.Duration
	// MaxOpenConns bounds the connection pool; zero means 16 for SQLite
	// and 32 for PostgreSQL.
	MaxOpenConns int
	// AckTimeout bounds how long a PostgreSQL write that announces a
	// change (a revocation, a role change) waits for every listening
	// instance to acknowledge it; zero means 2 s. See Listen.
	AckTimeout time.Duration
}

// DB is a database the stores of this package share: a *sql.DB, its
// dialect, and the change notifications that keep several instances'
// caches honest. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	dsn     string // PostgreSQL: for the listener's own connection
	log     *slog.Logger

	mu         sync.Mutex
	listeners  map[int]*localListener // SQLite: in-process change delivery
	nextID     int
	listening  bool                  // PostgreSQL: Listen's connection listens
	acks       map[string]*ackWaiter // PostgreSQL: writers awaiting acknowledgements, by change id
	own        map[string]bool       // PostgreSQL: ids of changes made through this DB, in flight
	ackTimeout time.Duration
}

// Open opens the database dsn names and checks that it answers:
//
//   - "postgres://…" or "postgresql://…": PostgreSQL through pgx, for
//     several instances sharing one database.
//   - anything else is a SQLite file path (an optional "sqlite:" or
//     "file:" prefix is dropped; query parameters are not accepted). The
//     file is created if missing, in WAL mode with synchronous=FULL, a
//     busy timeout and foreign keys on, and every transaction takes the
//     write lock at BEGIN, so two writers queue instead of deadlocking.
//
// The caller closes the DB. The stores create their tables on first use
// (see Migrate).
func Open(ctx context.Context, dsn string, cfg Config) (*DB, error) {
	if cfg.BusyTimeout < 0 || cfg.MaxOpenConns < 0 {
		return nil, errors.New("sqlstore: BusyTimeout and MaxOpenConns must not be negative")
	}
	if cfg.AckTimeout < 0 {
		return nil, errors.New("sqlstore: AckTimeout must not be negative")
	}
	db := &DB{log: cfg.Logger, listeners: map[int]*localListener{}, acks: map[string]*ackWaiter{}, own: map[string]bool{}, ackTimeout: cmp.Or(cfg.AckTimeout, 2*time.Second)}
	if db.log == nil {
		db.log = slog.Default()
	}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.dialect, db.dsn = Postgres, dsn
		db.sql, err = sql.Open("pgx", dsn)
		cfg.MaxOpenConns = cmp.Or(cfg.MaxOpenConns, 32)
	default:
		db.dialect = SQLite
		var path string
		if path, err = sqlitePath(dsn); err != nil {
			return nil, err
		}
		// Created owner-only: it holds password hashes and MFA secrets.
		// SQLite gives the -wal and -shm files the database's mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
		f.Close()
		q := url.Values{
			"_busy_timeout": {strconv.FormatInt(cmp.Or(cfg.BusyTimeout, 10*time.Second).Milliseconds(), 10)},
			"_journal_mode": {"WAL"},
			"_synchronous":  {"FULL"},
			"_foreign_keys": {"1"},
			"_txlock":       {"immediate"},
		}
		db.sql, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		cfg.MaxOpenConns = cmp.Or(cfg.MaxOpenConns, 16)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	db.sql.SetMaxOpenConns(cfg.MaxOpenConns)
	db.sql.SetMaxIdleConns(cfg.MaxOpenConns)
	if err := db.connect(ctx, cmp.Or(cfg.BusyTimeout, 10*time.Second)); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", db.dialect, err)
	}
	return db, nil
}

// connect opens the first connection. Several processes opening a new
// SQLite file at once race to switch it to WAL, which needs the file to
// themselves; SQLite answers the losers SQLITE_BUSY at once rather than
// through the busy timeout (waiting could deadlock), so connect tries
// again until the busy timeout has passed.
func (db *DB) connect(ctx context.Context, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := db.sql.PingContext(ctx)
		if err == nil || db.dialect != SQLite || !sqliteBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY or one of its
// extended forms.
func sqliteBusy(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == 5
}

// sqlitePath turns a SQLite DSN into a clean file path.
func sqlitePath(dsn string) (string, error) {
	p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	switch {
	case p == "":
		return "", errors.New("sqlstore: empty SQLite path")
	case strings.ContainsAny(p, "?#"):
		return "", fmt.Errorf("sqlstore: SQLite path %q: query parameters are not accepted", p)
	case strings.Contains(dsn, "://"):
		return "", fmt.Errorf("sqlstore: %q is neither a postgres:// URL nor a SQLite path", dsn)
	}
	return filepath.Clean(p), nil
}

// Dialect reports the database's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the underlying *sql.DB, for a host's own tables.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// rebind turns the ? placeholders the stores write into PostgreSQL's $n.
// The stores' statements never hold a literal question mark.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs statements with the DB's placeholders against the pool or a
// transaction.
type conn struct {
	db *DB
	q  querier
	tx *txState // nil outside a transaction
}

type txState struct {
	changes   []Change // recorded in the transaction
	listeners int      // PostgreSQL: the listening instances, which acknowledge them
}

func (db *DB) pool() conn { return conn{db: db, q: db.sql} }

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.db.rebind(query), args...)
}

// execN runs a statement and returns how many rows it changed.
func (c conn) execN(ctx context.Context, query string, args ...any) (int, error) {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.db.rebind(query), args...)
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.db.rebind(query), args...)
}

// forUpdate is the row-locking suffix of a SELECT inside a transaction:
// SQLite's transactions already hold the database's write lock.
func (c conn) forUpdate() string {
	if c.db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// tx runs fn in a transaction, committing if it returns nil. On SQLite the
// transaction holds the write lock from its start (BEGIN IMMEDIATE).
func (db *DB) tx(ctx context.Context, fn func(c conn) error) error {
	t, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	c := conn{db: db, q: t, tx: &txState{}}
	if err := fn(c); err != nil {
		t.Rollback()
		db.forget(c.tx)
		return err
	}
	if err := t.Commit(); err != nil {
		db.forget(c.tx)
		return err
	}
	db.committed(ctx, c.tx)
	return nil
}

// scanAll reads every row of rows with scan.
func scanAll[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{} // an empty list, never nil
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// limitClause pages a query; limit 0 means no limit.
func limitClause(limit, offset int) string {
	switch {
	case limit > 0:
		return " LIMIT " + strconv.Itoa(limit) + " OFFSET " + strconv.Itoa(max(offset, 0))
	case offset > 0:
		// SQLite needs a LIMIT before an OFFSET; -1 is its "no limit",
		// PostgreSQL's is ALL.
		return " LIMIT " + "9223372036854775807" + " OFFSET " + strconv.Itoa(offset)
	}
	return ""
}
