package extension

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Store keeps the registry. Implementations must be safe for concurrent
// use, return copies, and report a missing extension as ErrNotFound.
type Store interface {
	// CreateExtension stores a new extension; ErrExists if its prefix is
	// taken.
	CreateExtension(ctx context.Context, e Extension) error
	// GetExtension returns an extension; ErrNotFound if there is none.
	GetExtension(ctx context.Context, prefix string) (Extension, error)
	// UpdateExtension applies fn to the extension atomically and stores
	// the result, which it returns. fn's error aborts the update and is
	// returned as is. fn must not change the Prefix.
	UpdateExtension(ctx context.Context, prefix string, fn func(*Extension) error) (Extension, error)
	// DeleteExtension deletes an extension and its bundles; ErrNotFound
	// if there is none.
	DeleteExtension(ctx context.Context, prefix string) error
	// ListExtensions returns every extension, ordered by prefix.
	ListExtensions(ctx context.Context) ([]Extension, error)

	// CreateBundle stores a bundle version, inactive whatever b.Active
	// says, with its files by path (every one of b.Files). ErrNotFound if
	// the extension is not registered; ErrExists if the version is taken.
	CreateBundle(ctx context.Context, b Bundle, files map[string][]byte) error
	// ListBundles returns the bundles of the extension with the given
	// prefix, or of every extension when prefix is empty, without file
	// contents, in any order.
	ListBundles(ctx context.Context, prefix string) ([]Bundle, error)
	// BundleFile returns one file of a bundle; ErrNotFound if the bundle
	// or the file does not exist.
	BundleFile(ctx context.Context, prefix, version, path string) (BundleFile, []byte, error)
	// ActivateBundle atomically makes version the extension's only active
	// bundle and returns it; ErrNotFound if there is no such version.
	ActivateBundle(ctx context.Context, prefix, version string) (Bundle, error)
	// DeleteBundle deletes a bundle version, atomically refusing the
	// active one with ErrActive; ErrNotFound if there is no such version.
	DeleteBundle(ctx context.Context, prefix, version string) error

	// GetSettings returns the stored settings; ErrNotFound if none were
	// ever stored.
	GetSettings(ctx context.Context) (Settings, error)
	// PutSettings stores the settings.
	PutSettings(ctx context.Context, s Settings) error
	// GetLicense returns the installed licence as issued (the signed
	// token); ErrNotFound if none is installed.
	GetLicense(ctx context.Context) (string, error)
	// PutLicense installs a licence, replacing any other.
	PutLicense(ctx context.Context, token string) error
}

// MemoryStore is the in-memory Store, the default.
type MemoryStore struct {
	mu       sync.RWMutex
	exts     map[string]Extension
	bundles  map[string]map[string]*memoryBundle // prefix, version
	settings *Settings
	license  string
}

type memoryBundle struct {
	b     Bundle
	files map[string][]byte
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{exts: make(map[string]Extension), bundles: make(map[string]map[string]*memoryBundle)}
}

// CreateExtension implements Store.
func (m *MemoryStore) CreateExtension(_ context.Context, e Extension) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.exts[e.Prefix]; ok {
		return ErrExists
	}
	m.exts[e.Prefix] = e.clone()
	return nil
}

// GetExtension implements Store.
func (m *MemoryStore) GetExtension(_ context.Context, prefix string) (Extension, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.exts[prefix]
	if !ok {
		return Extension{}, ErrNotFound
	}
	return e.clone(), nil
}

// UpdateExtension implements Store.
func (m *MemoryStore) UpdateExtension(_ context.Context, prefix string, fn func(*Extension) error) (Extension, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.exts[prefix]
	if !ok {
		return Extension{}, ErrNotFound
	}
	e = e.clone()
	if err := fn(&e); err != nil {
		return Extension{}, err
	}
	e.Prefix = prefix
	m.exts[prefix] = e.clone() // fn may have kept its pointer
	return e.clone(), nil
}

// DeleteExtension implements Store.
func (m *MemoryStore) DeleteExtension(_ context.Context, prefix string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.exts[prefix]; !ok {
		return ErrNotFound
	}
	delete(m.exts, prefix)
	delete(m.bundles, prefix)
	return nil
}

// ListExtensions implements Store.
func (m *MemoryStore) ListExtensions(_ context.Context) ([]Extension, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Extension, 0, len(m.exts))
	for _, e := range m.exts {
		out = append(out, e.clone())
	}
	slices.SortFunc(out, func(a, b Extension) int { return strings.Compare(a.Prefix, b.Prefix) })
	return out, nil
}

// CreateBundle implements Store.
func (m *MemoryStore) CreateBundle(_ context.Context, b Bundle, files map[string][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.exts[b.Prefix]; !ok {
		return ErrNotFound
	}
	versions := m.bundles[b.Prefix]
	if versions == nil {
		versions = make(map[string]*memoryBundle)
		m.bundles[b.Prefix] = versions
	}
	if _, ok := versions[b.Version]; ok {
		return ErrExists
	}
	b = b.clone()
	b.Active = false
	copied := make(map[string][]byte, len(b.Files))
	for _, f := range b.Files {
		data, ok := files[f.Path]
		if !ok {
			return fmt.Errorf("extension: bundle file %q has no content", f.Path)
		}
		copied[f.Path] = slices.Clone(data)
	}
	versions[b.Version] = &memoryBundle{b: b, files: copied}
	return nil
}

// ListBundles implements Store.
func (m *MemoryStore) ListBundles(_ context.Context, prefix string) ([]Bundle, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Bundle
	for p, versions := range m.bundles {
		if prefix != "" && p != prefix {
			continue
		}
		for _, mb := range versions {
			out = append(out, mb.b.clone())
		}
	}
	return out, nil
}

// BundleFile implements Store.
func (m *MemoryStore) BundleFile(_ context.Context, prefix, version, path string) (BundleFile, []byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mb, ok := m.bundles[prefix][version]
	if !ok {
		return BundleFile{}, nil, ErrNotFound
	}
	data, ok := mb.files[path]
	if !ok {
		return BundleFile{}, nil, ErrNotFound
	}
	i := slices.IndexFunc(mb.b.Files, func(f BundleFile) bool { return f.Path == path })
	return mb.b.Files[i], slices.Clone(data), nil
}

// ActivateBundle implements Store.
func (m *MemoryStore) ActivateBundle(_ context.Context, prefix, version string) (Bundle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	versions := m.bundles[prefix]
	if _, ok := versions[version]; !ok {
		return Bundle{}, ErrNotFound
	}
	for v, mb := range versions {
		mb.b.Active = v == version
	}
	return versions[version].b.clone(), nil
}

// DeleteBundle implements Store.
func (m *MemoryStore) DeleteBundle(_ context.Context, prefix, version string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.bundles[prefix][version]
	switch {
	case !ok:
		return ErrNotFound
	case mb.b.Active:
		return ErrActive
	}
	delete(m.bundles[prefix], version)
	return nil
}

// GetSettings implements Store.
func (m *MemoryStore) GetSettings(context.Context) (Settings, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.settings == nil {
		return Settings{}, ErrNotFound
	}
	return *m.settings, nil
}

// PutSettings implements Store.
func (m *MemoryStore) PutSettings(_ context.Context, s Settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settings = &s
	return nil
}

// GetLicense implements Store.
func (m *MemoryStore) GetLicense(context.Context) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.license == "" {
		return "", ErrNotFound
	}
	return m.license, nil
}

// PutLicense implements Store.
func (m *MemoryStore) PutLicense(_ context.Context, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.license = token
	return nil
}
