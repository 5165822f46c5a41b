package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/apikey/apikeytest"
	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/auth/authtest"
	"github.com/portico-dev/portico/extension"
	"github.com/portico-dev/portico/extension/extensiontest"
	"github.com/portico-dev/portico/internal/dbtest"
	"github.com/portico-dev/portico/orchestrator"
	"github.com/portico-dev/portico/orchestrator/orchestratortest"
	"github.com/portico-dev/portico/rbac"
	"github.com/portico-dev/portico/rbac/rbactest"
	"github.com/portico-dev/portico/sqlstore"
)

func TestAuthStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		authtest.RunStore(t, func(t *testing.T) auth.Store {
			s, err := open(t).Auth(context.Background())
			require.NoError(t, err)
			return s
		})
	})
}

func TestRBACStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		rbactest.RunStore(t, func(t *testing.T) rbac.Store {
			s, err := open(t).RBAC(context.Background())
			require.NoError(t, err)
			return s
		})
	})
}

func TestAPIKeyStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		apikeytest.RunStore(t, func(t *testing.T) apikey.Store {
			s, err := open(t).APIKey(context.Background())
			require.NoError(t, err)
			return s
		})
	})
}

func TestExtensionStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		extensiontest.RunStore(t, func(t *testing.T) extension.Store {
			s, err := open(t).Extension(context.Background())
			require.NoError(t, err)
			return s
		})
	})
}

func TestOrchestratorStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		orchestratortest.RunStore(t, func(t *testing.T) orchestrator.Store {
			s, err := open(t).Orchestrator(context.Background())
			require.NoError(t, err)
			return s
		})
	})
}

func rbacAssignment(group string) rbac.Assignment {
	return rbac.Assignment{Group: group, Roles: []string{"viewer"}, UpdatedAt: time.Now()}
}
