package sqlstore

import (
	"context"

	"github.com/portico-dev/portico/rbac"
)

var rbacSchema = []Migration{{
	`CREATE TABLE rbac_roles (name TEXT PRIMARY KEY, data TEXT NOT NULL)`,
	`CREATE TABLE rbac_assignments (grp TEXT PRIMARY KEY, data TEXT NOT NULL)`,
}}

// RBAC is rbac.Store over SQL. Every write announces a TopicRBAC change,
// on which the other instances' Authorizers reload.
type RBAC struct{ db *DB }

var _ rbac.Store = (*RBAC)(nil)

// RBAC migrates the rbac tables and returns the store.
func (db *DB) RBAC(ctx context.Context) (*RBAC, error) {
	if err := db.Migrate(ctx, "rbac", rbacSchema); err != nil {
		return nil, err
	}
	return &RBAC{db: db}, nil
}

// write runs one statement that must change a row and announces the
// change.
func (s *RBAC) write(ctx context.Context, none error, query string, args ...any) error {
	return s.db.announce(ctx, TopicRBAC, nil, func(c conn) error { return c.change(ctx, none, query, args...) })
}

// writeRecord is write with a record's JSON as the last argument.
func (s *RBAC) writeRecord(ctx context.Context, none error, query string, key string, v any) error {
	data, err := encode(v)
	if err != nil {
		return err
	}
	return s.write(ctx, none, query, key, data)
}

// CreateRole implements rbac.Store.
func (s *RBAC) CreateRole(ctx context.Context, r rbac.Role) error {
	return s.writeRecord(ctx, rbac.ErrExists, "INSERT INTO rbac_roles (name, data) VALUES (?, ?) ON CONFLICT DO NOTHING", r.Name, r)
}

// GetRole implements rbac.Store.
func (s *RBAC) GetRole(ctx context.Context, name string) (rbac.Role, error) {
	return getJSON[rbac.Role](ctx, s.db.pool(), rbac.ErrNotFound, "SELECT data FROM rbac_roles WHERE name = ?", name)
}

// UpdateRole implements rbac.Store.
func (s *RBAC) UpdateRole(ctx context.Context, r rbac.Role) error {
	// Written as an upsert that never inserts, so the key comes first.
	return s.writeRecord(ctx, rbac.ErrNotFound, `UPDATE rbac_roles SET data = b.data FROM (SELECT ? AS name, ? AS data) AS b
		WHERE rbac_roles.name = b.name`, r.Name, r)
}

// DeleteRole implements rbac.Store.
func (s *RBAC) DeleteRole(ctx context.Context, name string) error {
	return s.write(ctx, rbac.ErrNotFound, "DELETE FROM rbac_roles WHERE name = ?", name)
}

// ListRoles implements rbac.Store.
func (s *RBAC) ListRoles(ctx context.Context) ([]rbac.Role, error) {
	out, err := listJSON[rbac.Role](ctx, s.db.pool(), "SELECT data FROM rbac_roles ORDER BY name")
	return out, err
}

// PutAssignment implements rbac.Store.
func (s *RBAC) PutAssignment(ctx context.Context, a rbac.Assignment) error {
	return s.writeRecord(ctx, nil, `INSERT INTO rbac_assignments (grp, data) VALUES (?, ?)
		ON CONFLICT (grp) DO UPDATE SET data = excluded.data`, a.Group, a)
}

// DeleteAssignment implements rbac.Store.
func (s *RBAC) DeleteAssignment(ctx context.Context, group string) error {
	return s.write(ctx, rbac.ErrNotFound, "DELETE FROM rbac_assignments WHERE grp = ?", group)
}

// ListAssignments implements rbac.Store.
func (s *RBAC) ListAssignments(ctx context.Context) ([]rbac.Assignment, error) {
	out, err := listJSON[rbac.Assignment](ctx, s.db.pool(), "SELECT data FROM rbac_assignments ORDER BY grp")
	return out, err
}
