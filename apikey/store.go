package apikey

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/portico-dev/portico/internal/httpapi"
)

// KeyFilter selects keys to list. Zero fields select everything.
type KeyFilter struct {
	ClientID string
	Limit    int // zero: no limit
	Offset   int
}

// Store keeps API keys and the NATS credentials issued for them.
// Implementations must be safe for concurrent use, return copies, and
// report a missing key as ErrNotFound.
type Store interface {
	// CreateKey stores a new key; ErrExists if its id is taken.
	CreateKey(ctx context.Context, k Key) error
	// GetKey returns a key; ErrNotFound if there is none.
	GetKey(ctx context.Context, id string) (Key, error)
	// UpdateKey applies fn to the key atomically and stores the result,
	// which it returns. fn's error aborts the update and is returned as
	// is. fn must not change the ID, ClientID or Hash.
	UpdateKey(ctx context.Context, id string, fn func(*Key) error) (Key, error)
	// TouchKey records a use of the key; ErrNotFound if there is none.
	TouchKey(ctx context.Context, id string, at time.Time, ip string) error
	// DeleteKey deletes a key; ErrNotFound if there is none.
	DeleteKey(ctx context.Context, id string) error
	// ListKeys returns the keys f selects, oldest first (ties by id), and
	// how many it selects in all.
	ListKeys(ctx context.Context, f KeyFilter) ([]Key, int, error)

	// AddCredential records credentials issued for a key.
	AddCredential(ctx context.Context, c Credential) error
	// RevokeCredentials marks every unrevoked credential of the key
	// revoked at at, and returns how many it marked.
	RevokeCredentials(ctx context.Context, keyID string, at time.Time) (int, error)
	// RevokedCredentials returns the revoked credentials that expire after
	// now, ordered by user key.
	RevokedCredentials(ctx context.Context, now time.Time) ([]Credential, error)
	// DeleteExpiredCredentials deletes credentials that expired at or
	// before now and returns how many.
	DeleteExpiredCredentials(ctx context.Context, now time.Time) (int, error)
}

// MemoryStore is the in-memory Store, the default.
type MemoryStore struct {
	mu    sync.RWMutex
	keys  map[string]Key
	creds map[string]Credential // by user key
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{keys: map[string]Key{}, creds: map[string]Credential{}}
}

func (m *MemoryStore) CreateKey(_ context.Context, k Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return ErrExists
	}
	m.keys[k.ID] = k.clone()
	return nil
}

func (m *MemoryStore) GetKey(_ context.Context, id string) (Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.keys[id]
	if !ok {
		return Key{}, ErrNotFound
	}
	return k.clone(), nil
}

func (m *MemoryStore) UpdateKey(_ context.Context, id string, fn func(*Key) error) (Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return Key{}, ErrNotFound
	}
	k = k.clone()
	if err := fn(&k); err != nil {
		return Key{}, err
	}
	m.keys[id] = k.clone()
	return k, nil
}

func (m *MemoryStore) TouchKey(_ context.Context, id string, at time.Time, ip string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return ErrNotFound
	}
	k.LastUsedAt, k.LastUsedIP = at, ip
	m.keys[id] = k
	return nil
}

func (m *MemoryStore) DeleteKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[id]; !ok {
		return ErrNotFound
	}
	delete(m.keys, id)
	return nil
}

func (m *MemoryStore) ListKeys(_ context.Context, f KeyFilter) ([]Key, int, error) {
	m.mu.RLock()
	var out []Key
	for _, k := range m.keys {
		if f.ClientID == "" || k.ClientID == f.ClientID {
			out = append(out, k.clone())
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return httpapi.Window(out, f.Limit, f.Offset), len(out), nil
}

func (m *MemoryStore) AddCredential(_ context.Context, c Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.creds[c.UserKey]; ok {
		return ErrExists
	}
	m.creds[c.UserKey] = c
	return nil
}

func (m *MemoryStore) RevokeCredentials(_ context.Context, keyID string, at time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for uk, c := range m.creds {
		if c.KeyID == keyID && c.RevokedAt.IsZero() {
			c.RevokedAt = at
			m.creds[uk] = c
			n++
		}
	}
	return n, nil
}

func (m *MemoryStore) RevokedCredentials(_ context.Context, now time.Time) ([]Credential, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Credential
	for _, c := range m.creds {
		if !c.RevokedAt.IsZero() && c.ExpiresAt.After(now) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Credential) int { return cmp.Compare(a.UserKey, b.UserKey) })
	return out, nil
}

func (m *MemoryStore) DeleteExpiredCredentials(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for uk, c := range m.creds {
		if !c.ExpiresAt.After(now) {
			delete(m.creds, uk)
			n++
		}
	}
	return n, nil
}
