package rbac

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Store keeps roles and group assignments. Implementations must be safe for
// concurrent use, return copies (never memory the caller could change
// under them) and report a missing role or assignment as ErrNotFound.
type Store interface {
	// CreateRole adds r; ErrExists if a role of that name exists.
	CreateRole(ctx context.Context, r Role) error
	// GetRole returns the named role or ErrNotFound.
	GetRole(ctx context.Context, name string) (Role, error)
	// UpdateRole replaces the role named r.Name; ErrNotFound if none.
	UpdateRole(ctx context.Context, r Role) error
	// DeleteRole removes the named role; ErrNotFound if none.
	DeleteRole(ctx context.Context, name string) error
	// ListRoles returns every role, sorted by name.
	ListRoles(ctx context.Context) ([]Role, error)
	// PutAssignment creates or replaces the assignment of a.Group.
	PutAssignment(ctx context.Context, a Assignment) error
	// DeleteAssignment removes group's assignment; ErrNotFound if none.
	DeleteAssignment(ctx context.Context, group string) error
	// ListAssignments returns every assignment, sorted by group.
	ListAssignments(ctx context.Context) ([]Assignment, error)
}

// MemoryStore is the in-memory Store, the default.
type MemoryStore struct {
	mu          sync.RWMutex
	roles       map[string]Role
	assignments map[string]Assignment
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{roles: map[string]Role{}, assignments: map[string]Assignment{}}
}

func cloneRole(r Role) Role {
	r.Permissions.Allow = slices.Clone(r.Permissions.Allow)
	r.Permissions.Deny = slices.Clone(r.Permissions.Deny)
	r.Extensions = slices.Clone(r.Extensions)
	return r
}

func cloneAssignment(a Assignment) Assignment {
	a.Roles = slices.Clone(a.Roles)
	return a
}

func (m *MemoryStore) CreateRole(_ context.Context, r Role) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[r.Name]; ok {
		return ErrExists
	}
	m.roles[r.Name] = cloneRole(r)
	return nil
}

func (m *MemoryStore) GetRole(_ context.Context, name string) (Role, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.roles[name]
	if !ok {
		return Role{}, ErrNotFound
	}
	return cloneRole(r), nil
}

func (m *MemoryStore) UpdateRole(_ context.Context, r Role) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[r.Name]; !ok {
		return ErrNotFound
	}
	m.roles[r.Name] = cloneRole(r)
	return nil
}

func (m *MemoryStore) DeleteRole(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[name]; !ok {
		return ErrNotFound
	}
	delete(m.roles, name)
	return nil
}

func (m *MemoryStore) ListRoles(context.Context) ([]Role, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Role, 0, len(m.roles))
	for _, r := range m.roles {
		out = append(out, cloneRole(r))
	}
	slices.SortFunc(out, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (m *MemoryStore) PutAssignment(_ context.Context, a Assignment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assignments[a.Group] = cloneAssignment(a)
	return nil
}

func (m *MemoryStore) DeleteAssignment(_ context.Context, group string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.assignments[group]; !ok {
		return ErrNotFound
	}
	delete(m.assignments, group)
	return nil
}

func (m *MemoryStore) ListAssignments(context.Context) ([]Assignment, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Assignment, 0, len(m.assignments))
	for _, a := range m.assignments {
		out = append(out, cloneAssignment(a))
	}
	slices.SortFunc(out, func(a, b Assignment) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}
