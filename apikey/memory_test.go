package apikey_test

import (
	"testing"

	"github.com/portico-dev/portico/apikey"
	"github.com/portico-dev/portico/apikey/apikeytest"
)

func TestMemoryStore(t *testing.T) {
	apikeytest.RunStore(t, func(*testing.T) apikey.Store { return apikey.NewMemoryStore() })
}
