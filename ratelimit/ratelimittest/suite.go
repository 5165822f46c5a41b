// Package ratelimittest checks a ratelimit.Store implementation against the
// Store contract.
package ratelimittest

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/portico-dev/portico/ratelimit"
)

// RunStore runs the conformance suite. newStore returns an empty store for
// each subtest; the subtests use distinct bucket names, so a shared backend
// may hand out the same one.
func RunStore(t *testing.T, newStore func(t *testing.T) ratelimit.Store) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	perMinute := func(bucket, key string, n int) ratelimit.Hit {
		return ratelimit.Hit{Bucket: bucket, Key: key, Rate: rate.Limit(float64(n) / 60), Burst: n}
	}
	take := func(t *testing.T, s ratelimit.Store, now time.Time, hits ...ratelimit.Hit) (int, []ratelimit.Level) {
		t.Helper()
		levels := make([]ratelimit.Level, len(hits))
		denied, err := s.Take(context.Background(), now, hits, levels)
		require.NoError(t, err)
		return denied, levels
	}

	t.Run("BurstThenDenied", func(t *testing.T) {
		s := newStore(t)
		h := perMinute("burst", "k", 5) // a token every 12 s
		for i := range 5 {
			denied, lv := take(t, s, t0, h)
			require.Equal(t, -1, denied, "take %d of a burst of 5", i+1)
			assert.Equal(t, 4-i, lv[0].Remaining, "remaining after take %d", i+1)
			assert.Equal(t, time.Duration(i+1)*12*time.Second, lv[0].Reset, "reset after take %d", i+1)
			if i < 4 {
				assert.Zero(t, lv[0].Wait, "wait with tokens left")
			}
		}
		denied, lv := take(t, s, t0, h)
		require.Equal(t, 0, denied, "the sixth take is denied")
		assert.Equal(t, ratelimit.Level{Remaining: 0, Reset: time.Minute, Wait: 12 * time.Second}, lv[0])
	})

	t.Run("Refill", func(t *testing.T) {
		s := newStore(t)
		h := perMinute("refill", "k", 5)
		for range 5 {
			take(t, s, t0, h)
		}
		denied, lv := take(t, s, t0.Add(6*time.Second), h)
		require.Equal(t, 0, denied, "half a token is not a token")
		assert.Equal(t, 6*time.Second, lv[0].Wait, "the wait is the remaining half token's refill")
		assert.Equal(t, 54*time.Second, lv[0].Reset)

		denied, lv = take(t, s, t0.Add(6*time.Second).Add(lv[0].Wait), h)
		require.Equal(t, -1, denied, "waiting exactly Wait suffices")
		assert.Equal(t, 0, lv[0].Remaining)

		denied, lv = take(t, s, t0.Add(time.Hour), h)
		require.Equal(t, -1, denied)
		assert.Equal(t, 4, lv[0].Remaining, "a bucket refills to its burst and no further")
	})

	t.Run("DenialTakesNothingFromOthers", func(t *testing.T) {
		s := newStore(t)
		wide, narrow := perMinute("atomic-wide", "k", 5), perMinute("atomic-narrow", "k", 1)
		denied, _ := take(t, s, t0, narrow)
		require.Equal(t, -1, denied)

		denied, lv := take(t, s, t0, wide, narrow)
		require.Equal(t, 1, denied, "the empty bucket is named")
		assert.Equal(t, 5, lv[0].Remaining, "the full bucket reports its state untouched")
		assert.Equal(t, 0, lv[1].Remaining)

		denied, lv = take(t, s, t0, wide)
		require.Equal(t, -1, denied)
		assert.Equal(t, 4, lv[0].Remaining, "the denial took no token from the other bucket")
	})

	t.Run("FirstEmptyIsNamed", func(t *testing.T) {
		s := newStore(t)
		a, b, c := perMinute("first-a", "k", 3), perMinute("first-b", "k", 1), perMinute("first-c", "k", 1)
		take(t, s, t0, b, c)
		denied, _ := take(t, s, t0, a, b, c)
		assert.Equal(t, 1, denied, "the first of two empty buckets is named")
		denied, _ = take(t, s, t0, c, a, b)
		assert.Equal(t, 0, denied)
	})

	t.Run("AllTakenTogether", func(t *testing.T) {
		s := newStore(t)
		a, b := perMinute("together-a", "k", 3), perMinute("together-b", "k", 2)
		denied, lv := take(t, s, t0, a, b)
		require.Equal(t, -1, denied)
		assert.Equal(t, 2, lv[0].Remaining)
		assert.Equal(t, 1, lv[1].Remaining)
	})

	t.Run("SameBucketTwiceNeedsTwoTokens", func(t *testing.T) {
		s := newStore(t)
		h := perMinute("twice", "k", 1)
		denied, _ := take(t, s, t0, h, h)
		require.Equal(t, 1, denied, "one token cannot serve two hits")
		denied, lv := take(t, s, t0, h)
		require.Equal(t, -1, denied, "the denied pair took nothing")
		assert.Equal(t, 0, lv[0].Remaining)
	})

	t.Run("KeysAndBucketsAreSeparate", func(t *testing.T) {
		s := newStore(t)
		for _, h := range []ratelimit.Hit{
			perMinute("sep", "a", 1), perMinute("sep", "b", 1), perMinute("sep2", "a", 1),
			perMinute("sep", "", 1), perMinute("sep", "ünïcødé", 1), perMinute("sep", strings.Repeat("x", 1024), 1),
			// a store that joins bucket and key must not make these collide
			perMinute("sep\x00x", "y", 1), perMinute("sep", "x\x00y", 1), perMinute("sep\x00", "x\x00y", 1),
		} {
			denied, _ := take(t, s, t0, h)
			require.Equal(t, -1, denied, "first take of bucket %q key %q", h.Bucket, h.Key)
		}
	})

	t.Run("Reshape", func(t *testing.T) {
		s := newStore(t)
		h := perMinute("reshape", "k", 5)
		take(t, s, t0, h) // 4 left
		h.Burst = 2
		denied, lv := take(t, s, t0, h)
		require.Equal(t, -1, denied)
		assert.Equal(t, 1, lv[0].Remaining, "a smaller burst caps the tokens")
		h.Rate = 1 // a token a second
		denied, _ = take(t, s, t0, h)
		require.Equal(t, -1, denied)
		denied, lv = take(t, s, t0.Add(time.Second), h)
		require.Equal(t, -1, denied, "the new rate applies")
		assert.Equal(t, 0, lv[0].Remaining)
	})

	t.Run("ClockGoingBackAddsNothing", func(t *testing.T) {
		s := newStore(t)
		h := perMinute("back", "k", 2)
		take(t, s, t0, h)
		take(t, s, t0, h)
		denied, _ := take(t, s, t0.Add(-time.Hour), h)
		assert.Equal(t, 0, denied, "an earlier time mints no tokens")

		h = perMinute("back-later", "k", 2) // a token every 30 s
		take(t, s, t0, h)
		denied, _ = take(t, s, t0.Add(-time.Hour), h)
		require.Equal(t, -1, denied, "the last token, taken at an earlier time")
		denied, _ = take(t, s, t0.Add(time.Second), h)
		assert.Equal(t, 0, denied, "a take at an earlier time does not date the bucket back: the hour is not refilled")
	})

	t.Run("InvalidHits", func(t *testing.T) {
		s := newStore(t)
		good := perMinute("invalid", "k", 1)
		for name, h := range map[string]ratelimit.Hit{
			"zero rate":     {Bucket: "invalid", Key: "k", Rate: 0, Burst: 1},
			"negative rate": {Bucket: "invalid", Key: "k", Rate: -1, Burst: 1},
			"infinite rate": {Bucket: "invalid", Key: "k", Rate: rate.Inf, Burst: 1},
			"NaN rate":      {Bucket: "invalid", Key: "k", Rate: rate.Limit(math.NaN()), Burst: 1},
			"zero burst":    {Bucket: "invalid", Key: "k", Rate: 1, Burst: 0},
		} {
			_, err := s.Take(context.Background(), t0, []ratelimit.Hit{good, h}, make([]ratelimit.Level, 2))
			require.ErrorIs(t, err, ratelimit.ErrInvalidHit, name)
		}
		denied, _ := take(t, s, t0, good)
		assert.Equal(t, -1, denied, "a refused call took nothing")
	})

	t.Run("NoHits", func(t *testing.T) {
		denied, err := newStore(t).Take(context.Background(), t0, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, -1, denied)
	})

	t.Run("ConcurrentTakesNeverExceedTheBurst", func(t *testing.T) {
		s := newStore(t)
		shared := perMinute("race-shared", "k", 100)
		allowed := concurrentTakes(t, s, t0, 16, 20, func(g int) []ratelimit.Hit {
			return []ratelimit.Hit{perMinute("race-own", string(rune('a'+g)), 1000), shared}
		})
		assert.EqualValues(t, 100, allowed, "320 concurrent takes on a burst of 100")
	})

	t.Run("Sweep", func(t *testing.T) {
		s := newStore(t)
		sw, ok := s.(ratelimit.Sweeper)
		if !ok {
			t.Skip("the store is not a Sweeper")
		}
		ctx := context.Background()
		h := perMinute("sweep", "k", 5)
		take(t, s, t0, h)
		take(t, s, t0, h)
		_, err := sw.Sweep(ctx, t0)
		require.NoError(t, err)
		_, lv := take(t, s, t0, h)
		require.Equal(t, 2, lv[0].Remaining, "a bucket that is not full survives a sweep")

		later := t0.Add(24 * time.Hour)
		n, err := sw.Sweep(ctx, later)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, 1, "the bucket is full a day later and is dropped")
		if r, ok := s.(ratelimit.Reporter); ok {
			st, err := r.StoreStats(ctx)
			require.NoError(t, err)
			assert.Zero(t, st.Keys, "every bucket is full a day later")
			assert.GreaterOrEqual(t, st.Swept, uint64(n), "the sweep is counted")
		}
		_, lv = take(t, s, later, h)
		assert.Equal(t, 4, lv[0].Remaining, "a swept bucket starts full again")
	})

	t.Run("SweepsDuringTakesLoseNothing", func(t *testing.T) {
		s := newStore(t)
		sw, ok := s.(ratelimit.Sweeper)
		if !ok {
			t.Skip("the store is not a Sweeper")
		}
		shared := perMinute("sweep-race", "k", 50)
		done := make(chan struct{})
		sweeps := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-done:
					sweeps <- n
					return
				default:
				}
				if _, err := sw.Sweep(context.Background(), t0); err != nil {
					t.Error(err)
				}
				n++
			}
		}()
		allowed := concurrentTakes(t, s, t0, 8, 10, func(int) []ratelimit.Hit { return []ratelimit.Hit{shared} })
		close(done)
		require.Positive(t, <-sweeps, "sweeps ran during the takes")
		assert.EqualValues(t, 50, allowed, "80 takes on a burst of 50 with sweeps running: a sweep never refills a bucket in use")
	})
}

// concurrentTakes runs takes Takes at now in each of goroutines
// goroutines, goroutine g taking hits(g), and returns how many were
// allowed.
func concurrentTakes(t *testing.T, s ratelimit.Store, now time.Time, goroutines, takes int, hits func(g int) []ratelimit.Hit) int64 {
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			h := hits(g)
			levels := make([]ratelimit.Level, len(h))
			for range takes {
				denied, err := s.Take(context.Background(), now, h, levels)
				if err != nil {
					t.Error(err)
					return
				}
				if denied < 0 {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return allowed.Load()
}
