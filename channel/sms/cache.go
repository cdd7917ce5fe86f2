package sms

import (
	"strings"
	"sync"
)

// DefaultNormalizeCache is the number of inputs a Channel remembers
// NormalizeAddress's answer for when Config.NormalizeCache is zero.
const DefaultNormalizeCache = 8192

// normalized is one answer of NormalizeAddress: the E.164 number, or the
// refusal (a *phoneError, which holds no field name: the Dispatcher adds
// that, so one answer serves every caller).
type normalized struct {
	e164 string
	err  error
}

// addressCache maps NormalizeAddress's inputs to its answers, for one
// Channel (the answers depend on its Config). It keeps two generations of
// at most half its size each: a new entry goes into the current one; when
// that is full it becomes the previous one and the previous one is
// dropped; an entry found in the previous one moves back to the current
// one. So it holds at most size entries, and an input asked for at least
// once per half-size distinct inputs stays in. It is safe for concurrent
// use.
type addressCache struct {
	size int // entries at most, ≥ 1
	half int // entries of the current generation at most, ≥ 1

	mu        sync.Mutex
	cur, prev map[string]normalized
}

// newAddressCache returns a cache of at most size entries, or nil (no
// cache) when size is not positive.
func newAddressCache(size int) *addressCache {
	if size <= 0 {
		return nil
	}
	return &addressCache{size: size, half: max(size/2, 1)}
}

// get returns the answer remembered for in.
func (c *addressCache) get(in string) (normalized, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[in]; ok {
		return v, true
	}
	if v, ok := c.prev[in]; ok {
		delete(c.prev, in)
		c.add(cacheKey(in, v), v)
		return v, true
	}
	return normalized{}, false
}

// put remembers v as the answer for in.
func (c *addressCache) put(in string, v normalized) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[in]; ok {
		return
	}
	if _, ok := c.prev[in]; ok {
		return
	}
	c.add(cacheKey(in, v), v)
}

// cacheKey is the cache's key for in, whose answer is v: v.e164 when that is
// in (NormalizeAddress's answers are strings of their own), else a copy
// of in (the caller's string may be part of a larger buffer).
func cacheKey(in string, v normalized) string {
	if v.e164 == in {
		return v.e164
	}
	return strings.Clone(in)
}

// add inserts k, which is in neither generation; c.mu is held.
func (c *addressCache) add(k string, v normalized) {
	switch {
	case c.cur == nil:
		c.cur = make(map[string]normalized, c.half)
	case len(c.cur) >= c.half:
		// The previous generation's table, emptied, is the new current
		// one: no allocation once both exist.
		c.prev, c.cur = c.cur, c.prev
		if c.cur == nil {
			c.cur = make(map[string]normalized, c.half)
		}
		clear(c.cur)
	}
	if len(c.cur)+len(c.prev) >= c.size {
		// Only when size is 1 (half is then 1 too): make room.
		for old := range c.prev {
			delete(c.prev, old)
			break
		}
	}
	c.cur[k] = v
}

// len returns the number of entries.
func (c *addressCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}
