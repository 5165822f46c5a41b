package auth

import (
	"sync"
	"time"
)

// tokenCache remembers tokens that verified, keyed by the exact token
// string, so a repeated token skips the signature check and the store
// lookup. Revocation removes entries before it returns, so a hit is as good
// as a full check.
//
// The race it closes: a verification that read a record just before the
// record was deleted must not put it into the cache just after the
// revocation cleared it. Each revocation bumps gen, and put refuses an entry
// whose verification began under an older gen.
type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]*cacheEntry
	gen     uint64
	max     int
}

type cacheEntry struct {
	p      Principal
	rec    TokenRecord
	exp    int64  // unix nanoseconds, leeway included
	keyVer uint64 // KeySet version the signature was checked under
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: make(map[string]*cacheEntry), max: max}
}

// get returns the entry for token if it is live at now under key set
// version keyVer.
func (c *tokenCache) get(token string, now time.Time, keyVer uint64) (*cacheEntry, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || e.keyVer != keyVer || now.UnixNano() >= e.exp {
		return nil, false
	}
	return e, true
}

// generation is read before a verification starts and handed to put.
func (c *tokenCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *tokenCache) put(token string, e *cacheEntry, gen uint64, now time.Time) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[token] = e
}

// evict drops expired entries, and if none were, an arbitrary eighth of the
// cache (map order is random), so a full cache costs one sweep per many puts.
func (c *tokenCache) evict(now time.Time) {
	t := now.UnixNano()
	for k, e := range c.entries {
		if t >= e.exp {
			delete(c.entries, k)
		}
	}
	drop := len(c.entries) - c.max + max(c.max/8, 1)
	for k := range c.entries {
		if drop <= 0 {
			break
		}
		delete(c.entries, k)
		drop--
	}
}

// invalidate removes every entry whose record f selects.
func (c *tokenCache) invalidate(f TokenFilter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if f.Match(e.rec) {
			delete(c.entries, k)
		}
	}
}
