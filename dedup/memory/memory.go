// Package memory is a notify.Deduper held in the process's memory, for one
// process and for tests.
//
// Guarantees:
//   - Claims are atomic: of many simultaneous claims of one key exactly one
//     wins, and every loser learns the holder.
//   - A claim lasts its ttl; after that the key is free again. A live claim
//     is never dropped before its ttl: when Config.MaxKeys live claims are
//     held, Claim of a new key refuses with an error wrapping ErrFull (the
//     Dispatcher's Send then fails with notify.ErrNotQueued, nothing
//     stored) rather than forget an older claim and let its event be sent
//     twice.
//   - Memory is bounded by Config.MaxKeys, counted across the whole
//     Deduper: claims whose ttl has passed are dropped, oldest first, as
//     new ones arrive. A claim costs about 190 bytes of heap, measured
//     with a UUID owner (the Dispatcher's notification IDs) and a 12-byte
//     key (longer keys add their length; an owner that is not a canonical
//     UUID adds a string and a map entry): the default 1,000,000 claims
//     hold about 180 MiB. Size MaxKeys above the claims made within a ttl
//     (Config.DedupTTL times the peak Send rate).
//   - Safe for concurrent use; keys are spread over shards, each with its
//     own lock. No goroutine is started.
//
// Limits:
//   - Claims live in one process: two processes each with its own Deduper do
//     not see each other's claims. Use dedup/redis across processes.
//   - Claims are dropped in the order they were made. With one ttl for
//     every claim (as the Dispatcher's DedupTTL) that is the order they
//     expire in; with mixed ttls, an expired claim made after a longer one
//     still live is dropped only when that one expires, and counts
//     against MaxKeys until then. The same holds behind a longer claim
//     that was released, until its ttl would have passed, except when
//     MaxKeys claims are held: then released claims are skipped.
package memory

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/idmap"
	"github.com/gonotify/notify/internal/uuidtext"
)

// Config configures a Deduper. The zero value is usable.
type Config struct {
	// MaxKeys bounds how many claims are held. When a new claim would pass
	// it, expired claims are dropped; when every claim held is live, Claim
	// refuses with an error wrapping ErrFull. Default 1,000,000.
	MaxKeys int
}

// ErrFull is wrapped by the error of a Claim refused because
// Config.MaxKeys live claims are held.
var ErrFull = errors.New("dedup/memory: full of live claims")

const shards = 16

// Deduper is an in-memory notify.Deduper. Build one with New. It is safe
// for concurrent use.
type Deduper struct {
	seed   maphash.Seed
	start  time.Time // times are kept as offsets from start
	max    int64
	held   atomic.Int64 // claims in every shard's map, expired or not
	shards [shards]shard
}

var _ notify.Deduper = (*Deduper)(nil)

type shard struct {
	mu     sync.Mutex
	seq    uint64
	claims *idmap.Map[claim] // keyed by the keys' hashes (see idmap)
	// others holds the owners of claims that are not canonical UUIDs.
	others map[string]string
	// order lists claims oldest first; order[head:] is live. An entry whose
	// seq no longer matches its key's claim is stale (released, expired or
	// claimed again) and is skipped.
	order []entry
	head  int
}

// claim is one key's claim. Its owner is kept as 16 bytes when it is a
// canonical UUID (no string per claim), else in shard.others.
type claim struct {
	key     string
	id      uuid.UUID
	expires time.Duration // offset from Deduper.start
	seq     uint64        // top bit: the owner is in shard.others
}

const otherOwner = 1 << 63

type entry struct {
	key     string
	seq     uint64
	expires time.Duration // its claim's, when pushed
}

// New returns an empty Deduper.
func New(cfg Config) *Deduper {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1_000_000
	}
	d := &Deduper{seed: maphash.MakeSeed(), start: time.Now(), max: int64(cfg.MaxKeys)}
	for i := range d.shards {
		d.shards[i] = shard{claims: idmap.New(func(c claim) string { return c.key }, 0)}
	}
	return d
}

func (d *Deduper) shard(key string) *shard {
	return &d.shards[maphash.String(d.seed, key)%shards]
}

// owner returns c's owner. s.mu is held.
func (s *shard) owner(key string, c claim) string {
	if c.seq&otherOwner != 0 {
		return s.others[key]
	}
	return c.id.String()
}

// Claim claims key for owner for ttl. It reports whether this call won and,
// when it did not, the owner that holds the key. A ttl <= 0 claims nothing
// and wins. It fails only when Config.MaxKeys live claims are held (an
// error wrapping ErrFull): then nothing is claimed.
func (d *Deduper) Claim(_ context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	if ttl <= 0 {
		return true, "", nil
	}
	now := time.Since(d.start)
	s := d.shard(key)
	h := s.claims.Hash(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	for swept := false; ; swept = true {
		c, ok := s.claims.GetAt(h, key)
		if ok && c.expires > now {
			return false, s.owner(key, c), nil
		}
		// A key not held is not held after dropExpired either; a key held
		// (expired) is looked up again only when something was dropped.
		if d.dropExpired(s, now, swept) > 0 && ok {
			_, ok = s.claims.GetAt(h, key)
		}
		if ok || d.reserve() {
			break // an expired claim of key still held is replaced in place
		}
		if swept {
			held := d.held.Load()
			return false, "", fmt.Errorf("dedup/memory: claim %q: %d live claims held, at most %d (Config.MaxKeys): %w; raise MaxKeys above the claims made within a ttl, or retry once some expire",
				key, held, d.max, ErrFull)
		}
		// Full: drop what has expired in the other shards, then look again.
		s.mu.Unlock()
		d.sweep(now, s)
		s.mu.Lock()
	}
	s.seq++
	c := claim{key: key, expires: now + ttl, seq: s.seq}
	if id, ok := canonicalUUID(owner); ok {
		c.id = id
		delete(s.others, key)
	} else {
		c.seq |= otherOwner
		if s.others == nil {
			s.others = make(map[string]string)
		}
		s.others[key] = owner
	}
	s.claims.PutAt(h, c)
	s.push(entry{key: key, seq: s.seq, expires: c.expires})
	return true, "", nil
}

// canonicalUUID parses s when it is a UUID in canonical form (lowercase,
// hyphenated), which its String gives back exactly.
func canonicalUUID(s string) (uuid.UUID, bool) {
	id, ok := uuidtext.Parse(s)
	return uuid.UUID(id), ok
}

// reserve counts one more claim unless MaxKeys are held.
func (d *Deduper) reserve() bool {
	for {
		n := d.held.Load()
		if n >= d.max {
			return false
		}
		if d.held.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// sweep drops the expired claims of every shard but skip (whose lock the
// caller held).
func (d *Deduper) sweep(now time.Duration, skip *shard) {
	for i := range d.shards {
		s := &d.shards[i]
		if s == skip {
			continue
		}
		s.mu.Lock()
		d.dropExpired(s, now, true)
		s.mu.Unlock()
	}
}

// Release drops key if owner holds it; otherwise it does nothing. It never
// fails.
func (d *Deduper) Release(_ context.Context, key, owner string) error {
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims.Get(key); ok && s.owner(key, c) == owner {
		d.forget(s, c)
	}
	return nil
}

// forget deletes claim c. s.mu is held.
func (d *Deduper) forget(s *shard, c claim) {
	s.claims.Delete(c.key)
	if c.seq&otherOwner != 0 {
		delete(s.others, c.key)
	}
	d.held.Add(-1)
}

// dropExpired drops expired claims and stale entries from the head of
// s.order and returns how many claims it dropped. It stops at the first
// entry that has not expired, without a map lookup: on the hot path (a
// Claim with room left) that entry is almost always live, as claims made
// under one ttl expire in the order they were made. Only thorough (when
// MaxKeys are held, and room is needed) also skips the unexpired entries
// of released claims, stopping at the first live claim.
// s.mu is held.
func (d *Deduper) dropExpired(s *shard, now time.Duration, thorough bool) int {
	dropped := 0
	for s.head < len(s.order) {
		e := s.order[s.head]
		if e.expires > now && !thorough {
			break
		}
		c, ok := s.claims.Get(e.key)
		live := ok && c.seq&^otherOwner == e.seq
		if live && c.expires > now {
			break
		}
		if live {
			d.forget(s, c)
			dropped++
		}
		s.order[s.head] = entry{}
		s.head++
	}
	if s.head == len(s.order) {
		s.order, s.head = s.order[:0], 0
	}
	return dropped
}

// push appends e to order, compacting it when it holds mostly stale entries.
// A full order whose dropped head is at least a quarter of it is moved down
// rather than grown; a smaller head is left to grow with it: moving the
// live claims down to gain a few slots, whenever order fills, would copy
// them all every few claims.
func (s *shard) push(e entry) {
	if len(s.order) == cap(s.order) && s.head > 0 && s.head >= len(s.order)/4 {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order, s.head = s.order[:n], 0
	}
	if n := len(s.order) - s.head; n > 2*s.claims.Len()+16 {
		// Released keys leave stale entries behind; drop them.
		live := s.order[:0]
		for _, o := range s.order[s.head:] {
			if c, ok := s.claims.Get(o.key); ok && c.seq&^otherOwner == o.seq {
				live = append(live, o)
			}
		}
		clear(s.order[len(live):])
		s.order, s.head = live, 0
	}
	s.order = append(s.order, e)
}

// Len returns how many claims are held, expired ones not yet dropped
// included. It is meant for tests and metrics.
func (d *Deduper) Len() int { return int(d.held.Load()) }

// Holder returns the owner holding key, or notify.ErrNotFound when the key
// is free (never claimed, released or expired). It never fails otherwise.
func (d *Deduper) Holder(_ context.Context, key string) (string, error) {
	now := time.Since(d.start)
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims.Get(key); ok && c.expires > now {
		return s.owner(key, c), nil
	}
	return "", notify.ErrNotFound
}

var _ notify.ClaimHolder = (*Deduper)(nil)
