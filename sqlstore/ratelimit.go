package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/portico-dev/portico/ratelimit"
)

var ratelimitSchema = []Migration{{
	// id is bucketID's hash of the bucket name and the client key; full_at
	// (Unix nanoseconds) is when the bucket is full again, so Sweep is an
	// index range.
	`CREATE TABLE ratelimit_buckets (
		id {{blob}} PRIMARY KEY,
		tokens DOUBLE PRECISION NOT NULL,
		updated BIGINT NOT NULL,
		rate DOUBLE PRECISION NOT NULL,
		burst BIGINT NOT NULL,
		full_at BIGINT NOT NULL)`,
	`CREATE INDEX ratelimit_buckets_full_at ON ratelimit_buckets (full_at)`,
}}

// RateLimit is ratelimit.Store over SQL: the buckets live in the database,
// so every instance sharing it enforces one limit between them, where
// each instance's MemoryStore would allow the full limit on its own.
//
// A Take is one transaction that locks the rows of its buckets, decides
// with ratelimit.TakeBuckets (the memory store's exact semantics), and
// writes them back. Concurrent takes on one bucket therefore queue on its
// row: a single hot bucket (a Global policy, or one busy client) allows
// at most one decision per transaction round trip, a few thousand a
// second on PostgreSQL. Per-client buckets spread over rows and do not
// queue on each other. A bucket is stored under a SHA-256 of its name and
// key, so keys of any length or bytes fit, and client addresses are not
// stored as written.
//
// There is no cap on the number of buckets: Sweep, which Limiter.Run
// calls, deletes the full ones through an index, and a full bucket is
// worth nothing (a new one starts full).
type RateLimit struct {
	db    *DB
	swept atomic.Uint64
}

var (
	_ ratelimit.Store    = (*RateLimit)(nil)
	_ ratelimit.Sweeper  = (*RateLimit)(nil)
	_ ratelimit.Reporter = (*RateLimit)(nil)
)

// RateLimit migrates the rate-limit table and returns the store.
func (db *DB) RateLimit(ctx context.Context) (*RateLimit, error) {
	if err := db.Migrate(ctx, "ratelimit", ratelimitSchema); err != nil {
		return nil, err
	}
	return &RateLimit{db: db}, nil
}

// bucketID names a hit's row: the SHA-256 of the bucket name, length
// first so that no two (bucket, key) pairs run together, and the key.
func bucketID(h *ratelimit.Hit) string {
	d := sha256.New()
	d.Write(binary.AppendUvarint(nil, uint64(len(h.Bucket))))
	d.Write([]byte(h.Bucket))
	d.Write([]byte(h.Key))
	return string(d.Sum(nil))
}

const bucketColumns = "(id, tokens, updated, rate, burst, full_at)"

// Take implements ratelimit.Store.
func (s *RateLimit) Take(ctx context.Context, now time.Time, hits []ratelimit.Hit, levels []ratelimit.Level) (int, error) {
	if len(levels) < len(hits) {
		return -1, errors.New("sqlstore: Take needs a level for every hit")
	}
	for i := range hits {
		if err := hits[i].Validate(); err != nil {
			return -1, err
		}
	}
	if len(hits) == 0 {
		return -1, nil
	}
	ids := make([]string, len(hits))
	first := make(map[string]*ratelimit.Hit, len(hits)) // each bucket's first hit
	for i := range hits {
		ids[i] = bucketID(&hits[i])
		if _, ok := first[ids[i]]; !ok {
			first[ids[i]] = &hits[i]
		}
	}
	// Rows are locked in id order, so that two takes over the same
	// buckets cannot deadlock.
	order := slices.Sorted(maps.Keys(first))
	denied := -1
	err := s.db.tx(ctx, func(c conn) error {
		held, err := s.lock(ctx, c, now, order, first)
		if err != nil {
			return err
		}
		loaded := make(map[string]ratelimit.Bucket, len(held))
		for id, b := range held {
			loaded[id] = *b
		}
		buckets := make([]*ratelimit.Bucket, len(hits))
		for i, id := range ids {
			buckets[i] = held[id]
		}
		if denied, err = ratelimit.TakeBuckets(now, hits, buckets, levels); err != nil {
			return err
		}
		var changed []string
		for _, id := range order {
			if b, was := held[id], loaded[id]; !sameBucket(b, &was) {
				changed = append(changed, id)
			}
		}
		return s.write(ctx, c, changed, held)
	})
	if err != nil {
		return -1, err
	}
	return denied, nil
}

// lock returns the buckets of ids (sorted), locked for the rest of the
// transaction. One upsert does it: a bucket not held yet is inserted full,
// shaped by its first hit, and an existing one is touched without change,
// which locks its row (PostgreSQL; SQLite's transaction holds the
// database's write lock already); either way the row comes back.
func (s *RateLimit) lock(ctx context.Context, c conn, now time.Time, ids []string, first map[string]*ratelimit.Hit) (map[string]*ratelimit.Bucket, error) {
	args := make([]any, 0, 6*len(ids))
	for _, id := range ids {
		h := first[id]
		args = append(args, []byte(id), float64(h.Burst), nanos(now), float64(h.Rate), h.Burst, nanos(now))
	}
	returning, extra := " RETURNING id, tokens, updated, rate, burst", []any(nil)
	if s.db.dialect == Postgres {
		// The transaction commits without waiting for its WAL to reach
		// disk, the round trip saved by setting it here rather than in a
		// statement of its own. A crash of PostgreSQL can then lose the
		// last fraction of a second of takes, which gives those clients
		// a few tokens back; it cannot corrupt anything, and it spares
		// every request a disk flush.
		returning += ", set_config('synchronous_commit', 'off', true)"
		extra = []any{new(string)}
	}
	rows, err := c.query(ctx, "INSERT INTO ratelimit_buckets "+bucketColumns+" VALUES "+valueRows(len(ids), 6)+
		" ON CONFLICT (id) DO UPDATE SET tokens = ratelimit_buckets.tokens"+returning, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := make(map[string]*ratelimit.Bucket, len(ids))
	for rows.Next() {
		var (
			id             []byte
			tokens, r      float64
			updated, burst int64
		)
		if err := rows.Scan(append([]any{&id, &tokens, &updated, &r, &burst}, extra...)...); err != nil {
			return nil, err
		}
		held[string(id)] = &ratelimit.Bucket{Tokens: tokens, Updated: time.Unix(0, updated), Rate: rate.Limit(r), Burst: int(burst)}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(held) != len(ids) {
		return nil, errors.New("sqlstore: rate-limit buckets missing after their upsert")
	}
	return held, nil
}

// write stores the buckets of ids, whose rows the transaction holds.
func (s *RateLimit) write(ctx context.Context, c conn, ids []string, buckets map[string]*ratelimit.Bucket) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 6*len(ids))
	for _, id := range ids {
		b := buckets[id]
		args = append(args, []byte(id), b.Tokens, nanos(b.Updated), float64(b.Rate), b.Burst, nanos(b.FullAt()))
	}
	_, err := c.exec(ctx, "INSERT INTO ratelimit_buckets "+bucketColumns+" VALUES "+valueRows(len(ids), 6)+
		" ON CONFLICT (id) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated,"+
		" rate = excluded.rate, burst = excluded.burst, full_at = excluded.full_at", args...)
	return err
}

func sameBucket(a, b *ratelimit.Bucket) bool {
	return a.Tokens == b.Tokens && a.Updated.Equal(b.Updated) && a.Rate == b.Rate && a.Burst == b.Burst
}

// valueRows is n rows of a VALUES list, each of width placeholders.
func valueRows(n, width int) string {
	row := "(" + strings.Repeat("?, ", width-1) + "?)"
	return strings.Repeat(row+", ", n-1) + row
}

// sweepBatch bounds the rows one Sweep statement deletes, so that a sweep
// never holds many locks at once.
const sweepBatch = 1000

// Sweep implements ratelimit.Sweeper: it deletes the buckets full at now,
// in batches. On PostgreSQL it skips rows a Take holds, which are not
// full, so a sweep never waits for a take nor a take for a sweep.
func (s *RateLimit) Sweep(ctx context.Context, now time.Time) (int, error) {
	c := s.db.pool()
	skip := ""
	if s.db.dialect == Postgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	// The outer condition is checked again on the row as it is when
	// deleted, in case a take refilled it after the inner select.
	query := `DELETE FROM ratelimit_buckets WHERE full_at <= ? AND id IN
		(SELECT id FROM ratelimit_buckets WHERE full_at <= ? LIMIT ` + strconv.Itoa(sweepBatch) + skip + `)`
	removed := 0
	for {
		n, err := c.execN(ctx, query, nanos(now), nanos(now))
		removed += n
		s.swept.Add(uint64(n))
		if err != nil || n < sweepBatch {
			return removed, err
		}
	}
}

// StoreStats implements ratelimit.Reporter. Keys counts the table's rows;
// Swept counts what this instance's sweeps deleted. There is no cap, so
// MaxKeys and Displaced are zero.
func (s *RateLimit) StoreStats(ctx context.Context) (ratelimit.StoreStats, error) {
	n, err := count(ctx, s.db.pool(), "SELECT COUNT(*) FROM ratelimit_buckets")
	return ratelimit.StoreStats{Keys: n, Swept: s.swept.Load()}, err
}
