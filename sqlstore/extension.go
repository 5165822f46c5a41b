package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/portico-dev/portico/extension"
)

var extensionSchema = []Migration{{
	`CREATE TABLE extension_extensions (prefix TEXT PRIMARY KEY, data TEXT NOT NULL)`,
	`CREATE TABLE extension_bundles (
		prefix TEXT NOT NULL REFERENCES extension_extensions (prefix) ON DELETE CASCADE,
		version TEXT NOT NULL,
		active INTEGER NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (prefix, version))`,
	`CREATE TABLE extension_files (
		prefix TEXT NOT NULL,
		version TEXT NOT NULL,
		path TEXT NOT NULL,
		content {{blob}} NOT NULL,
		PRIMARY KEY (prefix, version, path),
		FOREIGN KEY (prefix, version) REFERENCES extension_bundles (prefix, version) ON DELETE CASCADE)`,
	// The settings and the licence: one row each.
	`CREATE TABLE extension_singletons (name TEXT PRIMARY KEY, data TEXT NOT NULL)`,
}}

// Extension is extension.Store over SQL: the registry, the UI bundles with
// their files, the settings and the licence. Every write announces a
// TopicExtension change.
type Extension struct{ db *DB }

var _ extension.Store = (*Extension)(nil)

// Extension migrates the extension tables and returns the store.
func (db *DB) Extension(ctx context.Context) (*Extension, error) {
	if err := db.Migrate(ctx, "extension", extensionSchema); err != nil {
		return nil, err
	}
	return &Extension{db: db}, nil
}

// write runs fn in a transaction that announces a change of prefix
// ("" for the settings and the licence).
func (s *Extension) write(ctx context.Context, prefix string, fn func(c conn) error) error {
	var data any
	if prefix != "" {
		data = prefix
	}
	return s.db.announce(ctx, TopicExtension, data, fn)
}

// CreateExtension implements extension.Store.
func (s *Extension) CreateExtension(ctx context.Context, e extension.Extension) error {
	data, err := encode(e)
	if err != nil {
		return err
	}
	return s.write(ctx, e.Prefix, func(c conn) error {
		return c.insert(ctx, extension.ErrExists, "INSERT INTO extension_extensions (prefix, data) VALUES (?, ?) ON CONFLICT DO NOTHING", e.Prefix, data)
	})
}

// GetExtension implements extension.Store.
func (s *Extension) GetExtension(ctx context.Context, prefix string) (extension.Extension, error) {
	return getJSON[extension.Extension](ctx, s.db.pool(), extension.ErrNotFound, "SELECT data FROM extension_extensions WHERE prefix = ?", prefix)
}

// UpdateExtension implements extension.Store.
func (s *Extension) UpdateExtension(ctx context.Context, prefix string, fn func(*extension.Extension) error) (extension.Extension, error) {
	return update(ctx, s.db, extension.ErrNotFound, "SELECT data FROM extension_extensions WHERE prefix = ?", prefix, fn,
		func(c conn, e extension.Extension) error {
			e.Prefix = prefix
			data, err := encode(e)
			if err != nil {
				return err
			}
			if _, err := c.exec(ctx, "UPDATE extension_extensions SET data = ? WHERE prefix = ?", data, prefix); err != nil {
				return err
			}
			return c.record(ctx, TopicExtension, prefix)
		})
}

// DeleteExtension implements extension.Store; its bundles go with it.
func (s *Extension) DeleteExtension(ctx context.Context, prefix string) error {
	return s.write(ctx, prefix, func(c conn) error {
		return c.change(ctx, extension.ErrNotFound, "DELETE FROM extension_extensions WHERE prefix = ?", prefix)
	})
}

// ListExtensions implements extension.Store.
func (s *Extension) ListExtensions(ctx context.Context) ([]extension.Extension, error) {
	out, err := listJSON[extension.Extension](ctx, s.db.pool(), "SELECT data FROM extension_extensions ORDER BY prefix")
	return out, err
}

// CreateBundle implements extension.Store.
func (s *Extension) CreateBundle(ctx context.Context, b extension.Bundle, files map[string][]byte) error {
	b.Active = false
	data, err := encode(b)
	if err != nil {
		return err
	}
	for _, f := range b.Files {
		if _, ok := files[f.Path]; !ok {
			return fmt.Errorf("extension: bundle file %q has no content", f.Path)
		}
	}
	return s.write(ctx, b.Prefix, func(c conn) error {
		if err := lockExtension(ctx, c, b.Prefix); err != nil {
			return err
		}
		if err := c.insert(ctx, extension.ErrExists, `INSERT INTO extension_bundles (prefix, version, active, data)
			VALUES (?, ?, 0, ?) ON CONFLICT DO NOTHING`, b.Prefix, b.Version, data); err != nil {
			return err
		}
		for _, f := range b.Files {
			if _, err := c.exec(ctx, "INSERT INTO extension_files (prefix, version, path, content) VALUES (?, ?, ?, ?)",
				b.Prefix, b.Version, f.Path, files[f.Path]); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockExtension locks an extension's row, so one transaction at a time
// changes its bundles: two activations each locking their own bundle row
// and then updating the other's would deadlock.
func lockExtension(ctx context.Context, c conn, prefix string) error {
	var one int
	err := c.row(ctx, "SELECT 1 FROM extension_extensions WHERE prefix = ?"+c.forUpdate(), prefix).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return extension.ErrNotFound
	}
	return err
}

func scanBundle(s interface{ Scan(...any) error }) (extension.Bundle, error) {
	var data string
	var active int
	if err := s.Scan(&data, &active); err != nil {
		return extension.Bundle{}, err
	}
	b, err := decodeJSON[extension.Bundle](data)
	b.Active = active != 0
	return b, err
}

// ListBundles implements extension.Store.
func (s *Extension) ListBundles(ctx context.Context, prefix string) ([]extension.Bundle, error) {
	w := &where{}
	w.add(prefix != "", "prefix = ?", prefix)
	rows, err := s.db.pool().query(ctx, "SELECT data, active FROM extension_bundles"+w.String()+" ORDER BY prefix, version", w.args...)
	return scanAll(rows, err, func(r *sql.Rows) (extension.Bundle, error) { return scanBundle(r) })
}

// BundleFile implements extension.Store.
func (s *Extension) BundleFile(ctx context.Context, prefix, version, path string) (extension.BundleFile, []byte, error) {
	c := s.db.pool()
	var data string
	var content []byte
	err := c.row(ctx, `SELECT b.data, f.content FROM extension_files f
		JOIN extension_bundles b ON b.prefix = f.prefix AND b.version = f.version
		WHERE f.prefix = ? AND f.version = ? AND f.path = ?`, prefix, version, path).Scan(&data, &content)
	if errors.Is(err, sql.ErrNoRows) {
		return extension.BundleFile{}, nil, extension.ErrNotFound
	}
	if err != nil {
		return extension.BundleFile{}, nil, err
	}
	b, err := decodeJSON[extension.Bundle](data)
	if err != nil {
		return extension.BundleFile{}, nil, err
	}
	for _, f := range b.Files {
		if f.Path == path {
			return f, content, nil
		}
	}
	return extension.BundleFile{}, nil, extension.ErrNotFound
}

// ActivateBundle implements extension.Store.
func (s *Extension) ActivateBundle(ctx context.Context, prefix, version string) (extension.Bundle, error) {
	var b extension.Bundle
	err := s.write(ctx, prefix, func(c conn) error {
		err := lockExtension(ctx, c, prefix)
		if err != nil {
			return err
		}
		b, err = scanBundle(c.row(ctx, "SELECT data, active FROM extension_bundles WHERE prefix = ? AND version = ?"+c.forUpdate(), prefix, version))
		if errors.Is(err, sql.ErrNoRows) {
			return extension.ErrNotFound
		}
		if err != nil {
			return err
		}
		b.Active = true
		_, err = c.exec(ctx, "UPDATE extension_bundles SET active = CASE WHEN version = ? THEN 1 ELSE 0 END WHERE prefix = ?", version, prefix)
		return err
	})
	return b, err
}

// DeleteBundle implements extension.Store.
func (s *Extension) DeleteBundle(ctx context.Context, prefix, version string) error {
	return s.write(ctx, prefix, func(c conn) error {
		if err := lockExtension(ctx, c, prefix); err != nil {
			return err
		}
		n, err := c.execN(ctx, "DELETE FROM extension_bundles WHERE prefix = ? AND version = ? AND active = 0", prefix, version)
		if err != nil || n == 1 {
			return err
		}
		// Nothing deleted: tell a missing version from the active one.
		var active int
		err = c.row(ctx, "SELECT active FROM extension_bundles WHERE prefix = ? AND version = ?", prefix, version).Scan(&active)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return extension.ErrNotFound
		case err != nil:
			return err
		}
		return extension.ErrActive
	})
}

// GetSettings implements extension.Store.
func (s *Extension) GetSettings(ctx context.Context) (extension.Settings, error) {
	return getJSON[extension.Settings](ctx, s.db.pool(), extension.ErrNotFound, "SELECT data FROM extension_singletons WHERE name = 'settings'")
}

// PutSettings implements extension.Store.
func (s *Extension) PutSettings(ctx context.Context, st extension.Settings) error {
	data, err := encode(st)
	if err != nil {
		return err
	}
	return s.putSingleton(ctx, "settings", data)
}

func (s *Extension) putSingleton(ctx context.Context, name, data string) error {
	return s.write(ctx, "", func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO extension_singletons (name, data) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data`, name, data)
		return err
	})
}

// GetLicense implements extension.Store.
func (s *Extension) GetLicense(ctx context.Context) (string, error) {
	var token string
	err := s.db.pool().row(ctx, "SELECT data FROM extension_singletons WHERE name = 'license'").Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", extension.ErrNotFound
	}
	return token, err
}

// PutLicense implements extension.Store.
func (s *Extension) PutLicense(ctx context.Context, token string) error {
	return s.putSingleton(ctx, "license", token)
}
