// Package rbactest holds the conformance suite every rbac.Store passes.
//
// A host with its own store runs it from a test:
//
//	func TestMyStore(t *testing.T) {
//		rbactest.RunStore(t, func(t *testing.T) rbac.Store { return newMyStore(t) })
//	}
package rbactest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/rbac"
)

// RunStore runs the conformance suite. newStore must return an empty store
// each time it is called.
func RunStore(t *testing.T, newStore func(t *testing.T) rbac.Store) {
	t.Run("Roles", func(t *testing.T) { testRoles(t, newStore(t)) })
	t.Run("Assignments", func(t *testing.T) { testAssignments(t, newStore(t)) })
	t.Run("CopiesOut", func(t *testing.T) { testCopies(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func role(name string) rbac.Role {
	return rbac.Role{
		Name: name, Description: "the " + name + " role",
		Permissions: rbac.Permissions{Allow: []string{"keys.*", "extensions.café.>"}, Deny: []string{"keys.delete"}},
		Extensions:  []string{"datamigrator"}, CreatedAt: base, UpdatedAt: base,
	}
}

func assertRole(t *testing.T, want, got rbac.Role) {
	t.Helper()
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Description, got.Description)
	assert.Equal(t, want.Permissions, got.Permissions)
	assert.Equal(t, want.Extensions, got.Extensions)
	assert.Equal(t, want.Builtin, got.Builtin)
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "created_at %v, got %v", want.CreatedAt, got.CreatedAt)
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "updated_at %v, got %v", want.UpdatedAt, got.UpdatedAt)
}

func testRoles(t *testing.T, s rbac.Store) {
	ctx := context.Background()
	_, err := s.GetRole(ctx, "ops")
	require.ErrorIs(t, err, rbac.ErrNotFound, "get before create")
	require.ErrorIs(t, s.UpdateRole(ctx, role("ops")), rbac.ErrNotFound, "update before create")
	require.ErrorIs(t, s.DeleteRole(ctx, "ops"), rbac.ErrNotFound, "delete before create")

	ops := role("ops")
	require.NoError(t, s.CreateRole(ctx, ops))
	require.ErrorIs(t, s.CreateRole(ctx, ops), rbac.ErrExists, "create ops twice")
	admin := role("admin")
	admin.Builtin = true
	require.NoError(t, s.CreateRole(ctx, admin))

	got, err := s.GetRole(ctx, "ops")
	require.NoError(t, err)
	assertRole(t, ops, got)

	ops.Description = "changed"
	ops.Permissions = rbac.Permissions{Allow: []string{">"}, Deny: []string{}}
	ops.Extensions = []string{}
	ops.UpdatedAt = base.Add(time.Hour)
	require.NoError(t, s.UpdateRole(ctx, ops))
	got, err = s.GetRole(ctx, "ops")
	require.NoError(t, err)
	assertRole(t, ops, got)

	list, err := s.ListRoles(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "admin", list[0].Name, "roles sorted by name")
	assert.True(t, list[0].Builtin)
	assert.Equal(t, "ops", list[1].Name)

	require.NoError(t, s.DeleteRole(ctx, "ops"))
	_, err = s.GetRole(ctx, "ops")
	require.ErrorIs(t, err, rbac.ErrNotFound, "get after delete")
	list, err = s.ListRoles(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func testAssignments(t *testing.T, s rbac.Store) {
	ctx := context.Background()
	list, err := s.ListAssignments(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	require.ErrorIs(t, s.DeleteAssignment(ctx, "staff"), rbac.ErrNotFound, "delete before put")

	require.NoError(t, s.PutAssignment(ctx, rbac.Assignment{Group: "staff", Roles: []string{"ops"}, UpdatedAt: base}))
	require.NoError(t, s.PutAssignment(ctx, rbac.Assignment{Group: "/org/admins", Roles: []string{"admin"}, UpdatedAt: base}))
	require.NoError(t, s.PutAssignment(ctx, rbac.Assignment{Group: "staff", Roles: []string{"ops", "reader"}, UpdatedAt: base.Add(time.Hour)}))

	list, err = s.ListAssignments(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2, "a second put replaces the group's assignment")
	assert.Equal(t, "/org/admins", list[0].Group, "assignments sorted by group")
	assert.Equal(t, "staff", list[1].Group)
	assert.Equal(t, []string{"ops", "reader"}, list[1].Roles)
	assert.True(t, base.Add(time.Hour).Equal(list[1].UpdatedAt))

	require.NoError(t, s.DeleteAssignment(ctx, "staff"))
	list, err = s.ListAssignments(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

func testCopies(t *testing.T, s rbac.Store) {
	ctx := context.Background()
	r := role("ops")
	require.NoError(t, s.CreateRole(ctx, r))
	r.Permissions.Allow[0] = "changed.by.caller"
	got, err := s.GetRole(ctx, "ops")
	require.NoError(t, err)
	assert.Equal(t, "keys.*", got.Permissions.Allow[0], "the store kept the caller's slice")
	got.Permissions.Deny[0] = "changed.after.get"
	got.Extensions[0] = "changed"
	again, err := s.GetRole(ctx, "ops")
	require.NoError(t, err)
	assert.Equal(t, "keys.delete", again.Permissions.Deny[0], "GetRole returned the store's memory")
	assert.Equal(t, "datamigrator", again.Extensions[0])

	roles := []string{"ops"}
	require.NoError(t, s.PutAssignment(ctx, rbac.Assignment{Group: "g", Roles: roles}))
	roles[0] = "changed"
	list, err := s.ListAssignments(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ops", list[0].Roles[0])
	list[0].Roles[0] = "changed"
	list, err = s.ListAssignments(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ops", list[0].Roles[0], "ListAssignments returned the store's memory")
}

func testConcurrent(t *testing.T, s rbac.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("role%d", i)
			assert.NoError(t, s.CreateRole(ctx, role(name)))
			assert.NoError(t, s.PutAssignment(ctx, rbac.Assignment{Group: name, Roles: []string{name}}))
			_, err := s.ListRoles(ctx)
			assert.NoError(t, err)
			assert.NoError(t, s.UpdateRole(ctx, role(name)))
		})
	}
	wg.Wait()
	list, err := s.ListRoles(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 8)
}
