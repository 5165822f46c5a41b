package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Change tells the instances sharing a database that something their
// caches may hold has changed. The stores of this package record one in
// the same transaction as the write, so it is announced exactly when the
// write commits.
type Change struct {
	// Topic is what changed: one of the Topic constants.
	Topic string `json:"t"`
	// Data details it; its shape is the topic's.
	Data json.RawMessage `json:"d,omitempty"`
}

// The topics.
const (
	// TopicReset: changes may have been missed (the listener connected
	// or reconnected); drop every cache.
	TopicReset = "reset"
	// TopicTokens: token records were deleted; Data is a TokenChange.
	TopicTokens = "auth.tokens"
	// TopicRBAC: a role or an assignment changed.
	TopicRBAC = "rbac"
	// TopicExtension: an extension, its bundles, the settings or the
	// licence changed; Data is the extension's prefix as a JSON string,
	// or absent for settings and licence.
	TopicExtension = "extension"
)

// channel is the PostgreSQL notification channel.
const channel = "portico_changes"

// record queues a change in the transaction c runs. On PostgreSQL it is a
// NOTIFY, delivered to every listening session when the transaction
// commits and never if it rolls back. On SQLite it reaches this process's
// listeners after the commit.
func (c conn) record(ctx context.Context, topic string, data any) error {
	ch := Change{Topic: topic}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		ch.Data = b
	}
	if c.tx == nil {
		panic("sqlstore: change recorded outside a transaction")
	}
	if c.db.dialect == Postgres {
		payload, err := json.Marshal(ch)
		if err != nil {
			return err
		}
		_, err = c.exec(ctx, "SELECT pg_notify(?, ?)", channel, string(payload))
		return err
	}
	c.tx.changes = append(c.tx.changes, ch)
	return nil
}

// localListener receives a SQLite DB's changes. Delivery never blocks
// the writer (which may hold locks the listener's fn takes): a listener
// whose buffer is full misses changes and is told with a reset.
type localListener struct {
	ch     chan Change
	missed atomic.Bool
}

// deliver hands committed SQLite changes to this process's listeners.
func (db *DB) deliver(changes []Change) {
	if len(changes) == 0 {
		return
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, l := range db.listeners {
		for _, ch := range changes {
			select {
			case l.ch <- ch:
			default:
				l.missed.Store(true)
			}
		}
	}
}

// listenLocal serves a SQLite listener until ctx is done.
func (db *DB) listenLocal(ctx context.Context, fn func(Change)) {
	l := &localListener{ch: make(chan Change, 1024)}
	db.mu.Lock()
	id := db.nextID
	db.nextID++
	db.listeners[id] = l
	db.mu.Unlock()
	defer func() {
		db.mu.Lock()
		delete(db.listeners, id)
		db.mu.Unlock()
	}()
	fn(Change{Topic: TopicReset})
	for {
		select {
		case <-ctx.Done():
			return
		case ch := <-l.ch:
			if l.missed.Swap(false) {
				fn(Change{Topic: TopicReset})
			}
			fn(ch)
		}
	}
}

// Listen calls fn with every change any instance commits to the database,
// one call at a time, until ctx is done; then it returns nil. fn must not
// block for long.
//
// On PostgreSQL it holds a connection of its own that LISTENs. The first
// call of fn is a TopicReset once that connection listens, and after a
// lost connection, once a new one listens: changes in between were not
// seen, so every cache must be dropped. Until then the caller should not
// trust its caches; the reset is how it learns it can again.
//
// SQLite has no notifications between processes: fn sees the changes made
// through this DB, which is what a single instance needs. Two processes
// must not share a SQLite file while either caches (see the package doc).
func (db *DB) Listen(ctx context.Context, fn func(Change)) error {
	if db.dialect != Postgres {
		db.listenLocal(ctx, fn)
		return nil
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listen(ctx, fn)
		if ctx.Err() != nil {
			break
		}
		// Whatever was cached while listening may now be stale.
		fn(Change{Topic: TopicReset})
		db.log.WarnContext(ctx, "sqlstore: change listener lost its connection; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (db *DB) listen(ctx context.Context, fn func(Change)) error {
	pc, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		return err
	}
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	fn(Change{Topic: TopicReset})
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ch Change
		if err := json.Unmarshal([]byte(n.Payload), &ch); err != nil {
			return fmt.Errorf("sqlstore: malformed change notification: %w", err)
		}
		fn(ch)
	}
}
