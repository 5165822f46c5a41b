package extension

import (
	"context"
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
	// DeleteExtension deletes an extension; ErrNotFound if there is none.
	DeleteExtension(ctx context.Context, prefix string) error
	// ListExtensions returns every extension, ordered by prefix.
	ListExtensions(ctx context.Context) ([]Extension, error)
}

// MemoryStore is the in-memory Store, the default.
type MemoryStore struct {
	mu   sync.RWMutex
	exts map[string]Extension
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{exts: make(map[string]Extension)}
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
