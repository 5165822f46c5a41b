package auth_test

import (
	"testing"

	"github.com/portico-dev/portico/auth"
	"github.com/portico-dev/portico/auth/authtest"
)

func TestMemoryStore(t *testing.T) {
	authtest.RunStore(t, func(*testing.T) auth.Store { return auth.NewMemoryStore() })
}
