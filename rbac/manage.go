package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// CreateRole validates r and adds it. Patterns and names are checked
// (*InvalidError); a role of the same name is ErrExists.
func (a *Authorizer) CreateRole(ctx context.Context, r Role) (Role, error) {
	if err := validateRole(&r); err != nil {
		return Role{}, err
	}
	now := a.now().UTC()
	r.Builtin, r.CreatedAt, r.UpdatedAt = false, now, now
	return r, a.change(ctx, func() error { return a.store.CreateRole(ctx, r) })
}

// GetRole returns the named role or ErrNotFound.
func (a *Authorizer) GetRole(ctx context.Context, name string) (Role, error) {
	return a.store.GetRole(ctx, name)
}

// ListRoles returns every role, sorted by name.
func (a *Authorizer) ListRoles(ctx context.Context) ([]Role, error) {
	return a.store.ListRoles(ctx)
}

// UpdateRole replaces the description, permissions and extensions of the
// role named r.Name (ErrNotFound if there is none). The admin role's
// permissions cannot change (ErrBuiltin).
func (a *Authorizer) UpdateRole(ctx context.Context, r Role) (Role, error) {
	if err := validateRole(&r); err != nil {
		return Role{}, err
	}
	var out Role
	err := a.change(ctx, func() error {
		old, err := a.store.GetRole(ctx, r.Name)
		if err != nil {
			return err
		}
		if r.Name == a.cfg.AdminRole && (!slices.Equal(r.Permissions.Allow, []string{">"}) || len(r.Permissions.Deny) > 0) {
			return ErrBuiltin
		}
		r.Builtin, r.CreatedAt, r.UpdatedAt = old.Builtin, old.CreatedAt, a.now().UTC()
		out = r
		return a.store.UpdateRole(ctx, r)
	})
	return out, err
}

// DeleteRole removes the named role. The admin role cannot be deleted
// (ErrBuiltin); nor can the default role or a role an assignment names
// (ErrInUse).
func (a *Authorizer) DeleteRole(ctx context.Context, name string) error {
	if name == a.cfg.AdminRole {
		return ErrBuiltin
	}
	return a.change(ctx, func() error {
		if name == a.cfg.DefaultRole {
			return fmt.Errorf("%w: it is the default role", ErrInUse)
		}
		assignments, err := a.store.ListAssignments(ctx)
		if err != nil {
			return err
		}
		var groups []string
		for _, as := range assignments {
			if slices.Contains(as.Roles, name) {
				groups = append(groups, as.Group)
			}
		}
		if len(groups) > 0 {
			return fmt.Errorf("%w: %q", ErrInUse, groups)
		}
		return a.store.DeleteRole(ctx, name)
	})
}

// Assign gives the members of as.Group exactly as.Roles, replacing any
// earlier assignment of the group. Every role must exist (*InvalidError).
func (a *Authorizer) Assign(ctx context.Context, as Assignment) (Assignment, error) {
	if err := validateAssignment(&as); err != nil {
		return Assignment{}, err
	}
	as.UpdatedAt = a.now().UTC()
	return as, a.change(ctx, func() error {
		for _, name := range as.Roles {
			if _, err := a.store.GetRole(ctx, name); errors.Is(err, ErrNotFound) {
				return invalid("roles", "name an unknown role %q", name)
			} else if err != nil {
				return err
			}
		}
		return a.store.PutAssignment(ctx, as)
	})
}

// Unassign removes group's assignment; ErrNotFound if it has none.
func (a *Authorizer) Unassign(ctx context.Context, group string) error {
	return a.change(ctx, func() error { return a.store.DeleteAssignment(ctx, group) })
}

// Assignments returns every assignment, sorted by group.
func (a *Authorizer) Assignments(ctx context.Context) ([]Assignment, error) {
	return a.store.ListAssignments(ctx)
}

// SubjectRoles returns what the subject with the given id holds, its own
// roles and groups read through Config.Lookup.
func (a *Authorizer) SubjectRoles(ctx context.Context, id string) (Effective, error) {
	s, err := a.lookup(ctx, id)
	if err != nil {
		return Effective{}, err
	}
	return a.Effective(ctx, s), nil
}

func (a *Authorizer) lookup(ctx context.Context, id string) (Subject, error) {
	if a.cfg.Lookup == nil {
		return Subject{ID: id}, nil
	}
	s, err := a.cfg.Lookup(ctx, id)
	s.ID = id
	return s, err
}

// change runs a store write and recompiles the snapshot, one change at a
// time, so the snapshot always reflects the last write. A failed write
// leaves the snapshot as it was.
func (a *Authorizer) change(ctx context.Context, write func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := write(); err != nil {
		return err
	}
	return a.reload(ctx)
}
