package auth

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// MemoryStore is the in-memory Store, the default. It is safe for
// concurrent use and forgets everything when the process ends.
type MemoryStore struct {
	mu      sync.RWMutex
	tokens  map[string]TokenRecord
	refresh map[string]RefreshRecord
	clients map[string]Client
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		tokens:  map[string]TokenRecord{},
		refresh: map[string]RefreshRecord{},
		clients: map[string]Client{},
	}
}

// CreateToken implements TokenStore.
func (m *MemoryStore) CreateToken(_ context.Context, rec TokenRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[rec.TokenID]; ok {
		return ErrExists
	}
	m.tokens[rec.TokenID] = cloneRecord(rec)
	return nil
}

// GetToken implements TokenStore.
func (m *MemoryStore) GetToken(_ context.Context, tid string) (TokenRecord, error) {
	m.mu.RLock()
	rec, ok := m.tokens[tid]
	m.mu.RUnlock()
	if !ok {
		return TokenRecord{}, ErrNotFound
	}
	return cloneRecord(rec), nil
}

// ListTokens implements TokenStore.
func (m *MemoryStore) ListTokens(_ context.Context, f TokenFilter) ([]TokenRecord, int, error) {
	m.mu.RLock()
	var out []TokenRecord
	for _, rec := range m.tokens {
		if f.Match(rec) {
			out = append(out, rec)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b TokenRecord) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.TokenID, b.TokenID))
	})
	page := httpapi.Window(out, f.Limit, f.Offset)
	for i := range page {
		page[i] = cloneRecord(page[i])
	}
	return page, len(out), nil
}

// DeleteTokens implements TokenStore.
func (m *MemoryStore) DeleteTokens(_ context.Context, f TokenFilter) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.TokenID != "" { // the common case: one token, no scan
		if rec, ok := m.tokens[f.TokenID]; ok && f.Match(rec) {
			delete(m.tokens, f.TokenID)
			return 1, nil
		}
		return 0, nil
	}
	n := 0
	for id, rec := range m.tokens {
		if f.Match(rec) {
			delete(m.tokens, id)
			n++
		}
	}
	return n, nil
}

// CreateRefresh implements RefreshStore.
func (m *MemoryStore) CreateRefresh(_ context.Context, rec RefreshRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.refresh[rec.Hash]; ok {
		return ErrExists
	}
	m.refresh[rec.Hash] = rec
	return nil
}

// UseRefresh implements RefreshStore.
func (m *MemoryStore) UseRefresh(_ context.Context, hash string, at time.Time) (RefreshRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.refresh[hash]
	if !ok {
		return RefreshRecord{}, ErrNotFound
	}
	if !rec.UsedAt.IsZero() {
		return rec, ErrRefreshReused
	}
	rec.UsedAt = at
	m.refresh[hash] = rec
	return rec, nil
}

// DeleteRefresh implements RefreshStore.
func (m *MemoryStore) DeleteRefresh(_ context.Context, f RefreshFilter) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h, rec := range m.refresh {
		if f.Match(rec) {
			delete(m.refresh, h)
			n++
		}
	}
	return n, nil
}

// CreateClient implements ClientStore.
func (m *MemoryStore) CreateClient(_ context.Context, c Client) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[c.ID]; ok {
		return ErrExists
	}
	m.clients[c.ID] = cloneClient(c)
	return nil
}

// GetClient implements ClientStore.
func (m *MemoryStore) GetClient(_ context.Context, id string) (Client, error) {
	m.mu.RLock()
	c, ok := m.clients[id]
	m.mu.RUnlock()
	if !ok {
		return Client{}, ErrNotFound
	}
	return cloneClient(c), nil
}

// UpdateClient implements ClientStore.
func (m *MemoryStore) UpdateClient(_ context.Context, id string, fn func(*Client) error) (Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return Client{}, ErrNotFound
	}
	c = cloneClient(c)
	if err := fn(&c); err != nil {
		return Client{}, err
	}
	c.ID = id
	m.clients[id] = cloneClient(c)
	return c, nil
}

// DeleteClient implements ClientStore.
func (m *MemoryStore) DeleteClient(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[id]; !ok {
		return ErrNotFound
	}
	delete(m.clients, id)
	return nil
}

// ListClients implements ClientStore.
func (m *MemoryStore) ListClients(_ context.Context, f ClientFilter) ([]Client, int, error) {
	m.mu.RLock()
	var out []Client
	for _, c := range m.clients {
		if f.Role == "" || c.HasRole(f.Role) {
			out = append(out, c)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	page := httpapi.Window(out, f.Limit, f.Offset)
	for i := range page {
		page[i] = cloneClient(page[i])
	}
	return page, len(out), nil
}
