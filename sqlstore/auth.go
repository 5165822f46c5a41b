package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/internal/httpapi"
)

var authSchema = []Migration{{
	`CREATE TABLE auth_tokens (
		tid TEXT PRIMARY KEY,
		cid TEXT NOT NULL,
		family TEXT NOT NULL,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE INDEX auth_tokens_cid ON auth_tokens (cid)`,
	`CREATE INDEX auth_tokens_family ON auth_tokens (family)`,
	`CREATE INDEX auth_tokens_created ON auth_tokens (created, tid)`,
	`CREATE INDEX auth_tokens_expires ON auth_tokens (expires)`,
	`CREATE TABLE auth_refresh (
		hash TEXT PRIMARY KEY,
		family TEXT NOT NULL,
		cid TEXT NOT NULL,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		used_at BIGINT,
		data TEXT NOT NULL)`,
	`CREATE INDEX auth_refresh_family ON auth_refresh (family)`,
	`CREATE INDEX auth_refresh_cid ON auth_refresh (cid)`,
	`CREATE INDEX auth_refresh_expires ON auth_refresh (expires)`,
	`CREATE TABLE auth_clients (
		id TEXT PRIMARY KEY,
		data TEXT NOT NULL)`,
}}

// Auth is auth.Store over SQL: the token DB, refresh tokens (by hash only)
// and clients. Deleting token records announces a TopicTokens change, so
// the other instances drop those tokens from their verified-token caches.
type Auth struct{ db *DB }

var _ auth.Store = (*Auth)(nil)

// TokenChange is the Data of a TopicTokens change: the filter whose
// records were deleted, for auth.Service.Invalidate.
type TokenChange struct {
	TokenID      string    `json:"tid,omitempty"`
	ClientID     string    `json:"cid,omitempty"`
	Family       string    `json:"fam,omitempty"`
	IssuedBefore time.Time `json:"before,omitzero"`
	ExpiredAt    time.Time `json:"expired,omitzero"`
}

// Filter is the change as an auth.TokenFilter.
func (t TokenChange) Filter() auth.TokenFilter {
	return auth.TokenFilter{TokenID: t.TokenID, ClientID: t.ClientID, Family: t.Family, IssuedBefore: t.IssuedBefore, ExpiredAt: t.ExpiredAt}
}

// Auth migrates the auth tables and returns the store.
func (db *DB) Auth(ctx context.Context) (*Auth, error) {
	if err := db.Migrate(ctx, "auth", authSchema); err != nil {
		return nil, err
	}
	return &Auth{db: db}, nil
}

// CreateToken implements auth.TokenStore.
func (s *Auth) CreateToken(ctx context.Context, rec auth.TokenRecord) error {
	data, err := encode(rec)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, auth.ErrExists, `INSERT INTO auth_tokens (tid, cid, family, created, expires, data)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		rec.TokenID, rec.ClientID, rec.Family, nanos(rec.Created), nanos(rec.Expires), data)
}

// GetToken implements auth.TokenStore.
func (s *Auth) GetToken(ctx context.Context, tid string) (auth.TokenRecord, error) {
	return getJSON[auth.TokenRecord](ctx, s.db.pool(), auth.ErrNotFound, "SELECT data FROM auth_tokens WHERE tid = ?", tid)
}

func tokenWhere(f auth.TokenFilter) *where {
	w := &where{}
	w.add(f.TokenID != "", "tid = ?", f.TokenID)
	w.add(f.ClientID != "", "cid = ?", f.ClientID)
	w.add(f.Family != "", "family = ?", f.Family)
	w.add(!f.IssuedBefore.IsZero(), "created < ?", nanos(f.IssuedBefore))
	w.add(!f.ExpiredAt.IsZero(), "expires <= ?", nanos(f.ExpiredAt))
	return w
}

// ListTokens implements auth.TokenStore.
func (s *Auth) ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, int, error) {
	w, c := tokenWhere(f), s.db.pool()
	total, err := count(ctx, c, "SELECT COUNT(*) FROM auth_tokens"+w.String(), w.args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := listJSON[auth.TokenRecord](ctx, c, "SELECT data FROM auth_tokens"+w.String()+
		" ORDER BY created, tid"+limitClause(f.Limit, f.Offset), w.args...)
	return out, total, err
}

// DeleteTokens implements auth.TokenStore.
func (s *Auth) DeleteTokens(ctx context.Context, f auth.TokenFilter) (int, error) {
	w := tokenWhere(f)
	var n int
	err := s.db.tx(ctx, func(c conn) (err error) {
		if n, err = c.execN(ctx, "DELETE FROM auth_tokens"+w.String(), w.args...); err != nil || n == 0 {
			return err
		}
		return c.record(ctx, TopicTokens, TokenChange{f.TokenID, f.ClientID, f.Family, f.IssuedBefore, f.ExpiredAt})
	})
	return n, err
}

// CreateRefresh implements auth.RefreshStore.
func (s *Auth) CreateRefresh(ctx context.Context, rec auth.RefreshRecord) error {
	used := sql.NullInt64{Int64: nanos(rec.UsedAt), Valid: !rec.UsedAt.IsZero()}
	rec.UsedAt = time.Time{} // kept in used_at alone, which UseRefresh sets
	data, err := encode(rec)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, auth.ErrExists, `INSERT INTO auth_refresh (hash, family, cid, created, expires, used_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		rec.Hash, rec.Family, rec.ClientID, nanos(rec.Created), nanos(rec.Expires), used, data)
}

// UseRefresh implements auth.RefreshStore: one conditional UPDATE decides
// which of two concurrent uses is the first.
func (s *Auth) UseRefresh(ctx context.Context, hash string, at time.Time) (auth.RefreshRecord, error) {
	c := s.db.pool()
	first, err := c.execN(ctx, "UPDATE auth_refresh SET used_at = ? WHERE hash = ? AND used_at IS NULL", at.UnixNano(), hash)
	if err != nil {
		return auth.RefreshRecord{}, err
	}
	var data string
	var used int64
	err = c.row(ctx, "SELECT data, used_at FROM auth_refresh WHERE hash = ?", hash).Scan(&data, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.RefreshRecord{}, auth.ErrNotFound
	}
	if err != nil {
		return auth.RefreshRecord{}, err
	}
	rec, err := decodeJSON[auth.RefreshRecord](data)
	if err != nil {
		return rec, err
	}
	rec.UsedAt = time.Unix(0, used).In(at.Location())
	if first == 0 {
		return rec, auth.ErrRefreshReused
	}
	rec.UsedAt = at
	return rec, nil
}

// DeleteRefresh implements auth.RefreshStore.
func (s *Auth) DeleteRefresh(ctx context.Context, f auth.RefreshFilter) (int, error) {
	w := &where{}
	w.add(f.Family != "", "family = ?", f.Family)
	w.add(f.ClientID != "", "cid = ?", f.ClientID)
	w.add(!f.IssuedBefore.IsZero(), "created < ?", nanos(f.IssuedBefore))
	w.add(!f.ExpiredAt.IsZero(), "expires <= ?", nanos(f.ExpiredAt))
	return s.db.pool().execN(ctx, "DELETE FROM auth_refresh"+w.String(), w.args...)
}

// clientRow stores every field of a client: auth.Client's own JSON is its
// public view, without the password hash and MFA state.
type clientRow auth.Client

// CreateClient implements auth.ClientStore.
func (s *Auth) CreateClient(ctx context.Context, cl auth.Client) error {
	data, err := encode(clientRow(cl))
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, auth.ErrExists, "INSERT INTO auth_clients (id, data) VALUES (?, ?) ON CONFLICT DO NOTHING", cl.ID, data)
}

// GetClient implements auth.ClientStore.
func (s *Auth) GetClient(ctx context.Context, id string) (auth.Client, error) {
	cl, err := getJSON[clientRow](ctx, s.db.pool(), auth.ErrNotFound, "SELECT data FROM auth_clients WHERE id = ?", id)
	return auth.Client(cl), err
}

// UpdateClient implements auth.ClientStore.
func (s *Auth) UpdateClient(ctx context.Context, id string, fn func(*auth.Client) error) (auth.Client, error) {
	cl, err := update(ctx, s.db, auth.ErrNotFound, "SELECT data FROM auth_clients WHERE id = ?", id, func(cl *clientRow) error {
		return fn((*auth.Client)(cl))
	}, func(c conn, cl clientRow) error {
		cl.ID = id
		data, err := encode(cl)
		if err != nil {
			return err
		}
		_, err = c.exec(ctx, "UPDATE auth_clients SET data = ? WHERE id = ?", data, id)
		return err
	})
	return auth.Client(cl), err
}

// DeleteClient implements auth.ClientStore.
func (s *Auth) DeleteClient(ctx context.Context, id string) error {
	return s.db.pool().change(ctx, auth.ErrNotFound, "DELETE FROM auth_clients WHERE id = ?", id)
}

// ListClients implements auth.ClientStore. A role filter is applied to
// the decoded clients: roles are a list inside the record.
func (s *Auth) ListClients(ctx context.Context, f auth.ClientFilter) ([]auth.Client, int, error) {
	c, page := s.db.pool(), ""
	total, err := count(ctx, c, "SELECT COUNT(*) FROM auth_clients")
	if err != nil {
		return nil, 0, err
	}
	if f.Role == "" {
		page = limitClause(f.Limit, f.Offset)
	}
	rows, err := listJSON[clientRow](ctx, c, "SELECT data FROM auth_clients ORDER BY id"+page)
	if err != nil {
		return nil, 0, err
	}
	out := make([]auth.Client, 0, len(rows))
	for _, cl := range rows {
		if f.Role == "" || auth.Client(cl).HasRole(f.Role) {
			out = append(out, auth.Client(cl))
		}
	}
	if f.Role == "" {
		return out, total, nil
	}
	return httpapi.Window(out, f.Limit, f.Offset), len(out), nil
}
