package authn

import (
	"sync"

	"github.com/edgegate/edgegate/internal/identity"
)

const cacheShards = 16

// tokenCache remembers verified tokens by the SHA-256 of the token. It is
// bounded in entries; when a shard is full an expired entry, or else an
// arbitrary one, makes room.
type tokenCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cacheEntry
}

// cacheEntry is one verified token.
type cacheEntry struct {
	id *identity.Identity
	v  *Verifier
	// k is the key that verified it (nil for HMAC): its removal from the
	// issuer's key set ends the entry.
	k *key
	// exp is the token's exp in unix nanoseconds: the entry never
	// outlives it.
	exp int64
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

func (c *tokenCache) get(h *[32]byte, now int64) *cacheEntry {
	sh := &c.shards[h[0]%cacheShards]
	sh.mu.RLock()
	e := sh.m[*h]
	sh.mu.RUnlock()
	if e == nil || now >= e.exp || e.k != nil && e.k.removed.Load() {
		return nil
	}
	return e
}

func (c *tokenCache) put(h *[32]byte, e *cacheEntry, now int64) {
	sh := &c.shards[h[0]%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[*h]; !ok && len(sh.m) >= c.perShard {
		// Map iteration starts at a random place: look at a few entries,
		// drop the dead ones, and if none was dead drop the first seen.
		var victim [32]byte
		seen, freed := 0, false
		for k, old := range sh.m {
			if seen == 0 {
				victim = k
			}
			if now >= old.exp || old.k != nil && old.k.removed.Load() {
				delete(sh.m, k)
				freed = true
			}
			if seen++; seen >= 8 {
				break
			}
		}
		if !freed {
			delete(sh.m, victim)
		}
	}
	sh.m[*h] = e
}

// len counts the entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
