package rbac_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/rbac"
)

var ctx = context.Background()

func newAuthorizer(t testing.TB, cfg rbac.Config) *rbac.Authorizer {
	t.Helper()
	if cfg.AdminSubjects == nil && cfg.AdminGroups == nil {
		cfg.AdminSubjects = []string{"root"}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := rbac.New(cfg)
	require.NoError(t, err)
	return a
}

func mustRole(t testing.TB, a *rbac.Authorizer, name string, allow, deny []string) {
	t.Helper()
	_, err := a.CreateRole(ctx, rbac.Role{Name: name, Permissions: rbac.Permissions{Allow: allow, Deny: deny}})
	require.NoError(t, err, "create role %s", name)
}

func TestAuthorize(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{DefaultRole: "guest"})
	mustRole(t, a, "keys", []string{"keys.*"}, []string{"keys.delete"})
	mustRole(t, a, "ops", []string{"orchestrator.batch.*", "extensions.datamigrator.>", "keys.delete"}, nil)
	mustRole(t, a, "guest", []string{"extensions.read"}, nil)
	mustRole(t, a, "nodel", nil, []string{"orchestrator.batch.cancel"})
	_, err := a.Assign(ctx, rbac.Assignment{Group: "operators", Roles: []string{"ops"}})
	require.NoError(t, err)
	_, err = a.Assign(ctx, rbac.Assignment{Group: "interns", Roles: []string{"nodel"}})
	require.NoError(t, err)

	tests := []struct {
		name string
		s    rbac.Subject
		perm string
		want bool
	}{
		{"own role allows", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.create", true},
		{"own role does not allow", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "roles.write", false},
		{"* matches one token only", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.create.more", false},
		{"deny wins in the same role", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.delete", false},
		{"deny wins over another role's allow", rbac.Subject{ID: "u", Roles: []string{"ops", "keys"}}, "keys.delete", false},
		{"deny wins whatever the order", rbac.Subject{ID: "u", Roles: []string{"keys", "ops"}}, "keys.delete", false},
		{"group role allows", rbac.Subject{ID: "u", Groups: []string{"operators"}}, "orchestrator.batch.execute", true},
		{"> matches the rest", rbac.Subject{ID: "u", Groups: []string{"operators"}}, "extensions.datamigrator.ui.read", true},
		{"> needs a token", rbac.Subject{ID: "u", Groups: []string{"operators"}}, "extensions.datamigrator", false},
		{"group deny wins over own allow", rbac.Subject{ID: "u", Groups: []string{"operators", "interns"}}, "orchestrator.batch.cancel", false},
		{"unknown group holds nothing, so the default applies", rbac.Subject{ID: "u", Groups: []string{"nobody"}}, "extensions.read", true},
		{"no roles: default role", rbac.Subject{ID: "u"}, "extensions.read", true},
		{"default only when nothing matches", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "extensions.read", false},
		{"unknown role ignored", rbac.Subject{ID: "u", Roles: []string{"ghost"}}, "keys.create", false},
		{"admin role allows everything", rbac.Subject{ID: "u", Roles: []string{"admin"}}, "anything.at.all", true},
		{"admin role beats another role's deny", rbac.Subject{ID: "u", Roles: []string{"keys", "admin"}}, "keys.delete", true},
		{"admin subject", rbac.Subject{ID: "root"}, "roles.write", true},
		{"case matters", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "KEYS.create", false},
		{"wildcard permission covered", rbac.Subject{ID: "u", Groups: []string{"operators"}}, "extensions.datamigrator.>", true},
		{"wildcard permission wider than the allow", rbac.Subject{ID: "u", Groups: []string{"operators"}}, "extensions.>", false},
		{"wildcard permission touching a deny", rbac.Subject{ID: "u", Roles: []string{"keys"}}, "keys.*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Authorize(ctx, tt.s, tt.perm)
			if tt.want {
				assert.NoError(t, err, "%+v asks %q", tt.s, tt.perm)
			} else {
				assert.ErrorIs(t, err, rbac.ErrDenied, "%+v asks %q", tt.s, tt.perm)
			}
		})
	}
}

func TestAuthorizeInvalidPermission(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{})
	for _, perm := range []string{"", "a..b", "a.>.b", "a b", "a.b*"} {
		var inv *rbac.InvalidError
		assert.ErrorAs(t, a.Authorize(ctx, rbac.Subject{ID: "root"}, perm), &inv, "permission %q", perm)
	}
}

func TestAdminGroups(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{AdminGroups: []string{"/org/admins"}})
	assert.False(t, a.Bootstrap())
	assert.NoError(t, a.Authorize(ctx, rbac.Subject{ID: "x", Groups: []string{"/org/admins"}}, "roles.write"))
	assert.ErrorIs(t, a.Authorize(ctx, rbac.Subject{ID: "x", Groups: []string{"staff"}}, "roles.write"), rbac.ErrDenied)
	assert.False(t, a.IsAdmin(ctx, rbac.Subject{ID: "x", Groups: []string{"staff"}}))

	// A group assigned the admin role is an admin group too.
	_, err := a.Assign(ctx, rbac.Assignment{Group: "staff", Roles: []string{"admin"}})
	require.NoError(t, err)
	assert.True(t, a.IsAdmin(ctx, rbac.Subject{ID: "x", Groups: []string{"staff"}}))
	require.NoError(t, a.Unassign(ctx, "staff"))
	assert.False(t, a.IsAdmin(ctx, rbac.Subject{ID: "x", Groups: []string{"staff"}}))
}

func TestBootstrapMode(t *testing.T) {
	var logs safeBuffer
	a, err := rbac.New(rbac.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	assert.True(t, a.Bootstrap())
	assert.Contains(t, logs.String(), "bootstrap mode", "a warning is logged")
	s := rbac.Subject{ID: "anyone"}
	assert.NoError(t, a.Authorize(ctx, s, "roles.write"))
	assert.True(t, a.IsAdmin(ctx, s))
	assert.Contains(t, a.Explain(ctx, s, "roles.write").Reason, "bootstrap mode")

	b := newAuthorizer(t, rbac.Config{AdminSubjects: []string{"root"}})
	assert.False(t, b.Bootstrap())
	assert.ErrorIs(t, b.Authorize(ctx, s, "roles.write"), rbac.ErrDenied)
}

func TestExplain(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{})
	mustRole(t, a, "keys", []string{"keys.*"}, []string{"keys.delete"})
	s := rbac.Subject{ID: "u", Roles: []string{"keys"}}

	d := a.Explain(ctx, s, "keys.create")
	assert.True(t, d.Allowed)
	assert.Equal(t, "keys", d.Role)
	assert.Equal(t, "keys.*", d.Pattern)
	assert.Equal(t, `allowed by role "keys" pattern "keys.*"`, d.Reason)

	d = a.Explain(ctx, s, "keys.delete")
	assert.False(t, d.Allowed)
	assert.Equal(t, "keys.delete", d.Pattern)
	assert.Equal(t, `denied by role "keys" pattern "keys.delete"`, d.Reason)

	d = a.Explain(ctx, s, "roles.read")
	assert.False(t, d.Allowed)
	assert.Equal(t, "denied: no role allows it", d.Reason)

	d = a.Explain(ctx, rbac.Subject{ID: "root"}, "roles.read")
	assert.True(t, d.Allowed)
	assert.Equal(t, "allowed: administrator (admin subject)", d.Reason)

	d = a.Explain(ctx, s, "a..b")
	assert.False(t, d.Allowed)
	assert.Contains(t, d.Reason, "invalid permission")
}

func TestEffectiveAndCanSee(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{})
	_, err := a.CreateRole(ctx, rbac.Role{Name: "viewer", Permissions: rbac.Permissions{Allow: []string{"extensions.read", "keys.read"}}, Extensions: []string{"datamigrator"}})
	require.NoError(t, err)
	_, err = a.CreateRole(ctx, rbac.Role{Name: "writer", Permissions: rbac.Permissions{Allow: []string{"keys.*"}, Deny: []string{"keys.delete"}}, Extensions: []string{"billing"}})
	require.NoError(t, err)
	_, err = a.Assign(ctx, rbac.Assignment{Group: "staff", Roles: []string{"writer"}})
	require.NoError(t, err)

	s := rbac.Subject{ID: "u", Roles: []string{"viewer"}, Groups: []string{"staff"}}
	e := a.Effective(ctx, s)
	assert.Equal(t, "u", e.Subject)
	assert.Equal(t, []string{"viewer", "writer"}, e.Roles)
	assert.Equal(t, []string{"extensions.read", "keys.*", "keys.read"}, e.Permissions.Allow)
	assert.Equal(t, []string{"keys.delete"}, e.Permissions.Deny)
	assert.True(t, a.CanSee(ctx, s, "datamigrator"))
	assert.True(t, a.CanSee(ctx, s, "billing"))
	assert.False(t, a.CanSee(ctx, s, "secret"))
	assert.True(t, a.CanSee(ctx, rbac.Subject{ID: "root"}, "secret"), "admins see every extension")

	admin := a.Effective(ctx, rbac.Subject{ID: "root"})
	assert.Equal(t, []string{"admin"}, admin.Roles)
	assert.Equal(t, []string{">"}, admin.Permissions.Allow)
	assert.Equal(t, []string{}, admin.Permissions.Deny)
}

func TestRoleManagement(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{DefaultRole: "guest"})
	admin, err := a.GetRole(ctx, "admin")
	require.NoError(t, err)
	assert.True(t, admin.Builtin)
	assert.Equal(t, []string{">"}, admin.Permissions.Allow)

	assert.ErrorIs(t, a.DeleteRole(ctx, "admin"), rbac.ErrBuiltin)
	_, err = a.UpdateRole(ctx, rbac.Role{Name: "admin", Permissions: rbac.Permissions{Allow: []string{"keys.*"}}})
	assert.ErrorIs(t, err, rbac.ErrBuiltin, "the admin role cannot be narrowed")
	_, err = a.UpdateRole(ctx, rbac.Role{Name: "admin", Permissions: rbac.Permissions{}})
	assert.ErrorIs(t, err, rbac.ErrBuiltin, "the admin role cannot be emptied")
	_, err = a.UpdateRole(ctx, rbac.Role{Name: "admin", Permissions: rbac.Permissions{Allow: []string{">"}, Deny: []string{"x"}}})
	assert.ErrorIs(t, err, rbac.ErrBuiltin, "the admin role cannot gain denies")
	updated, err := a.UpdateRole(ctx, rbac.Role{Name: "admin", Description: "root", Permissions: rbac.Permissions{Allow: []string{">"}}})
	require.NoError(t, err, "the description may change")
	assert.True(t, updated.Builtin)

	mustRole(t, a, "ops", []string{"keys.*"}, nil)
	mustRole(t, a, "guest", []string{"extensions.read"}, nil)
	_, err = a.CreateRole(ctx, rbac.Role{Name: "ops"})
	assert.ErrorIs(t, err, rbac.ErrExists)
	_, err = a.UpdateRole(ctx, rbac.Role{Name: "ghost"})
	assert.ErrorIs(t, err, rbac.ErrNotFound)
	assert.ErrorIs(t, a.DeleteRole(ctx, "ghost"), rbac.ErrNotFound)
	assert.ErrorIs(t, a.DeleteRole(ctx, "guest"), rbac.ErrInUse, "the default role")

	_, err = a.Assign(ctx, rbac.Assignment{Group: "staff", Roles: []string{"ops", "ghost"}})
	var inv *rbac.InvalidError
	assert.ErrorAs(t, err, &inv, "assigning an unknown role")
	_, err = a.Assign(ctx, rbac.Assignment{Group: "staff", Roles: []string{"ops"}})
	require.NoError(t, err)
	assert.ErrorIs(t, a.DeleteRole(ctx, "ops"), rbac.ErrInUse, "a role still assigned")
	assert.ErrorIs(t, a.Unassign(ctx, "ghosts"), rbac.ErrNotFound)
	require.NoError(t, a.Unassign(ctx, "staff"))
	require.NoError(t, a.DeleteRole(ctx, "ops"))

	// Changes apply at once: the snapshot is rebuilt on every change.
	s := rbac.Subject{ID: "u", Roles: []string{"late"}}
	assert.ErrorIs(t, a.Authorize(ctx, s, "keys.create"), rbac.ErrDenied)
	mustRole(t, a, "late", []string{"keys.create"}, nil)
	assert.NoError(t, a.Authorize(ctx, s, "keys.create"))
	_, err = a.UpdateRole(ctx, rbac.Role{Name: "late", Permissions: rbac.Permissions{Deny: []string{"keys.>"}}})
	require.NoError(t, err)
	assert.ErrorIs(t, a.Authorize(ctx, s, "keys.create"), rbac.ErrDenied)
}

func TestValidation(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{})
	long := make([]string, 1001)
	for i := range long {
		long[i] = fmt.Sprintf("p.%d", i)
	}
	bad := []rbac.Role{
		{Name: ""},
		{Name: "has space"},
		{Name: "ok", Permissions: rbac.Permissions{Allow: []string{"a..b"}}},
		{Name: "ok", Permissions: rbac.Permissions{Allow: []string{">.a"}}},
		{Name: "ok", Permissions: rbac.Permissions{Deny: []string{"a.b*"}}},
		{Name: "ok", Permissions: rbac.Permissions{Allow: long}},
		{Name: "ok", Extensions: []string{"bad ext"}},
	}
	for _, r := range bad {
		_, err := a.CreateRole(ctx, r)
		var inv *rbac.InvalidError
		assert.ErrorAs(t, err, &inv, "role %+v", r)
	}
	for _, as := range []rbac.Assignment{{Group: ""}, {Group: "a\x00b"}, {Group: "g", Roles: []string{"bad role"}}} {
		_, err := a.Assign(ctx, as)
		var inv *rbac.InvalidError
		assert.ErrorAs(t, err, &inv, "assignment %+v", as)
	}
	_, err := rbac.New(rbac.Config{AdminRole: "bad role"})
	assert.Error(t, err)
	_, err = rbac.New(rbac.Config{DefaultRole: "bad role"})
	assert.Error(t, err)
}

// TestConcurrentChanges races role and assignment changes against
// decisions; under -race it shows the snapshot swap is safe, and at the end
// the snapshot reflects the last write to every role.
func TestConcurrentChanges(t *testing.T) {
	a := newAuthorizer(t, rbac.Config{})
	for i := range 4 {
		mustRole(t, a, fmt.Sprintf("r%d", i), []string{"keys.read"}, nil)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		name := fmt.Sprintf("r%d", i)
		wg.Go(func() {
			for j := range 50 {
				perm := fmt.Sprintf("keys.v%d", j)
				_, err := a.UpdateRole(ctx, rbac.Role{Name: name, Permissions: rbac.Permissions{Allow: []string{perm}}})
				assert.NoError(t, err)
				_, err = a.Assign(ctx, rbac.Assignment{Group: "g" + name, Roles: []string{name}})
				assert.NoError(t, err)
			}
		})
		wg.Go(func() {
			for range 200 {
				_ = a.Authorize(ctx, rbac.Subject{ID: "u", Roles: []string{name}, Groups: []string{"g" + name}}, "keys.read")
				_ = a.Effective(ctx, rbac.Subject{ID: "u", Roles: []string{name}})
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		s := rbac.Subject{ID: "u", Roles: []string{fmt.Sprintf("r%d", i)}}
		assert.NoError(t, a.Authorize(ctx, s, "keys.v49"), "role r%d has its last permission", i)
		assert.ErrorIs(t, a.Authorize(ctx, s, "keys.read"), rbac.ErrDenied, "role r%d lost its first permission", i)
	}
}

func TestReloadSeesOtherWriters(t *testing.T) {
	store := rbac.NewMemoryStore()
	a := newAuthorizer(t, rbac.Config{Store: store})
	b := newAuthorizer(t, rbac.Config{Store: store})
	mustRole(t, a, "ops", []string{"keys.*"}, nil)
	s := rbac.Subject{ID: "u", Roles: []string{"ops"}}
	assert.ErrorIs(t, b.Authorize(ctx, s, "keys.create"), rbac.ErrDenied, "b has not reloaded")
	require.NoError(t, b.Reload(ctx))
	assert.NoError(t, b.Authorize(ctx, s, "keys.create"))
}
