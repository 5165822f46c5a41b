package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures a MemoryStore.
type MemoryConfig struct {
	// MaxKeys caps the number of buckets held; each shard holds at most
	// its share, so eviction can begin a little below the cap. Zero:
	// 100,000, about 7 MB (BenchmarkAllow reports the bytes per key).
	MaxKeys int
	// Shards is the number of independently locked partitions, rounded up
	// to a power of two. Zero: 256.
	Shards int
}

// MemoryStore is a Store in process memory: buckets in a sharded map, each
// shard with its own lock, so concurrent requests for different clients
// rarely wait for each other and nothing locks the whole store on the hot
// path.
//
// Memory is bounded by MaxKeys. A shard at its share of the cap first drops
// full buckets (which loses nothing) from a sample of its entries, and
// failing that the fullest sampled bucket, counted as displaced. Sweep,
// called by Limiter.Run, drops every full bucket.
type MemoryStore struct {
	keySeed    maphash.Seed
	bucketSeed maphash.Seed
	mask       uint64
	perShard   int
	maxKeys    int
	shards     []memShard

	keys      atomic.Int64
	swept     atomic.Uint64
	displaced atomic.Uint64
}

type memShard struct {
	mu sync.Mutex
	m  map[uint64]*Bucket // by memHash of (bucket, key)
	_  [48]byte           // keep neighbouring shards' locks off one cache line
}

// evictSample is how many entries a full shard inspects to make room.
const evictSample = 32

var (
	_ Store    = (*MemoryStore)(nil)
	_ Sweeper  = (*MemoryStore)(nil)
	_ Reporter = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) (*MemoryStore, error) {
	if cfg.MaxKeys < 0 || cfg.Shards < 0 {
		return nil, errors.New("ratelimit: MemoryConfig.MaxKeys and Shards must not be negative")
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Shards == 0 {
		cfg.Shards = 256
	}
	n := 1 << bits.Len(uint(cfg.Shards-1))
	for n > 1 && n > cfg.MaxKeys {
		n >>= 1 // every shard holds at least one bucket
	}
	s := &MemoryStore{
		keySeed:    maphash.MakeSeed(),
		bucketSeed: maphash.MakeSeed(),
		mask:       uint64(n - 1),
		perShard:   cfg.MaxKeys / n,
		maxKeys:    cfg.MaxKeys,
		shards:     make([]memShard, n),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]*Bucket)
	}
	return s, nil
}

// memHash identifies a hit's bucket: independently seeded 64-bit hashes
// of the bucket name and of the key, combined. Buckets are stored by this
// hash alone, which keeps keys out of memory and makes a lookup one
// integer comparison. Two pairs collide with probability about n²/2⁶⁵
// (3 in 100 million at a million keys) and then share one bucket: the
// error limits more, never less. The seeds are random per store, so a
// collision cannot be aimed.
func (s *MemoryStore) memHash(h *Hit) uint64 {
	return maphash.String(s.keySeed, h.Key) ^ maphash.String(s.bucketSeed, h.Bucket)
}

// maxHitsOnStack bounds the hits Take handles without allocating.
const maxHitsOnStack = 8

// Take implements Store.
func (s *MemoryStore) Take(_ context.Context, now time.Time, hits []Hit, levels []Level) (int, error) {
	if len(levels) < len(hits) {
		return -1, errors.New("ratelimit: Take needs a level for every hit")
	}
	if err := validateHits(hits); err != nil {
		return -1, err
	}
	if len(hits) == 0 {
		return -1, nil
	}
	var hashBuf [maxHitsOnStack]uint64
	var lockBuf [maxHitsOnStack]uint32
	var bucketBuf [maxHitsOnStack]*Bucket
	hashes, locked, buckets := hashBuf[:0], lockBuf[:0], bucketBuf[:0]
	for i := range hits {
		h := s.memHash(&hits[i])
		hashes = append(hashes, h)
		locked = append(locked, uint32(h&s.mask))
	}
	// Lock each shard involved once, in ascending order, so that two Takes
	// over the same shards cannot deadlock.
	locked = sortUnique(locked)
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	for i := range hits {
		buckets = append(buckets, s.bucket(hashes, i, now))
	}
	denied := takeBuckets(now, hits, buckets, levels)
	for _, i := range locked {
		s.shards[i].mu.Unlock()
	}
	return denied, nil
}

// bucket returns hit i's bucket, whose shard's lock the caller holds. A
// bucket not held yet is added as the zero Bucket, for takeBuckets to
// fill, after making room for it if needed.
func (s *MemoryStore) bucket(hashes []uint64, i int, now time.Time) *Bucket {
	sh := &s.shards[hashes[i]&s.mask]
	if b, ok := sh.m[hashes[i]]; ok {
		return b
	}
	if len(sh.m) >= s.perShard {
		s.makeRoom(sh, hashes, now)
	}
	b := new(Bucket)
	sh.m[hashes[i]] = b
	s.keys.Add(1)
	return b
}

// makeRoom frees at least one slot in sh: every full bucket in a sample,
// or else the fullest sampled bucket. The buckets of the Take in progress
// (hashes) are spared.
func (s *MemoryStore) makeRoom(sh *memShard, hashes []uint64, now time.Time) {
	var victim uint64
	best, found, seen := -1.0, false, 0
	for k, b := range sh.m {
		if seen++; seen > evictSample {
			break
		}
		if slices.Contains(hashes, k) {
			continue
		}
		fill := b.TokensAt(now) / float64(b.Burst)
		if fill >= 1 {
			delete(sh.m, k)
			s.keys.Add(-1)
			s.swept.Add(1)
			found = true
			continue
		}
		if fill > best {
			victim, best = k, fill
		}
	}
	if found || best < 0 {
		return
	}
	delete(sh.m, victim)
	s.keys.Add(-1)
	s.displaced.Add(1)
}

// Sweep implements Sweeper: it drops every bucket that is full at now,
// locking one shard at a time.
func (s *MemoryStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, b := range sh.m {
			if b.TokensAt(now) >= float64(b.Burst) {
				delete(sh.m, k)
				removed++
			}
		}
		sh.mu.Unlock()
	}
	s.keys.Add(-int64(removed))
	s.swept.Add(uint64(removed))
	return removed, nil
}

// StoreStats implements Reporter.
func (s *MemoryStore) StoreStats(context.Context) (StoreStats, error) {
	return StoreStats{
		Keys:      int(s.keys.Load()),
		MaxKeys:   s.maxKeys,
		Swept:     s.swept.Load(),
		Displaced: s.displaced.Load(),
	}, nil
}

// Len returns the number of buckets held.
func (s *MemoryStore) Len() int { return int(s.keys.Load()) }

// sortUnique sorts a short slice in place and drops repeats.
func sortUnique(a []uint32) []uint32 {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	out := a[:0]
	for _, v := range a {
		if len(out) == 0 || v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}
