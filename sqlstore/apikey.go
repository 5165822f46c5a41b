package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/portico-dev/portico/apikey"
)

var apikeySchema = []Migration{{
	`CREATE TABLE apikey_keys (
		id TEXT PRIMARY KEY,
		cid TEXT NOT NULL,
		created BIGINT NOT NULL,
		hash TEXT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE INDEX apikey_keys_cid ON apikey_keys (cid, created, id)`,
	`CREATE INDEX apikey_keys_created ON apikey_keys (created, id)`,
	`CREATE TABLE apikey_credentials (
		user_key TEXT PRIMARY KEY,
		key_id TEXT NOT NULL,
		issued BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		revoked BIGINT NOT NULL,
		data TEXT NOT NULL)`,
	`CREATE INDEX apikey_credentials_key ON apikey_credentials (key_id)`,
	`CREATE INDEX apikey_credentials_expires ON apikey_credentials (expires)`,
}}

// APIKey is apikey.Store over SQL. A key's secret is never stored: its
// SHA-256 hash is, in a column of its own (hex).
type APIKey struct{ db *DB }

var _ apikey.Store = (*APIKey)(nil)

// APIKey migrates the apikey tables and returns the store.
func (db *DB) APIKey(ctx context.Context) (*APIKey, error) {
	if err := db.Migrate(ctx, "apikey", apikeySchema); err != nil {
		return nil, err
	}
	return &APIKey{db: db}, nil
}

const keyColumns = "SELECT data, hash FROM apikey_keys"

func scanKey(s interface{ Scan(...any) error }) (apikey.Key, error) {
	var data, hash string
	if err := s.Scan(&data, &hash); err != nil {
		return apikey.Key{}, err
	}
	k, err := decodeJSON[apikey.Key](data)
	if err != nil {
		return k, err
	}
	k.Hash, err = hex.DecodeString(hash)
	return k, err
}

// CreateKey implements apikey.Store.
func (s *APIKey) CreateKey(ctx context.Context, k apikey.Key) error {
	data, err := encode(k)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, apikey.ErrExists, `INSERT INTO apikey_keys (id, cid, created, hash, data)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, k.ID, k.ClientID, nanos(k.CreatedAt), hex.EncodeToString(k.Hash), data)
}

func (s *APIKey) getKey(ctx context.Context, c conn, id, lock string) (apikey.Key, error) {
	k, err := scanKey(c.row(ctx, keyColumns+" WHERE id = ?"+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, apikey.ErrNotFound
	}
	return k, err
}

// GetKey implements apikey.Store.
func (s *APIKey) GetKey(ctx context.Context, id string) (apikey.Key, error) {
	return s.getKey(ctx, s.db.pool(), id, "")
}

// UpdateKey implements apikey.Store.
func (s *APIKey) UpdateKey(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	var out apikey.Key
	err := s.db.tx(ctx, func(c conn) error {
		k, err := s.getKey(ctx, c, id, c.forUpdate())
		if err != nil {
			return err
		}
		if err := fn(&k); err != nil {
			return err
		}
		out = k
		data, err := encode(k)
		if err != nil {
			return err
		}
		_, err = c.exec(ctx, "UPDATE apikey_keys SET data = ? WHERE id = ?", data, id)
		return err
	})
	return out, err
}

// TouchKey implements apikey.Store.
func (s *APIKey) TouchKey(ctx context.Context, id string, at time.Time, ip string) error {
	_, err := s.UpdateKey(ctx, id, func(k *apikey.Key) error {
		k.LastUsedAt, k.LastUsedIP = at, ip
		return nil
	})
	return err
}

// DeleteKey implements apikey.Store.
func (s *APIKey) DeleteKey(ctx context.Context, id string) error {
	return s.db.pool().change(ctx, apikey.ErrNotFound, "DELETE FROM apikey_keys WHERE id = ?", id)
}

// ListKeys implements apikey.Store.
func (s *APIKey) ListKeys(ctx context.Context, f apikey.KeyFilter) ([]apikey.Key, int, error) {
	w, c := &where{}, s.db.pool()
	w.add(f.ClientID != "", "cid = ?", f.ClientID)
	total, err := count(ctx, c, "SELECT COUNT(*) FROM apikey_keys"+w.String(), w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.query(ctx, keyColumns+w.String()+" ORDER BY created, id"+limitClause(f.Limit, f.Offset), w.args...)
	out, err := scanAll(rows, err, func(r *sql.Rows) (apikey.Key, error) { return scanKey(r) })
	return out, total, err
}

// AddCredential implements apikey.Store.
func (s *APIKey) AddCredential(ctx context.Context, cr apikey.Credential) error {
	data, err := encode(cr)
	if err != nil {
		return err
	}
	return s.db.pool().insert(ctx, apikey.ErrExists, `INSERT INTO apikey_credentials (user_key, key_id, issued, expires, revoked, data)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		cr.UserKey, cr.KeyID, nanos(cr.IssuedAt), nanos(cr.ExpiresAt), nanos(cr.RevokedAt), data)
}

// RevokeCredentials implements apikey.Store.
func (s *APIKey) RevokeCredentials(ctx context.Context, keyID string, at time.Time) (int, error) {
	n := 0
	err := s.db.tx(ctx, func(c conn) error {
		creds, err := listJSON[apikey.Credential](ctx, c, "SELECT data FROM apikey_credentials WHERE key_id = ? AND revoked = ?"+c.forUpdate(),
			keyID, nanos(time.Time{}))
		if err != nil {
			return err
		}
		for _, cr := range creds {
			cr.RevokedAt = at
			data, err := encode(cr)
			if err != nil {
				return err
			}
			if _, err := c.exec(ctx, "UPDATE apikey_credentials SET revoked = ?, data = ? WHERE user_key = ?", nanos(at), data, cr.UserKey); err != nil {
				return err
			}
		}
		n = len(creds)
		return nil
	})
	return n, err
}

// RevokedCredentials implements apikey.Store.
func (s *APIKey) RevokedCredentials(ctx context.Context, now time.Time) ([]apikey.Credential, error) {
	return listJSON[apikey.Credential](ctx, s.db.pool(), "SELECT data FROM apikey_credentials WHERE revoked <> ? AND expires > ? ORDER BY user_key",
		nanos(time.Time{}), nanos(now))
}

// DeleteExpiredCredentials implements apikey.Store.
func (s *APIKey) DeleteExpiredCredentials(ctx context.Context, now time.Time) (int, error) {
	return s.db.pool().execN(ctx, "DELETE FROM apikey_credentials WHERE expires <= ?", nanos(now))
}
