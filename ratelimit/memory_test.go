package ratelimit_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/ratelimit"
	"github.com/portico-dev/portico/ratelimit/ratelimittest"
)

func TestMemoryStore(t *testing.T) {
	ratelimittest.RunStore(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		require.NoError(t, err)
		return s
	})
}

func TestMemoryStoreSmallCap(t *testing.T) {
	// The suite also holds when the cap forces evictions all the time.
	ratelimittest.RunStore(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{MaxKeys: 64, Shards: 4})
		require.NoError(t, err)
		return s
	})
}
