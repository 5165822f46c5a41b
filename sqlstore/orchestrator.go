package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/portico-dev/portico/orchestrator"
)

var orchestratorSchema = []Migration{{
	`CREATE TABLE orchestrator_batches (
		n {{serial}},
		id TEXT NOT NULL UNIQUE,
		idem TEXT UNIQUE,
		status TEXT NOT NULL,
		kind TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE INDEX orchestrator_batches_status ON orchestrator_batches (status, n)`,
	`CREATE TABLE orchestrator_tasks (
		id TEXT PRIMARY KEY,
		batch_id TEXT NOT NULL REFERENCES orchestrator_batches (id) ON DELETE CASCADE,
		idx INTEGER NOT NULL,
		status TEXT NOT NULL,
		timeout_ns BIGINT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE INDEX orchestrator_tasks_batch ON orchestrator_tasks (batch_id, idx)`,
	`CREATE INDEX orchestrator_tasks_status ON orchestrator_tasks (status)`,
	`CREATE TABLE orchestrator_snapshots (
		batch_id TEXT NOT NULL REFERENCES orchestrator_batches (id) ON DELETE CASCADE,
		n {{serial}},
		data TEXT NOT NULL)`,
	`CREATE INDEX orchestrator_snapshots_batch ON orchestrator_snapshots (batch_id, n)`,
	`CREATE TABLE orchestrator_checkpoints (
		n {{serial}},
		id TEXT NOT NULL UNIQUE,
		batch_id TEXT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE TABLE orchestrator_rollbacks (
		n {{serial}},
		id TEXT NOT NULL UNIQUE,
		data TEXT NOT NULL)`,
	`CREATE TABLE orchestrator_events (
		seq BIGINT PRIMARY KEY,
		data TEXT NOT NULL)`,
	`CREATE TABLE orchestrator_webhooks (
		n {{serial}},
		id TEXT NOT NULL UNIQUE,
		data TEXT NOT NULL)`,
	`CREATE TABLE orchestrator_claims (
		batch_id TEXT PRIMARY KEY,
		owner TEXT NOT NULL,
		until BIGINT NOT NULL)`,
	`CREATE INDEX orchestrator_claims_owner ON orchestrator_claims (owner)`,
}}

// DefaultEventRetention is how many events an Orchestrator store keeps
// when its EventRetention is zero.
const DefaultEventRetention = 1_000_000

// Orchestrator is orchestrator.Store over SQL, and an
// orchestrator.Claimer: engines on several instances share it, each
// batch run by the one that claims it.
type Orchestrator struct {
	db *DB
	// EventRetention is how many of the newest events are kept; older
	// ones are deleted as new ones are appended (a subscriber resuming
	// from before them is told of the gap). Zero means
	// DefaultEventRetention. Set it before the store is used.
	EventRetention int
}

var (
	_ orchestrator.Store   = (*Orchestrator)(nil)
	_ orchestrator.Claimer = (*Orchestrator)(nil)
)

// Orchestrator migrates the orchestrator tables and returns the store.
func (db *DB) Orchestrator(ctx context.Context) (*Orchestrator, error) {
	if err := db.Migrate(ctx, "orchestrator", orchestratorSchema); err != nil {
		return nil, err
	}
	return &Orchestrator{db: db}, nil
}

// batchRow keeps the fingerprint, which a Batch's JSON leaves out.
type batchRow struct {
	orchestrator.Batch
	Fingerprint string `json:"fingerprint"`
}

// taskRow keeps the index and the timeout, which a Task's JSON leaves out.
type taskRow struct {
	orchestrator.Task
	Index   int           `json:"index"`
	Timeout time.Duration `json:"timeout_ns"`
}

func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreateBatch implements orchestrator.Store.
func (s *Orchestrator) CreateBatch(ctx context.Context, b orchestrator.Batch, tasks []orchestrator.Task) error {
	data, err := encode(batchRow{b, b.Fingerprint})
	if err != nil {
		return err
	}
	return s.db.tx(ctx, func(c conn) error {
		if err := c.insert(ctx, orchestrator.ErrExists, `INSERT INTO orchestrator_batches (id, idem, status, kind, fingerprint, data)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			b.ID, nullable(b.IdempotencyKey), b.Status, b.Kind, b.Fingerprint, data); err != nil {
			return err
		}
		for _, t := range tasks {
			data, err := encode(taskRow{t, t.Index, t.Timeout})
			if err != nil {
				return err
			}
			if err := c.insert(ctx, orchestrator.ErrExists, `INSERT INTO orchestrator_tasks (id, batch_id, idx, status, timeout_ns, data)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				t.ID, t.BatchID, t.Index, t.Status, int64(t.Timeout), data); err != nil {
				return err
			}
		}
		return nil
	})
}

func scanBatch(s interface{ Scan(...any) error }) (orchestrator.Batch, error) {
	r, err := scanJSON[batchRow](s)
	r.Batch.Fingerprint = r.Fingerprint
	return r.Batch, err
}

func (s *Orchestrator) getBatch(ctx context.Context, where string, arg any) (orchestrator.Batch, error) {
	b, err := scanBatch(s.db.pool().row(ctx, "SELECT data FROM orchestrator_batches WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return b, orchestrator.ErrNotFound
	}
	return b, err
}

// GetBatch implements orchestrator.Store.
func (s *Orchestrator) GetBatch(ctx context.Context, id string) (orchestrator.Batch, error) {
	return s.getBatch(ctx, "id = ?", id)
}

// BatchByKey implements orchestrator.Store.
func (s *Orchestrator) BatchByKey(ctx context.Context, key string) (orchestrator.Batch, error) {
	if key == "" {
		return orchestrator.Batch{}, orchestrator.ErrNotFound
	}
	return s.getBatch(ctx, "idem = ?", key)
}

// UpdateBatch implements orchestrator.Store.
func (s *Orchestrator) UpdateBatch(ctx context.Context, b orchestrator.Batch) error {
	data, err := encode(batchRow{b, b.Fingerprint})
	if err != nil {
		return err
	}
	return s.db.pool().change(ctx, orchestrator.ErrNotFound, "UPDATE orchestrator_batches SET status = ?, data = ? WHERE id = ?", b.Status, data, b.ID)
}

// ListBatches implements orchestrator.Store.
func (s *Orchestrator) ListBatches(ctx context.Context, f orchestrator.BatchFilter) ([]orchestrator.Batch, int, error) {
	w, c := &where{}, s.db.pool()
	w.add(f.Status != "", "status = ?", f.Status)
	w.add(f.Kind != "", "kind = ?", f.Kind)
	total, err := count(ctx, c, "SELECT COUNT(*) FROM orchestrator_batches"+w.String(), w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.query(ctx, "SELECT data FROM orchestrator_batches"+w.String()+" ORDER BY n DESC"+limitClause(f.Limit, f.Offset), w.args...)
	out, err := scanAll(rows, err, func(r *sql.Rows) (orchestrator.Batch, error) { return scanBatch(r) })
	return out, total, err
}

func scanTask(s interface{ Scan(...any) error }) (orchestrator.Task, error) {
	r, err := scanJSON[taskRow](s)
	r.Task.Index, r.Task.Timeout = r.Index, r.Timeout
	return r.Task, err
}

func scanTasks(rows *sql.Rows, err error) ([]orchestrator.Task, error) {
	out, err := scanAll(rows, err, func(r *sql.Rows) (orchestrator.Task, error) { return scanTask(r) })
	return out, err
}

// GetTask implements orchestrator.Store.
func (s *Orchestrator) GetTask(ctx context.Context, id string) (orchestrator.Task, error) {
	t, err := scanTask(s.db.pool().row(ctx, "SELECT data FROM orchestrator_tasks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, orchestrator.ErrNotFound
	}
	return t, err
}

// UpdateTask implements orchestrator.Store.
func (s *Orchestrator) UpdateTask(ctx context.Context, t orchestrator.Task) error {
	data, err := encode(taskRow{t, t.Index, t.Timeout})
	if err != nil {
		return err
	}
	return s.db.pool().change(ctx, orchestrator.ErrNotFound, "UPDATE orchestrator_tasks SET status = ?, data = ? WHERE id = ?", t.Status, data, t.ID)
}

// Tasks implements orchestrator.Store.
func (s *Orchestrator) Tasks(ctx context.Context, batchID string) ([]orchestrator.Task, error) {
	if _, err := s.GetBatch(ctx, batchID); err != nil {
		return nil, err
	}
	rows, err := s.db.pool().query(ctx, "SELECT data FROM orchestrator_tasks WHERE batch_id = ? ORDER BY idx", batchID)
	return scanTasks(rows, err)
}

// ListTasks implements orchestrator.Store.
func (s *Orchestrator) ListTasks(ctx context.Context, f orchestrator.TaskFilter) ([]orchestrator.Task, int, error) {
	w, c := &where{}, s.db.pool()
	w.add(f.BatchID != "", "t.batch_id = ?", f.BatchID)
	w.add(f.Status != "", "t.status = ?", f.Status)
	total, err := count(ctx, c, "SELECT COUNT(*) FROM orchestrator_tasks t"+w.String(), w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.query(ctx, "SELECT t.data FROM orchestrator_tasks t JOIN orchestrator_batches b ON b.id = t.batch_id"+
		w.String()+" ORDER BY b.n DESC, t.idx"+limitClause(f.Limit, f.Offset), w.args...)
	out, err := scanTasks(rows, err)
	return out, total, err
}

// AppendSnapshot implements orchestrator.Store.
func (s *Orchestrator) AppendSnapshot(ctx context.Context, batchID string, sn orchestrator.Snapshot, keep int) error {
	data, err := encode(sn)
	if err != nil {
		return err
	}
	return s.db.tx(ctx, func(c conn) error {
		var one int
		err := c.row(ctx, "SELECT 1 FROM orchestrator_batches WHERE id = ?", batchID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return orchestrator.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, "INSERT INTO orchestrator_snapshots (batch_id, data) VALUES (?, ?)", batchID, data); err != nil {
			return err
		}
		if keep <= 0 {
			return nil
		}
		_, err = c.exec(ctx, `DELETE FROM orchestrator_snapshots WHERE batch_id = ? AND n <= (
			SELECT n FROM orchestrator_snapshots WHERE batch_id = ? ORDER BY n DESC LIMIT 1 OFFSET ?)`, batchID, batchID, keep)
		return err
	})
}

// Snapshots implements orchestrator.Store.
func (s *Orchestrator) Snapshots(ctx context.Context, batchID string) ([]orchestrator.Snapshot, error) {
	if _, err := s.GetBatch(ctx, batchID); err != nil {
		return nil, err
	}
	out, err := listJSON[orchestrator.Snapshot](ctx, s.db.pool(), "SELECT data FROM orchestrator_snapshots WHERE batch_id = ? ORDER BY n", batchID)
	return out, err
}

// CreateCheckpoint implements orchestrator.Store.
func (s *Orchestrator) CreateCheckpoint(ctx context.Context, cp orchestrator.Checkpoint) error {
	data, err := encode(cp)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, orchestrator.ErrExists, "INSERT INTO orchestrator_checkpoints (id, batch_id, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", cp.ID, cp.BatchID, data)
}

// GetCheckpoint implements orchestrator.Store.
func (s *Orchestrator) GetCheckpoint(ctx context.Context, id string) (orchestrator.Checkpoint, error) {
	return getJSON[orchestrator.Checkpoint](ctx, s.db.pool(), orchestrator.ErrNotFound, "SELECT data FROM orchestrator_checkpoints WHERE id = ?", id)
}

// ListCheckpoints implements orchestrator.Store.
func (s *Orchestrator) ListCheckpoints(ctx context.Context, batchID string) ([]orchestrator.Checkpoint, error) {
	w := &where{}
	w.add(batchID != "", "batch_id = ?", batchID)
	out, err := listJSON[orchestrator.Checkpoint](ctx, s.db.pool(), "SELECT data FROM orchestrator_checkpoints"+w.String()+" ORDER BY n", w.args...)
	return out, err
}

// PutRollback implements orchestrator.Store.
func (s *Orchestrator) PutRollback(ctx context.Context, r orchestrator.Rollback) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	_, err = s.db.pool().exec(ctx, `INSERT INTO orchestrator_rollbacks (id, data) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`, r.ID, data)
	return err
}

// GetRollback implements orchestrator.Store.
func (s *Orchestrator) GetRollback(ctx context.Context, id string) (orchestrator.Rollback, error) {
	return getJSON[orchestrator.Rollback](ctx, s.db.pool(), orchestrator.ErrNotFound, "SELECT data FROM orchestrator_rollbacks WHERE id = ?", id)
}

// ListRollbacks implements orchestrator.Store.
func (s *Orchestrator) ListRollbacks(ctx context.Context) ([]orchestrator.Rollback, error) {
	out, err := listJSON[orchestrator.Rollback](ctx, s.db.pool(), "SELECT data FROM orchestrator_rollbacks ORDER BY n")
	return out, err
}

// AppendEvent implements orchestrator.Store. Appends are serialized (an
// advisory lock on PostgreSQL, the write lock on SQLite) and numbered
// inside the lock, so events commit in Seq order: a reader never sees a
// Seq before a lower one that is still to commit.
func (s *Orchestrator) AppendEvent(ctx context.Context, e orchestrator.Event) (uint64, error) {
	var seq uint64
	err := s.db.tx(ctx, func(c conn) error {
		if s.db.dialect == Postgres {
			if _, err := c.exec(ctx, "SELECT pg_advisory_xact_lock(7031996530114418)"); err != nil {
				return err
			}
		}
		var last int64
		if err := c.row(ctx, "SELECT COALESCE(MAX(seq), 0) FROM orchestrator_events").Scan(&last); err != nil {
			return err
		}
		seq = uint64(last) + 1
		e.Seq = seq
		data, err := encode(e)
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, "INSERT INTO orchestrator_events (seq, data) VALUES (?, ?)", int64(seq), data); err != nil {
			return err
		}
		keep := uint64(cmp.Or(s.EventRetention, DefaultEventRetention))
		if seq > keep && seq%256 == 0 {
			// Trimmed now and then, not on every append.
			_, err = c.exec(ctx, "DELETE FROM orchestrator_events WHERE seq <= ?", int64(seq-keep))
		}
		return err
	})
	return seq, err
}

// Events implements orchestrator.Store.
func (s *Orchestrator) Events(ctx context.Context, after uint64, limit int) ([]orchestrator.Event, error) {
	out, err := listJSON[orchestrator.Event](ctx, s.db.pool(), "SELECT data FROM orchestrator_events WHERE seq > ? ORDER BY seq"+limitClause(limit, 0), int64(after))
	return out, err
}

// LastEventSeq implements orchestrator.Store.
func (s *Orchestrator) LastEventSeq(ctx context.Context) (uint64, error) {
	var last int64
	err := s.db.pool().row(ctx, "SELECT COALESCE(MAX(seq), 0) FROM orchestrator_events").Scan(&last)
	return uint64(last), err
}

// CreateWebhook implements orchestrator.Store. The secret is stored as
// given: signing deliveries needs it.
func (s *Orchestrator) CreateWebhook(ctx context.Context, w orchestrator.Webhook) error {
	data, err := encode(w)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, orchestrator.ErrExists, "INSERT INTO orchestrator_webhooks (id, data) VALUES (?, ?) ON CONFLICT DO NOTHING", w.ID, data)
}

// DeleteWebhook implements orchestrator.Store.
func (s *Orchestrator) DeleteWebhook(ctx context.Context, id string) error {
	return s.db.pool().change(ctx, orchestrator.ErrNotFound, "DELETE FROM orchestrator_webhooks WHERE id = ?", id)
}

// ListWebhooks implements orchestrator.Store.
func (s *Orchestrator) ListWebhooks(ctx context.Context) ([]orchestrator.Webhook, error) {
	out, err := listJSON[orchestrator.Webhook](ctx, s.db.pool(), "SELECT data FROM orchestrator_webhooks ORDER BY n")
	return out, err
}

// Claim implements orchestrator.Claimer with one conditional upsert, so
// of two concurrent claims one inserts or updates the row and the other
// matches nothing.
func (s *Orchestrator) Claim(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	n, err := s.db.pool().execN(ctx, `INSERT INTO orchestrator_claims (batch_id, owner, until) VALUES (?, ?, ?)
		ON CONFLICT (batch_id) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE orchestrator_claims.owner = excluded.owner OR orchestrator_claims.until <= ?`,
		id, owner, nanos(until), nanos(now))
	return n == 1, err
}

// RenewClaims implements orchestrator.Claimer.
func (s *Orchestrator) RenewClaims(ctx context.Context, owner string, until time.Time) ([]string, error) {
	var held []string
	err := s.db.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, "UPDATE orchestrator_claims SET until = ? WHERE owner = ?", nanos(until), owner); err != nil {
			return err
		}
		rows, err := c.query(ctx, "SELECT batch_id FROM orchestrator_claims WHERE owner = ? ORDER BY batch_id", owner)
		held, err = scanAll(rows, err, func(r *sql.Rows) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		return err
	})
	return held, err
}

// ReleaseClaim implements orchestrator.Claimer.
func (s *Orchestrator) ReleaseClaim(ctx context.Context, id, owner string) error {
	_, err := s.db.pool().exec(ctx, "DELETE FROM orchestrator_claims WHERE batch_id = ? AND owner = ?", id, owner)
	return err
}
