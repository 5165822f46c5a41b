package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// ID identifies the change, for acknowledgements.
	ID string `json:"id,omitempty"`
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
	// TopicLost: the listener lost its connection; changes go unseen
	// until the TopicReset that follows a reconnect. Drop every cache.
	TopicLost = "lost"
	// TopicTokens: token records were deleted; Data is a TokenChange.
	TopicTokens = "auth.tokens"
	// TopicRBAC: a role or an assignment changed.
	TopicRBAC = "rbac"
	// TopicExtension: an extension, its bundles, the settings or the
	// licence changed; Data is the extension's prefix as a JSON string,
	// or absent for settings and licence.
	TopicExtension = "extension"
)

// The PostgreSQL notification channels, and the application_name of the
// listeners' connections, by which a writer counts them.
const (
	channel         = "portico_changes"
	ackChannel      = "portico_acks"
	listenerAppName = "portico-listener"
)

// record queues a change in the transaction c runs. On PostgreSQL it is a
// NOTIFY, delivered to every listening session when the transaction
// commits and never if it rolls back. On SQLite it reaches this process's
// listeners after the commit.
func (c conn) record(ctx context.Context, topic string, data any) error {
	ch := Change{ID: randomID(), Topic: topic}
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
		if _, err = c.exec(ctx, "SELECT pg_notify(?, ?)", channel, string(payload)); err != nil {
			return err
		}
		c.db.mu.Lock()
		c.db.own[ch.ID] = true
		c.db.mu.Unlock()
		if c.tx.changes == nil {
			// The instances that will apply the change: the writer
			// waits for each to acknowledge it after the commit.
			err := c.row(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()",
				listenerAppName).Scan(&c.tx.listeners)
			if err != nil {
				return err
			}
		}
	}
	c.tx.changes = append(c.tx.changes, ch)
	return nil
}

// announce runs fn in a transaction that records a change of topic
// (with data, unless nil) once fn succeeds.
func (db *DB) announce(ctx context.Context, topic string, data any, fn func(c conn) error) error {
	return db.tx(ctx, func(c conn) error {
		if err := fn(c); err != nil {
			return err
		}
		return c.record(ctx, topic, data)
	})
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// committed follows a commit that recorded changes: on SQLite it hands
// them to this process's listeners; on PostgreSQL it waits until every
// instance listening when the transaction ran has applied them (its
// listener acknowledges each change after applying it), so that when a
// revocation returns, no instance's cache still holds what it revoked. It
// waits at most Config.AckTimeout, and only while this DB listens itself
// (the acknowledgements arrive on its listener's connection).
func (db *DB) committed(ctx context.Context, tx *txState) {
	if db.dialect != Postgres {
		db.deliver(tx.changes)
		return
	}
	defer db.forget(tx)
	if tx.listeners == 0 || len(tx.changes) == 0 {
		return
	}
	last := tx.changes[len(tx.changes)-1].ID // acknowledged in order, so the last one covers all
	db.mu.Lock()
	if !db.listening {
		db.mu.Unlock()
		return
	}
	w := &ackWaiter{need: tx.listeners, done: make(chan struct{})}
	db.acks[last] = w
	db.mu.Unlock()
	t := time.NewTimer(db.ackTimeout)
	defer t.Stop()
	select {
	case <-w.done:
	case <-t.C:
		db.log.WarnContext(ctx, "sqlstore: not every instance acknowledged a change in time; their caches may lag", "waited", db.ackTimeout)
	case <-ctx.Done():
	}
	db.mu.Lock()
	delete(db.acks, last)
	db.mu.Unlock()
}

// forget drops a transaction's changes from the DB's own.
func (db *DB) forget(tx *txState) {
	if len(tx.changes) == 0 {
		return
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, ch := range tx.changes {
		delete(db.own, ch.ID)
	}
}

type ackWaiter struct {
	need int
	done chan struct{}
}

// acked counts an acknowledgement of change id.
func (db *DB) acked(id string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if w := db.acks[id]; w != nil {
		w.need--
		if w.need == 0 {
			close(w.done)
		}
	}
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
// call of fn is a TopicReset once that connection listens. A lost
// connection is a TopicLost, and the new connection's listening another
// TopicReset: changes in between are not seen, so every cache must be
// dropped both times, and between the two the caller should not trust
// its caches. Only a TopicReset means the listener listens.
//
// On PostgreSQL fn does not see the changes made through this DB: the
// services that made them keep their own caches current. A write that
// announces a change returns once every listening instance has applied it
// (see Config.AckTimeout).
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
		fn(Change{Topic: TopicLost})
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
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = listenerAppName
	pc, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+channel+"; LISTEN "+ackChannel); err != nil {
		return err
	}
	db.mu.Lock()
	db.listening = true
	db.mu.Unlock()
	defer func() {
		db.mu.Lock()
		db.listening = false
		db.mu.Unlock()
	}()
	fn(Change{Topic: TopicReset})
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == ackChannel {
			db.acked(n.Payload)
			continue
		}
		var ch Change
		if err := json.Unmarshal([]byte(n.Payload), &ch); err != nil {
			return fmt.Errorf("sqlstore: malformed change notification: %w", err)
		}
		db.mu.Lock()
		own := db.own[ch.ID]
		db.mu.Unlock()
		if !own {
			// This process's own changes are applied by the services
			// that made them, which may still hold locks fn needs.
			fn(ch)
		}
		if ch.ID != "" {
			if _, err := pc.Exec(ctx, "SELECT pg_notify($1, $2)", ackChannel, ch.ID); err != nil {
				return err
			}
		}
	}
}
