// Package memory is a notify.Deduper held in the process's memory, for one
// process and for tests.
//
// Guarantees:
//   - Claims are atomic: of many simultaneous claims of one key exactly one
//     wins, and every loser learns the holder.
//   - A claim lasts its ttl; after that the key is free again.
//   - Memory is bounded by Config.MaxKeys: expired claims are dropped as new
//     ones arrive, and when the bound is reached the oldest claim is evicted
//     (and its key can be claimed again before its ttl).
//   - Safe for concurrent use; keys are spread over shards, each with its
//     own lock. No goroutine is started.
//
// Limits:
//   - Claims live in one process: two processes each with its own Deduper do
//     not see each other's claims. Use dedup/redis across processes.
package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// Config configures a Deduper. The zero value is usable.
type Config struct {
	// MaxKeys bounds how many claims are held. When a new claim would pass
	// it, expired claims are dropped and then the oldest live ones. Default
	// 1,000,000.
	MaxKeys int
}

const shards = 16

// Deduper is an in-memory notify.Deduper. Build one with New. It is safe
// for concurrent use.
type Deduper struct {
	seed   maphash.Seed
	start  time.Time // times are kept as offsets from start
	shards [shards]shard
}

var _ notify.Deduper = (*Deduper)(nil)

type shard struct {
	mu     sync.Mutex
	max    int
	seq    uint64
	claims map[string]claim
	// order lists claims oldest first; order[head:] is live. An entry whose
	// seq no longer matches its key's claim is stale (released, expired or
	// claimed again) and is skipped.
	order []entry
	head  int
}

type claim struct {
	owner   string
	expires time.Duration // offset from Deduper.start
	seq     uint64
}

type entry struct {
	key string
	seq uint64
}

// New returns an empty Deduper.
func New(cfg Config) *Deduper {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1_000_000
	}
	d := &Deduper{seed: maphash.MakeSeed(), start: time.Now()}
	per := max(cfg.MaxKeys/shards, 1)
	for i := range d.shards {
		d.shards[i] = shard{max: per, claims: make(map[string]claim)}
	}
	return d
}

func (d *Deduper) shard(key string) *shard {
	return &d.shards[maphash.String(d.seed, key)%shards]
}

// Claim claims key for owner for ttl. It reports whether this call won and,
// when it did not, the owner that holds the key. A ttl <= 0 claims nothing
// and wins. It never fails.
func (d *Deduper) Claim(_ context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	if ttl <= 0 {
		return true, "", nil
	}
	now := time.Since(d.start)
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[key]; ok && c.expires > now {
		return false, c.owner, nil
	}
	s.evict(now)
	s.seq++
	s.claims[key] = claim{owner: owner, expires: now + ttl, seq: s.seq}
	s.push(entry{key: key, seq: s.seq})
	return true, "", nil
}

// Release drops key if owner holds it; otherwise it does nothing. It never
// fails.
func (d *Deduper) Release(_ context.Context, key, owner string) error {
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[key]; ok && c.owner == owner {
		delete(s.claims, key)
	}
	return nil
}

// evict drops stale and expired entries from the head of order, then the
// oldest live claims while the shard is full. s.mu is held.
func (s *shard) evict(now time.Duration) {
	for s.head < len(s.order) {
		e := s.order[s.head]
		c, ok := s.claims[e.key]
		live := ok && c.seq == e.seq
		if live && c.expires > now && len(s.claims) < s.max {
			break
		}
		if live {
			delete(s.claims, e.key)
		}
		s.order[s.head] = entry{}
		s.head++
	}
	if s.head == len(s.order) {
		s.order, s.head = s.order[:0], 0
	}
}

// push appends e to order, compacting it when it holds mostly stale entries.
func (s *shard) push(e entry) {
	if len(s.order) == cap(s.order) && s.head > 0 {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order, s.head = s.order[:n], 0
	}
	if len(s.order)-s.head > 2*s.max+16 {
		// Released keys leave stale entries behind; drop them.
		live := s.order[:0]
		for _, o := range s.order[s.head:] {
			if c, ok := s.claims[o.key]; ok && c.seq == o.seq {
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
func (d *Deduper) Len() int {
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.claims)
		s.mu.Unlock()
	}
	return n
}

// Holder returns the owner holding key, or notify.ErrNotFound when the key
// is free (never claimed, released or expired). It never fails otherwise.
func (d *Deduper) Holder(_ context.Context, key string) (string, error) {
	now := time.Since(d.start)
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[key]; ok && c.expires > now {
		return c.owner, nil
	}
	return "", notify.ErrNotFound
}

var _ notify.ClaimHolder = (*Deduper)(nil)
