package sqlstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/auth/authtest"
	"github.com/portico-dev/portico/internal/dbtest"
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
