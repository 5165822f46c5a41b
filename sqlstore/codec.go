package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"time"
)

// Records are stored as JSON in a data column, beside the columns the
// stores filter, order and constrain by; those are derived from the same
// record on every write, so the two never disagree.

// nanos is t as an ordered integer column: Unix nanoseconds, clamped to
// int64, the zero time lowest of all (as time.Time orders it).
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encode marshals a record for its data column.
func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// scanJSON reads one data column into a T.
func scanJSON[T any](s interface{ Scan(...any) error }) (T, error) {
	var data string
	if err := s.Scan(&data); err != nil {
		var zero T
		return zero, err
	}
	return decodeJSON[T](data)
}

func decodeJSON[T any](data string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(data), &v)
	return v, err
}

// getJSON reads the record a query selects; notFound if there is none.
func getJSON[T any](ctx context.Context, c conn, notFound error, query string, args ...any) (T, error) {
	v, err := scanJSON[T](c.row(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound
	}
	return v, err
}

// listJSON reads every record a query selects.
func listJSON[T any](ctx context.Context, c conn, query string, args ...any) ([]T, error) {
	rows, err := c.query(ctx, query, args...)
	return scanAll(rows, err, func(r *sql.Rows) (T, error) { return scanJSON[T](r) })
}

// count runs a COUNT query.
func count(ctx context.Context, c conn, query string, args ...any) (int, error) {
	var n int
	err := c.row(ctx, query, args...).Scan(&n)
	return n, err
}

// insert runs an INSERT … ON CONFLICT DO NOTHING, returning errExists
// when it inserted nothing.
func (c conn) insert(ctx context.Context, errExists error, query string, args ...any) error {
	return errIfNone(c.execN(ctx, query, args...))(errExists)
}

// change runs an UPDATE or DELETE of one row, returning notFound when it
// matched none.
func (c conn) change(ctx context.Context, notFound error, query string, args ...any) error {
	return errIfNone(c.execN(ctx, query, args...))(notFound)
}

func errIfNone(n int, err error) func(error) error {
	return func(none error) error {
		if err == nil && n == 0 {
			return none
		}
		return err
	}
}

// where builds a WHERE clause from conditions that hold.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(ok bool, cond string, args ...any) {
	if ok {
		w.conds = append(w.conds, cond)
		w.args = append(w.args, args...)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	s := " WHERE " + w.conds[0]
	for _, c := range w.conds[1:] {
		s += " AND " + c
	}
	return s
}

// update is the shape of every read-modify-write: lock the row, decode
// it, let fn change it, and write it back with its derived columns.
func update[T any](ctx context.Context, db *DB, notFound error, sel string, key any, fn func(*T) error, write func(c conn, v T) error) (T, error) {
	var out T
	err := db.tx(ctx, func(c conn) error {
		v, err := getJSON[T](ctx, c, notFound, sel+c.forUpdate(), key)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		out = v
		return write(c, v)
	})
	return out, err
}
