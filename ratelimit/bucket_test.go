package ratelimit_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/portico-dev/portico/ratelimit"
)

func TestTakeBuckets(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hit := ratelimit.Hit{Bucket: "b", Key: "k", Rate: 2, Burst: 4}

	t.Run("a zero bucket starts full and is taken from", func(t *testing.T) {
		var b ratelimit.Bucket
		levels := make([]ratelimit.Level, 1)
		denied, err := ratelimit.TakeBuckets(t0, []ratelimit.Hit{hit}, []*ratelimit.Bucket{&b}, levels)
		require.NoError(t, err)
		assert.Equal(t, -1, denied)
		assert.Equal(t, ratelimit.Bucket{Tokens: 3, Updated: t0, Rate: 2, Burst: 4}, b)
		assert.Equal(t, ratelimit.Level{Remaining: 3, Reset: 500 * time.Millisecond}, levels[0])
		assert.Equal(t, t0.Add(500*time.Millisecond), b.FullAt(), "a token at 2 a second")
		assert.Equal(t, 4.0, b.TokensAt(t0.Add(time.Hour)), "capped at the burst")
		assert.Equal(t, 3.0, b.TokensAt(t0.Add(-time.Hour)), "an earlier time adds nothing")
	})

	t.Run("a refused call changes no bucket", func(t *testing.T) {
		b := ratelimit.Bucket{Tokens: 1, Updated: t0, Rate: 2, Burst: 4}
		before := b
		bad := hit
		bad.Rate = rate.Limit(math.NaN())
		_, err := ratelimit.TakeBuckets(t0, []ratelimit.Hit{hit, bad}, []*ratelimit.Bucket{&b, &b}, make([]ratelimit.Level, 2))
		require.ErrorIs(t, err, ratelimit.ErrInvalidHit)
		_, err = ratelimit.TakeBuckets(t0, []ratelimit.Hit{hit, hit}, []*ratelimit.Bucket{&b}, make([]ratelimit.Level, 2))
		require.Error(t, err, "a bucket for every hit")
		_, err = ratelimit.TakeBuckets(t0, []ratelimit.Hit{hit}, []*ratelimit.Bucket{&b}, nil)
		require.Error(t, err, "a level for every hit")
		assert.Equal(t, before, b)
	})

	t.Run("a rate too slow to express saturates instead of overflowing", func(t *testing.T) {
		slow := ratelimit.Hit{Bucket: "b", Key: "k", Rate: 1e-12, Burst: 100}
		var b ratelimit.Bucket
		levels := make([]ratelimit.Level, 1)
		_, err := ratelimit.TakeBuckets(t0, []ratelimit.Hit{slow}, []*ratelimit.Bucket{&b}, levels)
		require.NoError(t, err)
		assert.Equal(t, time.Duration(math.MaxInt64), levels[0].Reset)
		assert.True(t, b.FullAt().After(t0), "full in the far future, not the past")
	})
}
