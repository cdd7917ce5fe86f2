// Package memory is a notify.Limiter held in the process's memory, for one
// process and for tests.
//
// It implements GCRA (the generic cell rate algorithm): under
// notify.Limit{Rate, Per, Burst}, Burst events (Rate when Burst is 0) are
// allowed at once, then one every Per/Rate. A key's whole state is one
// instant, its theoretical arrival time (TAT), and the IDs of the events
// it counted when they had one.
//
// Guarantees:
//   - Exactly the limit: of any number of concurrent events on one key, no
//     more are allowed than the limit permits. A denied event is not counted.
//   - RetryAfter is exact: the time until the next event would be allowed.
//   - An event with an ID (notify.LimitRequest.ID) is counted once: its key
//     remembers the ID for the limit's window (Per, or Burst*Per/Rate when
//     longer), and answers a repeat Allowed without counting it.
//   - Memory is bounded: a key whose TAT has passed and whose IDs have
//     expired is in the same state as a key never seen, so it is dropped;
//     a key remembers at most as many IDs as its limit allows events in the
//     window, plus one (forced events past that forget the oldest); and at
//     most Config.MaxKeys keys are held (past that, busy keys chosen at
//     random are dropped, and each starts afresh with its full burst).
//   - Safe for concurrent use; keys are spread over shards, each with its
//     own lock. No goroutine is started.
//
// Limits:
//   - Counts live in one process: several processes each with a Limiter
//     allow the limit each. Use ratelimit/redis across processes.
package memory

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// Config configures a Limiter. The zero value is usable.
type Config struct {
	// MaxKeys bounds how many keys are held. Default 1,000,000.
	MaxKeys int
}

const shards = 16

// Limiter is an in-memory GCRA notify.Limiter. Build one with New. It is
// safe for concurrent use.
type Limiter struct {
	seed   maphash.Seed
	start  time.Time // instants are kept as offsets from start
	shards [shards]shard
}

var _ notify.Limiter = (*Limiter)(nil)

type shard struct {
	mu  sync.Mutex
	max int
	// keys holds each key's state.
	keys map[string]state
	// sweepAt is the size at which idle keys are next swept.
	sweepAt int
}

// state is one key's: its theoretical arrival time, as an offset from
// Limiter.start, and the IDs of the events it counted, if any had one.
type state struct {
	tat time.Duration
	ids *idSet
}

// idle reports whether s is the same as no state at now: its TAT has
// passed and it remembers no ID.
func (s state) idle(now time.Duration) bool {
	return s.tat <= now && (s.ids == nil || s.ids.until <= now)
}

// idSet is the IDs a key remembers, each until its expiry, in the order
// they were counted.
type idSet struct {
	// index holds the IDs of order[head:] from when a scanMax+1st is
	// added until the set empties; before that, a scan of their hashes in
	// order finds one sooner than a map would, and the set needs no map.
	index map[string]struct{}
	// order[head:] are the IDs remembered, oldest first, with their
	// expiry; order[:head] are forgotten, cleared, and reused once they are
	// half of order (no allocation while the set does not grow).
	order []idExpiry
	head  int
	until time.Duration // the latest expiry
}

// scanMax is how many IDs an idSet finds by a scan, without an index.
const scanMax = 16

// idExpiry is an ID, its hash (Limiter.seed) and when it is forgotten.
type idExpiry struct {
	id   string
	hash uint64
	at   time.Duration
}

// has reports whether s remembers id, whose hash is h.
func (s *idSet) has(id string, h uint64) bool {
	if s.index != nil {
		_, ok := s.index[id]
		return ok
	}
	for i := s.head; i < len(s.order); i++ {
		if e := &s.order[i]; e.hash == h && e.id == id {
			return true
		}
	}
	return false
}

// expire forgets the IDs whose expiry has passed at now. IDs counted
// under one limit expire in the order they were counted.
func (s *idSet) expire(now time.Duration) {
	for s.head < len(s.order) && s.order[s.head].at <= now {
		s.drop()
	}
}

// drop forgets the oldest ID.
func (s *idSet) drop() {
	if s.index != nil {
		delete(s.index, s.order[s.head].id)
	}
	s.order[s.head] = idExpiry{}
	s.head++
	if s.head == len(s.order) {
		s.order, s.head, s.index = s.order[:0], 0, nil
	}
}

// add remembers id, whose hash is h, until expiry, forgetting the oldest
// IDs past limit.
func (s *idSet) add(id string, h uint64, expiry time.Duration, limit int) {
	if s.index != nil {
		s.index[id] = struct{}{}
	} else if len(s.order)-s.head == scanMax {
		s.index = make(map[string]struct{}, 2*scanMax)
		for _, e := range s.order[s.head:] {
			s.index[e.id] = struct{}{}
		}
		s.index[id] = struct{}{}
	}
	if len(s.order) == cap(s.order) && s.head >= len(s.order)/2 && s.head > 0 {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order, s.head = s.order[:n], 0
	}
	s.order = append(s.order, idExpiry{id: id, hash: h, at: expiry})
	s.until = max(s.until, expiry)
	for len(s.order)-s.head > limit {
		s.drop()
	}
}

// minSweep is the smallest shard size at which idle keys are swept.
const minSweep = 64

// New returns a Limiter with no keys.
func New(cfg Config) *Limiter {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1_000_000
	}
	l := &Limiter{seed: maphash.MakeSeed(), start: time.Now()}
	per := max(cfg.MaxKeys/shards, 1)
	for i := range l.shards {
		l.shards[i] = shard{max: per, keys: make(map[string]state), sweepAt: min(minSweep, per)}
	}
	return l
}

// Allow counts the event req describes under req.Limit. A limit that
// IsZero allows everything and holds no state. An event with an ID is
// counted once while its key remembers it (see notify.LimitRequest); a key
// remembers at most as many IDs as the limit allows events in its window,
// plus one. It never fails.
func (l *Limiter) Allow(_ context.Context, req notify.LimitRequest) (notify.Decision, error) {
	limit := req.Limit
	if limit.IsZero() {
		return notify.Decision{Allowed: true}, nil
	}
	burst := limit.Burst
	if burst <= 0 {
		burst = limit.Rate
	}
	interval := limit.Per / time.Duration(limit.Rate) // emission interval
	if interval <= 0 {
		interval = 1
	}
	tolerance := time.Duration(math.MaxInt64)
	if int64(burst) <= math.MaxInt64/int64(interval) {
		tolerance = interval * time.Duration(burst)
	}
	remaining := func(tat, now time.Duration) int {
		return int(max(tolerance-(tat-now), 0) / interval)
	}

	now := time.Since(l.start)
	s := &l.shards[maphash.String(l.seed, req.Key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.keys[req.Key]
	tat := max(st.tat, now)
	var idHash uint64
	if req.ID != "" {
		idHash = maphash.String(l.seed, req.ID)
	}
	if st.ids != nil {
		st.ids.expire(now)
		if req.ID != "" && st.ids.has(req.ID, idHash) {
			return notify.Decision{Allowed: true, Remaining: remaining(tat, now)}, nil
		}
	}
	next := tat + interval
	if wait := next - now; wait > tolerance && !req.Force {
		return notify.Decision{RetryAfter: wait - tolerance}, nil
	}
	if !ok {
		s.makeRoom(now)
	}
	st.tat = next
	if req.ID != "" {
		if st.ids == nil {
			st.ids = &idSet{}
		}
		window := max(limit.Per, tolerance)
		st.ids.add(req.ID, idHash, now+min(window, math.MaxInt64-now), maxIDs(burst, window, interval))
	}
	s.keys[req.Key] = st
	return notify.Decision{Allowed: true, Remaining: remaining(next, now)}, nil
}

// maxIDs is how many IDs a key remembers: as many events as the limit
// allows within window, plus one. Only forced events go past it.
func maxIDs(burst int, window, interval time.Duration) int {
	return int(min(int64(burst)+int64(window/interval)+1, math.MaxInt32))
}

// makeRoom drops idle keys when the shard has grown to its sweep size, and
// some busy keys when it is still full. s.mu is held.
func (s *shard) makeRoom(now time.Duration) {
	if len(s.keys) < s.sweepAt {
		return
	}
	for k, st := range s.keys {
		if st.idle(now) {
			delete(s.keys, k)
		}
	}
	if len(s.keys) >= s.max {
		// Still full of busy keys: drop an eighth of them, chosen by map
		// iteration order (random), so that the next sweep is far off.
		drop := len(s.keys) - s.max*7/8
		for k := range s.keys {
			if drop <= 0 {
				break
			}
			delete(s.keys, k)
			drop--
		}
	}
	// Sweep again when the shard has doubled: amortized O(1) per new key.
	s.sweepAt = min(max(2*len(s.keys), minSweep), s.max)
}

// Len returns how many keys are held. It is meant for tests and metrics.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}
