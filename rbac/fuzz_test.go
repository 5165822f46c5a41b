package rbac_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-dev/portico/rbac"
)

// FuzzPatterns feeds arbitrary patterns to role creation and arbitrary
// permissions to Authorize: nothing panics, an accepted pattern validates,
// and a role allowing a literal pattern allows exactly that permission.
func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"keys.create", "a.*.b", "a.>", ">", "a..b", "a.>.b", "café.x", "a b", "\xff"} {
		f.Add(s, s)
	}
	a := newAuthorizer(f, rbac.Config{})
	f.Fuzz(func(t *testing.T, pattern, perm string) {
		_, err := a.CreateRole(ctx, rbac.Role{Name: "fuzz", Permissions: rbac.Permissions{Allow: []string{pattern}}})
		valid := rbac.ValidatePattern(pattern) == nil
		assert.Equal(t, valid, err == nil, "pattern %q: %v", pattern, err)
		if err == nil {
			s := rbac.Subject{ID: "u", Roles: []string{"fuzz"}}
			assert.NoError(t, a.Authorize(ctx, s, pattern), "a role allowing %q allows it", pattern)
			err := a.Authorize(ctx, s, perm)
			if rbac.ValidatePattern(perm) != nil {
				var inv *rbac.InvalidError
				assert.ErrorAs(t, err, &inv, "invalid permission %q", perm)
			}
			_ = a.DeleteRole(ctx, "fuzz")
		}
	})
}
