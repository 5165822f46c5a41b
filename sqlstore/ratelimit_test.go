package sqlstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/dbtest"
	"github.com/portico-dev/portico/ratelimit"
	"github.com/portico-dev/portico/sqlstore"
)

func TestRateLimitSweepsEveryFullBucketInBatches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, open func(testing.TB) *sqlstore.DB) {
		ctx := context.Background()
		db := open(t)
		s, err := db.RateLimit(ctx)
		require.NoError(t, err)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

		// More buckets than one sweep statement deletes, and one that
		// stays partly used.
		const n = 2500
		hits := make([]ratelimit.Hit, 0, 10)
		levels := make([]ratelimit.Level, 10)
		for i := 0; i < n; i += 10 {
			hits = hits[:0]
			for j := range 10 {
				hits = append(hits, ratelimit.Hit{Bucket: "ip", Key: "198.51.100." + strconv.Itoa(i+j), Rate: 1, Burst: 3})
			}
			denied, err := s.Take(ctx, t0, hits, levels)
			require.NoError(t, err)
			require.Equal(t, -1, denied)
		}
		slow := ratelimit.Hit{Bucket: "ip", Key: "203.0.113.9", Rate: 0.001, Burst: 3}
		_, err = s.Take(ctx, t0, []ratelimit.Hit{slow}, levels)
		require.NoError(t, err)

		removed, err := s.Sweep(ctx, t0.Add(time.Second))
		require.NoError(t, err)
		assert.Equal(t, n, removed, "every bucket refilled within the second is dropped")
		st, err := s.StoreStats(ctx)
		require.NoError(t, err)
		assert.Equal(t, ratelimit.StoreStats{Keys: 1, Swept: n}, st)

		var key []byte
		require.NoError(t, db.SQL().QueryRowContext(ctx, "SELECT id FROM ratelimit_buckets").Scan(&key))
		assert.Len(t, key, 32, "a bucket is stored under a hash of its name and key")
		assert.NotContains(t, string(key), "203.0.113.9")
	})
}

// BenchmarkRateLimitTake is one Take of a per-client bucket in SQL, the
// decision a shared limit adds to each request: over many clients (rows
// that do not contend) and over one hot bucket, where takes queue on its
// row.
func BenchmarkRateLimitTake(b *testing.B) {
	benchDialects(b, func(b *testing.B, open func(testing.TB) *sqlstore.DB) {
		for _, keys := range []int{10_000, 1} {
			b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
				s, err := open(b).RateLimit(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				hits := make([]ratelimit.Hit, keys)
				for i := range hits {
					hits[i] = ratelimit.Hit{Bucket: "general", Key: "198.51." + strconv.Itoa(i), Rate: 1e9, Burst: 1e9}
				}
				var seq atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					levels := make([]ratelimit.Level, 1)
					i := int(seq.Add(1)) * 7919 // goroutines start apart
					for pb.Next() {
						i++
						if _, err := s.Take(context.Background(), time.Now(), hits[i%keys:i%keys+1], levels); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})
}
