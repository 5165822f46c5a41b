package rbac_test

import (
	"testing"

	"github.com/portico-dev/portico/rbac"
	"github.com/portico-dev/portico/rbac/rbactest"
)

func TestMemoryStore(t *testing.T) {
	rbactest.RunStore(t, func(*testing.T) rbac.Store { return rbac.NewMemoryStore() })
}
