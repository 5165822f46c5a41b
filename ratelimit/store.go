package ratelimit

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"
)

// Hit asks a Store for one token from one bucket.
type Hit struct {
	// Bucket names the bucket within the store: the policy's name, and for
	// a policy with Prefixes the matched prefix too.
	Bucket string
	// Key is the client's key under the policy (an IP, a subject, a key id).
	Key string
	// Rate is the refill rate in tokens per second; it must be positive.
	Rate rate.Limit
	// Burst is the bucket's capacity; it must be at least 1. A bucket the
	// store does not hold yet starts full.
	Burst int
}

// Level is a bucket's state after a Take.
type Level struct {
	// Remaining is the number of whole tokens left.
	Remaining int
	// Reset is the time until the bucket is full again.
	Reset time.Duration
	// Wait is the time until the bucket holds a whole token; zero when it
	// holds one now.
	Wait time.Duration
}

// Store holds token buckets. The memory implementation is the default; a
// shared backend (Redis, SQL) lets several instances enforce one limit.
//
// Take decides hits atomically at now: if every hit's bucket holds a whole
// token it takes one from each and returns -1; otherwise it takes nothing
// from any of them and returns the index of the first hit whose bucket is
// empty. Hits naming the same bucket twice need two tokens from it. Either
// way it sets levels[i] to hit i's state after the call; levels is at least
// as long as hits. A bucket whose Rate or Burst differs from the hit's is
// reshaped to the hit's, keeping its tokens (capped at the new burst). A
// time before a bucket's last update adds no tokens.
//
// Take returns an error wrapping ErrInvalidHit for a hit with a rate that
// is not positive or finite, or a burst below 1, and the backend's error
// when it cannot decide; it must not retain hits or levels after returning.
// RunStore in package ratelimittest checks an implementation against this
// contract.
type Store interface {
	Take(ctx context.Context, now time.Time, hits []Hit, levels []Level) (denied int, err error)
}

// Optional Store capabilities, used by Limiter.Run and Limiter.Stats.
type (
	// Sweeper drops buckets that are full at now: forgetting a full bucket
	// loses nothing, since a new one starts full.
	Sweeper interface {
		Sweep(ctx context.Context, now time.Time) (removed int, err error)
	}
	// Reporter reports how much the store holds.
	Reporter interface {
		StoreStats(ctx context.Context) (StoreStats, error)
	}
)

// StoreStats is what a Reporter reports.
type StoreStats struct {
	// Keys is the number of buckets tracked now.
	Keys int `json:"keys"`
	// MaxKeys is the cap on Keys; zero when the store has none.
	MaxKeys int `json:"max_keys"`
	// Swept counts buckets dropped because they were full: harmless.
	Swept uint64 `json:"swept"`
	// Displaced counts buckets that were not full but were dropped to stay
	// under MaxKeys. Each gave its client a fresh burst; a rising count
	// means MaxKeys is too small for the traffic.
	Displaced uint64 `json:"displaced"`
}

// ErrInvalidHit is wrapped by a Store's error for a malformed Hit.
var ErrInvalidHit = errors.New("ratelimit: invalid hit")
