package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is one token bucket's state. MemoryStore keeps its buckets this
// way, and a Store that keeps them elsewhere (a database, a cache server)
// gets the same semantics by loading the bucket of every hit, calling
// TakeBuckets, and writing the buckets back, all in one transaction.
//
// The zero Bucket is one the store does not hold yet: TakeBuckets fills it
// to the hit's burst.
//
// The arithmetic is rate.Limiter's, done here because a rate.Limiter's
// state can be neither read out nor restored, so it could not be stored
// elsewhere, and because a rate.Limiter given an earlier time than its
// last dates itself back to it, which refills the gap on the next take.
// A Bucket never moves back in time: instances with slightly different
// clocks sharing it slow its refill a little and never speed it up.
type Bucket struct {
	// Tokens is what the bucket held at Updated. Just after a take it can
	// be a hair below zero: see hasTokens.
	Tokens float64
	// Updated is when Tokens was measured. It never moves backwards.
	Updated time.Time
	// Rate and Burst are the shape the bucket was last given.
	Rate  rate.Limit
	Burst int
}

// TokensAt returns what the bucket holds at now: Tokens plus the refill
// since Updated, capped at Burst. A time before Updated adds nothing.
func (b *Bucket) TokensAt(now time.Time) float64 {
	t := b.Tokens
	if now.After(b.Updated) {
		t += now.Sub(b.Updated).Seconds() * float64(b.Rate)
	}
	return min(t, float64(b.Burst))
}

// FullAt returns when the bucket, left alone, is full again; a store may
// forget it from then on, since a bucket it does not hold starts full.
func (b *Bucket) FullAt() time.Time {
	return b.Updated.Add(tokenTime(float64(b.Burst)-b.Tokens, b.Rate))
}

// TakeBuckets is Store.Take over buckets the caller holds: buckets[i] is
// hit i's bucket, and hits naming the same bucket share one *Bucket. It
// updates the buckets in place (filling new ones, reshaping those whose
// shape changed, and taking the tokens when every hit is allowed) and sets
// levels as Take does. It returns an error wrapping ErrInvalidHit, having
// changed nothing, for a malformed hit.
func TakeBuckets(now time.Time, hits []Hit, buckets []*Bucket, levels []Level) (denied int, err error) {
	if len(buckets) < len(hits) || len(levels) < len(hits) {
		return -1, errors.New("ratelimit: TakeBuckets needs a bucket and a level for every hit")
	}
	if err := validateHits(hits); err != nil {
		return -1, err
	}
	return takeBuckets(now, hits, buckets, levels), nil
}

// takeBuckets is TakeBuckets for valid hits.
func takeBuckets(now time.Time, hits []Hit, buckets []*Bucket, levels []Level) int {
	buckets = buckets[:len(hits)]
	for i, b := range buckets {
		b.shape(&hits[i], now)
	}
	denied := -1
	for i, b := range buckets {
		need := 1.0
		for _, prev := range buckets[:i] {
			if prev == b {
				need++
			}
		}
		if !hasTokens(b.TokensAt(now), need, b.Rate) {
			denied = i
			break
		}
	}
	for i, b := range buckets {
		if denied < 0 {
			b.set(b.TokensAt(now)-1, now)
		}
		levels[i] = levelOf(max(b.TokensAt(now), 0), b.Rate, b.Burst)
	}
	return denied
}

// shape fills a new bucket for h, or gives an existing one h's rate and
// burst from now on, keeping its tokens up to the new burst.
func (b *Bucket) shape(h *Hit, now time.Time) {
	switch {
	case b.Burst == 0:
		*b = Bucket{Tokens: float64(h.Burst), Updated: now, Rate: h.Rate, Burst: h.Burst}
	case b.Rate != h.Rate || b.Burst != h.Burst:
		tokens := b.TokensAt(now)
		b.Rate, b.Burst = h.Rate, h.Burst
		b.set(min(tokens, float64(h.Burst)), now)
	}
}

// set records that the bucket holds tokens at now, or at its last update
// if now is earlier: the clock going back must not mint tokens later.
func (b *Bucket) set(tokens float64, now time.Time) {
	b.Tokens = tokens
	if now.After(b.Updated) {
		b.Updated = now
	}
}

// hasTokens reports whether a bucket holding tokens can give need at rate
// r. Like rate.Limiter, it forgives a deficit that refills in under a
// nanosecond, so waiting Level.Wait always suffices despite rounding.
func hasTokens(tokens, need float64, r rate.Limit) bool {
	return (need-tokens)/float64(r)*float64(time.Second) < 1
}

// Validate reports a hit a Store must refuse, wrapping ErrInvalidHit.
func (h *Hit) Validate() error {
	if !(h.Rate > 0) || h.Rate >= rate.Inf || math.IsInf(float64(h.Rate), 0) {
		return fmt.Errorf("%w: bucket %q: rate %v is not a positive finite number", ErrInvalidHit, h.Bucket, h.Rate)
	}
	if h.Burst < 1 {
		return fmt.Errorf("%w: bucket %q: burst %d is below 1", ErrInvalidHit, h.Bucket, h.Burst)
	}
	return nil
}

func validateHits(hits []Hit) error {
	for i := range hits {
		if err := hits[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// levelOf describes a bucket holding tokens.
func levelOf(tokens float64, r rate.Limit, burst int) Level {
	l := Level{Remaining: int(math.Floor(tokens)), Reset: tokenTime(float64(burst)-tokens, r)}
	if l.Remaining < 0 {
		l.Remaining = 0
	}
	if tokens < 1 {
		l.Wait = tokenTime(1-tokens, r)
	}
	return l
}

// tokenTime is the time r takes to add n tokens, rounded up to the
// nanosecond so that waiting it always suffices, and capped at the longest
// Duration for a rate so slow that it would overflow.
func tokenTime(n float64, r rate.Limit) time.Duration {
	if n <= 0 {
		return 0
	}
	d := math.Ceil(n / float64(r) * float64(time.Second))
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}
