// Package memory is a notify.Limiter held in the process's memory, for one
// process and for tests.
//
// It implements GCRA (the generic cell rate algorithm): under
// notify.Limit{Rate, Per, Burst}, Burst events (Rate when Burst is 0) are
// allowed at once, then one every Per/Rate. A key's whole state is one
// instant, its theoretical arrival time (TAT).
//
// Guarantees:
//   - Exactly the limit: of any number of concurrent events on one key, no
//     more are allowed than the limit permits. A denied event is not counted.
//   - RetryAfter is exact: the time until the next event would be allowed.
//   - Memory is bounded: a key whose TAT has passed is in the same state as
//     a key never seen, so it is dropped; and at most Config.MaxKeys keys
//     are held (past that, busy keys chosen at random are dropped, and each
//     starts afresh with its full burst).
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
	// tat holds each key's theoretical arrival time, as an offset from
	// Limiter.start.
	tat map[string]time.Duration
	// sweepAt is the size at which idle keys are next swept.
	sweepAt int
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
		l.shards[i] = shard{max: per, tat: make(map[string]time.Duration), sweepAt: min(minSweep, per)}
	}
	return l
}

// Allow counts one event for key under limit. A limit that IsZero allows
// everything and holds no state. It never fails.
func (l *Limiter) Allow(_ context.Context, key string, limit notify.Limit) (notify.Decision, error) {
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
	tolerance := interval * time.Duration(burst)

	now := time.Since(l.start)
	s := &l.shards[maphash.String(l.seed, key)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tat[key]
	if !ok || tat < now {
		tat = now
	}
	next := tat + interval
	if wait := next - now; wait > tolerance {
		return notify.Decision{RetryAfter: wait - tolerance}, nil
	}
	if !ok {
		s.makeRoom(now)
	}
	s.tat[key] = next
	return notify.Decision{Allowed: true, Remaining: int((tolerance - (next - now)) / interval)}, nil
}

// makeRoom drops idle keys when the shard has grown to its sweep size, and
// some busy keys when it is still full. s.mu is held.
func (s *shard) makeRoom(now time.Duration) {
	if len(s.tat) < s.sweepAt {
		return
	}
	for k, t := range s.tat {
		if t <= now {
			delete(s.tat, k)
		}
	}
	if len(s.tat) >= s.max {
		// Still full of busy keys: drop an eighth of them, chosen by map
		// iteration order (random), so that the next sweep is far off.
		drop := len(s.tat) - s.max*7/8
		for k := range s.tat {
			if drop <= 0 {
				break
			}
			delete(s.tat, k)
			drop--
		}
	}
	// Sweep again when the shard has doubled: amortized O(1) per new key.
	s.sweepAt = min(max(2*len(s.tat), minSweep), s.max)
}

// Len returns how many keys are held. It is meant for tests and metrics.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
