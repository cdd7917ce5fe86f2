package track

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify"
)

// recKey is what records are coalesced by.
type recKey struct {
	delivery string
	url      string
	kind     notify.Status
	prefetch bool
}

// record is one Feedback call to make: hits of one key, gathered while the
// record was open; frozen once a worker first takes it, so that a retry
// repeats exactly the same report (and the log's repeat check makes the
// retry of a report that was in fact written a no-op).
type record struct {
	key     recKey
	repeat  bool
	hits    int
	at      time.Time // the first hit's, unique to this recorder to the microsecond
	due     time.Time // when a worker may take it
	tries   int
	frozen  bool
	waiting bool // open, held back until its key's frozen record is done
	index   int  // in the heap; -1 when not in it
}

func (r *record) feedback() notify.Feedback {
	d := Detail{URL: r.key.url, Hits: r.hits, Repeat: r.repeat, Prefetch: r.key.prefetch}
	return notify.Feedback{DeliveryID: r.key.delivery, Engagement: r.key.kind, Detail: d.String(), At: r.at}
}

// slot is a key's records: at most one taking hits and one being written
// or waiting to be retried.
type slot struct {
	open, frozen *record
}

// recHeap orders records by due time.
type recHeap []*record

func (h recHeap) Len() int           { return len(h) }
func (h recHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h recHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *recHeap) Push(x any) {
	r := x.(*record)
	r.index = len(*h)
	*h = append(*h, r)
}
func (h *recHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.index = -1
	return r
}

// recorder writes hits to a FeedbackRecorder in the background: coalesced
// by key, bounded, retried with backoff, drained by close.
type recorder struct {
	fr       notify.FeedbackRecorder
	log      *slog.Logger
	max      int
	coalesce time.Duration
	timeout  time.Duration
	base     time.Duration
	maxDelay time.Duration

	mu      sync.Mutex
	slots   map[recKey]*slot
	n       int // records held: open and frozen
	queue   recHeap
	clock   time.Time // the last event time given out
	seed    maphash.Seed
	seen    map[uint64]struct{} // keys recorded lately: this generation
	seenOld map[uint64]struct{} // and the one before
	seenMax int                 // entries per generation
	closing bool
	drained chan struct{} // closed when closing and n == 0
	drainMu sync.Once

	wake    chan struct{}   // a record became due earlier than the scheduler knew
	work    chan *record    // scheduler to workers
	idle    chan struct{}   // a token per idle worker
	stop    chan struct{}   // closed: scheduler and workers return
	ctx     context.Context // of the workers' calls; canceled when Close gives up
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped sync.Once

	closeOnce sync.Once
	closeErr  error

	stats    *counters
	lastWarn atomic.Int64 // unix nanoseconds of the last "dropped" warning
}

// counters are the Handler's statistics.
type counters struct {
	clicks, opens, prefetches, invalid  atomic.Int64
	written, writtenHits, retries, gone atomic.Int64
	dropped                             atomic.Int64
}

type recorderConfig struct {
	fr         notify.FeedbackRecorder
	log        *slog.Logger
	workers    int
	max        int
	remembered int
	coalesce   time.Duration
	timeout    time.Duration
	base       time.Duration
	maxDelay   time.Duration
	stats      *counters
}

func newRecorder(c recorderConfig) *recorder {
	r := &recorder{
		fr: c.fr, log: c.log, max: c.max, coalesce: c.coalesce, timeout: c.timeout, base: c.base, maxDelay: c.maxDelay,
		slots: make(map[recKey]*slot), seed: maphash.MakeSeed(),
		seen: make(map[uint64]struct{}), seenOld: map[uint64]struct{}{}, seenMax: max(c.remembered/2, 1),
		drained: make(chan struct{}), wake: make(chan struct{}, 1), work: make(chan *record, c.workers), idle: make(chan struct{}, c.workers), stop: make(chan struct{}),
		stats: c.stats,
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for range c.workers {
		r.idle <- struct{}{}
	}
	r.wg.Add(1 + c.workers)
	go r.schedule()
	for range c.workers {
		go r.worker()
	}
	return r
}

// hash is key's entry in the seen sets.
func (r *recorder) hash(k recKey) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(k.delivery)
	h.WriteByte(0)
	h.WriteString(k.url)
	h.WriteByte(0)
	h.WriteString(string(k.kind))
	if k.prefetch {
		h.WriteByte(1)
	}
	return h.Sum64()
}

// hit adds one hit of k, seen at now. It never blocks on the
// FeedbackRecorder; it reports false when the hit is dropped (closing, or
// MaxPending records held).
func (r *recorder) hit(k recKey, now time.Time) bool {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		r.dropped("the Handler is closed")
		return false
	}
	s := r.slots[k]
	if s != nil && s.open != nil {
		s.open.hits++
		r.mu.Unlock()
		return true
	}
	if r.n >= r.max {
		r.mu.Unlock()
		r.dropped("HandlerConfig.MaxPending records are waiting to be written")
		return false
	}
	h := r.hash(k)
	_, seen := r.seen[h]
	if !seen {
		_, seen = r.seenOld[h]
	}
	if len(r.seen) >= r.seenMax {
		r.seenOld, r.seen = r.seen, make(map[uint64]struct{}, r.seenMax)
	}
	r.seen[h] = struct{}{}
	rec := &record{key: k, repeat: seen || s != nil, hits: 1, at: r.stamp(now), due: now, index: -1}
	if rec.repeat {
		rec.due = now.Add(r.coalesce)
	}
	if s == nil {
		s = &slot{}
		r.slots[k] = s
	}
	s.open = rec
	r.n++
	if s.frozen != nil {
		rec.waiting = true
	} else {
		r.push(rec)
	}
	r.mu.Unlock()
	return true
}

// stamp returns now to the microsecond, later than every time it returned
// before: two records of one key never share a time, so the log's repeat
// check (same status, reason and time) never merges them.
func (r *recorder) stamp(now time.Time) time.Time {
	t := now.Truncate(time.Microsecond)
	if !t.After(r.clock) {
		t = r.clock.Add(time.Microsecond)
	}
	r.clock = t
	return t
}

// push queues rec and wakes the scheduler when rec is now first. r.mu is held.
func (r *recorder) push(rec *record) {
	if r.closing && !rec.frozen {
		rec.due = time.Time{}
	}
	heap.Push(&r.queue, rec)
	if rec.index == 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *recorder) dropped(why string) {
	r.stats.dropped.Add(1)
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(10*time.Second) && r.lastWarn.CompareAndSwap(last, now) {
		r.log.Warn("track: a hit was not recorded (the visitor was answered); see Handler.Stats().Dropped",
			slog.String("why", why), slog.Int64("dropped_so_far", r.stats.dropped.Load()))
	}
}

// schedule hands due records to idle workers until stop. A record is
// taken (and frozen) only when a worker is free to write it, so that
// while the workers are busy (a slow store) hits keep joining the records
// that wait.
func (r *recorder) schedule() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-r.idle:
		case <-r.stop:
			return
		}
		for {
			r.mu.Lock()
			rec, wait := r.next(time.Now())
			r.mu.Unlock()
			if rec != nil {
				r.work <- rec // buffered: a worker is idle
				break
			}
			timer.Reset(wait)
			select {
			case <-r.wake:
			case <-timer.C:
			case <-r.stop:
				return
			}
		}
	}
}

// next takes the first due record a worker may write, or says how long to
// wait for one. r.mu is held.
func (r *recorder) next(now time.Time) (*record, time.Duration) {
	for len(r.queue) > 0 {
		rec := r.queue[0]
		if wait := rec.due.Sub(now); wait > 0 {
			return nil, wait
		}
		heap.Pop(&r.queue)
		if rec.frozen {
			return rec, 0
		}
		s := r.slots[rec.key]
		if s.frozen != nil {
			rec.waiting = true // taken when the frozen one is done
			continue
		}
		s.open, s.frozen, rec.frozen = nil, rec, true
		return rec, 0
	}
	return nil, time.Hour
}

// worker writes records until stop.
func (r *recorder) worker() {
	defer r.wg.Done()
	for {
		select {
		case rec := <-r.work:
			ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
			err := r.fr.Feedback(ctx, rec.feedback())
			cancel()
			r.done(rec, err)
			r.idle <- struct{}{}
		case <-r.stop:
			return
		}
	}
}

// done settles a write of rec that returned err.
func (r *recorder) done(rec *record, err error) {
	var ve *notify.ValidationError
	final := err == nil || errors.Is(err, notify.ErrNotFound) || errors.As(err, &ve)
	switch {
	case err == nil:
		r.stats.written.Add(1)
		r.stats.writtenHits.Add(int64(rec.hits))
	case final:
		r.stats.gone.Add(1)
		r.log.Warn("track: a hit cannot be recorded (its delivery is not in the log: pruned?); dropped",
			slog.String("delivery", rec.key.delivery), slog.String("status", string(rec.key.kind)), slog.Any("error", err))
	default:
		r.stats.retries.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !final {
		rec.tries++
		rec.due = time.Now().Add(r.backoff(rec.tries))
		r.push(rec)
		if rec.tries == 1 || rec.tries%10 == 0 {
			r.log.Warn("track: recording a hit failed; retrying in the background",
				slog.String("delivery", rec.key.delivery), slog.String("status", string(rec.key.kind)),
				slog.Int("tries", rec.tries), slog.Any("error", err))
		}
		return
	}
	s := r.slots[rec.key]
	s.frozen = nil
	r.n--
	switch {
	case s.open == nil:
		delete(r.slots, rec.key)
	case s.open.waiting:
		s.open.waiting = false
		r.push(s.open)
	}
	if r.closing && r.n == 0 {
		r.drainMu.Do(func() { close(r.drained) })
	}
}

// backoff is the delay before try n+1: exponential from base, capped at
// maxDelay, with up to a quarter of jitter either way.
func (r *recorder) backoff(n int) time.Duration {
	d := r.base
	for i := 1; i < n && d < r.maxDelay; i++ {
		d *= 2
	}
	d = min(d, r.maxDelay)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// close stops taking hits, writes every record at once (retries keep their
// backoff) and waits for them until ctx ends; then it stops, logs each
// record not written, and says how many. Later calls return what the
// first returned.
func (r *recorder) close(ctx context.Context) error {
	r.closeOnce.Do(func() { r.closeErr = r.drain(ctx) })
	return r.closeErr
}

func (r *recorder) drain(ctx context.Context) error {
	r.mu.Lock()
	if !r.closing {
		r.closing = true
		for _, rec := range r.queue {
			if !rec.frozen {
				rec.due = time.Time{}
			}
		}
		heap.Init(&r.queue)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	if r.n == 0 {
		r.drainMu.Do(func() { close(r.drained) })
	}
	r.mu.Unlock()
	var err error
	select {
	case <-r.drained:
	case <-ctx.Done():
		r.cancel() // the calls in flight end, and are counted as failed
		err = ctx.Err()
	}
	r.stopped.Do(func() { close(r.stop) })
	r.wg.Wait()
	r.cancel()
	if err == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	recs, hits := 0, 0
	for _, s := range r.slots {
		for _, rec := range []*record{s.frozen, s.open} {
			if rec == nil {
				continue
			}
			fb := rec.feedback()
			r.log.Error("track: hit not recorded: Close ended before it could be written; it is lost",
				slog.String("delivery", fb.DeliveryID), slog.String("status", string(fb.Engagement)),
				slog.String("detail", fb.Detail), slog.Time("at", fb.At), slog.Int("tries", rec.tries))
			recs++
			hits += rec.hits
		}
	}
	if recs == 0 {
		return nil
	}
	return fmt.Errorf("track: %d records (%d hits) not recorded before Close's context ended (%w); each is logged at error level, and lost", recs, hits, err)
}

// pending is the number of records held.
func (r *recorder) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
