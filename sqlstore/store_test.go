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
	"github.com/portico-dev/portico/ratelimit"
	"github.com/portico-dev/portico/ratelimit/ratelimittest"
	"github.com/portico-dev/portico/rbac"
	"github.com/portico-dev/portico/rbac/rbactest"
	"github.com/portico-dev/portico/sqlstore"
)

func TestAuthStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		authtest.RunStore(t, storeOf[auth.Store](open, (*sqlstore.DB).Auth))
	})
}

func TestRBACStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		rbactest.RunStore(t, storeOf[rbac.Store](open, (*sqlstore.DB).RBAC))
	})
}

func TestAPIKeyStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		apikeytest.RunStore(t, storeOf[apikey.Store](open, (*sqlstore.DB).APIKey))
	})
}

func TestExtensionStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		extensiontest.RunStore(t, storeOf[extension.Store](open, (*sqlstore.DB).Extension))
	})
}

func TestOrchestratorStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		orchestratortest.RunStore(t, storeOf[orchestrator.Store](open, (*sqlstore.DB).Orchestrator))
	})
}

func rbacAssignment(group string) rbac.Assignment {
	return rbac.Assignment{Group: group, Roles: []string{"viewer"}, UpdatedAt: time.Now()}
}

// storeOf opens a fresh database per test and takes a store from it.
func storeOf[S any, T any](open func(testing.TB) *sqlstore.DB, get func(*sqlstore.DB, context.Context) (T, error)) func(t *testing.T) S {
	return func(t *testing.T) S {
		s, err := get(open(t), context.Background())
		require.NoError(t, err)
		return any(s).(S)
	}
}

func TestRateLimitStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ratelimittest.RunStore(t, storeOf[ratelimit.Store](open, (*sqlstore.DB).RateLimit))
	})
}
