package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/idmap"
)

// Config configures a Queue. The zero value is usable.
type Config struct {
	// Visibility is how long a lease lasts: a received job that is not
	// acked, nacked or buried within it is handed out again. Default 30s.
	Visibility time.Duration
	// MaxJobs bounds the live jobs (ready, delayed or leased) the Queue
	// holds across all its named queues; dead jobs are not counted. An
	// Enqueue that would take the count past it adds nothing and returns an
	// error wrapping notify.ErrQueueFull: the caller retries later, once
	// workers have drained some. Default 100,000; negative: no bound.
	MaxJobs int
}

// DefaultMaxJobs is Config.MaxJobs when the Config leaves it zero.
const DefaultMaxJobs = 100_000

// Queue is an in-memory notify.Queue. Build one with New; the zero value is
// not usable. It is safe for concurrent use.
type Queue struct {
	visibility time.Duration
	maxJobs    int64        // <= 0: no bound
	live       atomic.Int64 // ready, delayed and leased jobs across queues
	closed     atomic.Bool
	done       chan struct{} // closed by Close

	mu     sync.RWMutex
	queues map[string]*queue
}

var _ notify.Queue = (*Queue)(nil)

// New returns an empty, open Queue.
func New(cfg Config) *Queue {
	if cfg.Visibility <= 0 {
		cfg.Visibility = 30 * time.Second
	}
	switch {
	case cfg.MaxJobs == 0:
		cfg.MaxJobs = DefaultMaxJobs
	case cfg.MaxJobs < 0:
		cfg.MaxJobs = 0
	}
	return &Queue{
		visibility: cfg.Visibility,
		maxJobs:    int64(cfg.MaxJobs),
		done:       make(chan struct{}),
		queues:     make(map[string]*queue),
	}
}

// state is where a job stands.
type state uint8

const (
	stateReady state = iota
	stateDelayed
	stateLeased
	stateDead
)

// job is one job's record. Records are reused after Ack.
type job struct {
	id      string
	d       *notify.Delivery
	state   state
	attempt int // receives since enqueue or the last Replay
	gen     int // Replays so far; part of a lease's identity
	// due is when a delayed job becomes ready or a lease expires.
	due     time.Time
	readyAt time.Time // when the job last became ready
	heapIdx int       // index in queue.timed, -1 when not there
	// lapsed marks a ready job whose last lease ran out unsettled: its
	// receiver may have sent it, so Cancel leaves it. Nack clears it.
	lapsed bool
	reason string    // why it was buried
	died   time.Time // when it was buried
}

// queue is one named queue.
type queue struct {
	name string
	mu   sync.Mutex
	jobs *idmap.Map[*job] // by ID, keyed by the IDs' hashes (see idmap)
	// ready is a FIFO: ready[head:] are the ready jobs, oldest first.
	ready []*job
	head  int
	// timed is a min-heap by due of delayed and leased jobs.
	timed []*job
	dead  int
	free  []*job // records to reuse
	// peak is the most jobs held since jobs was last made: a map does not
	// shrink, so release makes it anew when it drops below peak/shrinkBelow.
	peak int
	// wake holds a token when a waiting Receive should look again.
	wake chan struct{}
}

// maxFree bounds the records a queue keeps for reuse.
const maxFree = 1024

// A queue's map and slices are made anew, smaller, once they hold less
// than 1/shrinkBelow of what they held at their peak (and that peak was
// over minShrink): memory held after a backlog drains follows what is
// left, and the copying costs O(1) per job removed.
const (
	shrinkBelow = 4
	minShrink   = 4096
)

func (q *Queue) errClosed(op string) error {
	return fmt.Errorf("queue/memory: %s: %w", op, notify.ErrClosed)
}

// get returns the named queue, creating it when create is set; nil otherwise.
func (q *Queue) get(name string, create bool) *queue {
	q.mu.RLock()
	qu := q.queues[name]
	q.mu.RUnlock()
	if qu != nil || !create {
		return qu
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if qu = q.queues[name]; qu == nil {
		qu = &queue{name: name, jobs: newJobs(0), wake: make(chan struct{}, 1)}
		q.queues[name] = qu
	}
	return qu
}

// Enqueue adds jobs. A job whose ID is already on its queue (ready, delayed,
// leased or dead) is skipped. Jobs with a NotBefore in the future are
// delayed until then. It adds all of jobs or none: it returns an error, and
// adds nothing, when a job has an empty ID, an error wrapping
// notify.ErrQueueFull when the new jobs would take the live jobs past
// Config.MaxJobs (jobs already on their queue do not count; a job given
// twice in one call counts twice), and an error wrapping notify.ErrClosed
// after Close.
func (q *Queue) Enqueue(_ context.Context, jobs ...notify.Job) error {
	if q.closed.Load() {
		return q.errClosed("enqueue")
	}
	for i := range jobs {
		if jobs[i].ID == "" {
			return fmt.Errorf("queue/memory: enqueue: job %d has an empty ID; give every job its delivery's ID", i)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	// Every queue the call touches is locked, in name order (no other path
	// holds two queue locks), so that counting the new jobs, checking the
	// bound and adding them are one step.
	var buf [4]*queue
	qs := buf[:0]
	for i := range jobs {
		if find(qs, jobs[i].Queue) == nil {
			qs = append(qs, q.get(jobs[i].Queue, true))
		}
	}
	if len(qs) > 1 {
		slices.SortFunc(qs, func(a, b *queue) int { return strings.Compare(a.name, b.name) })
	}
	for _, qu := range qs {
		qu.mu.Lock()
	}
	defer func() {
		for _, qu := range qs {
			qu.mu.Unlock()
		}
	}()
	var fresh int64
	qu := qs[0]
	for i := range jobs {
		if qu.name != jobs[i].Queue {
			qu = find(qs, jobs[i].Queue)
		}
		if _, ok := qu.jobs.Get(jobs[i].ID); !ok {
			fresh++
		}
	}
	if held, ok := q.reserve(fresh); !ok {
		return fmt.Errorf("queue/memory: enqueue %d new jobs: %d live jobs held, at most %d (Config.MaxJobs): %w; retry later, once workers have drained some",
			fresh, held, q.maxJobs, notify.ErrQueueFull)
	}
	now := time.Now()
	var added int64
	for i := range jobs {
		j := &jobs[i]
		if qu.name != j.Queue {
			qu = find(qs, j.Queue)
		}
		if qu.add(j, now) {
			added++
		}
	}
	if added != fresh {
		q.live.Add(added - fresh) // a job given twice in one call was reserved twice
	}
	return nil
}

// find returns the queue of qs with that name, or nil.
func find(qs []*queue, name string) *queue {
	for _, qu := range qs {
		if qu.name == name {
			return qu
		}
	}
	return nil
}

// reserve counts n more live jobs unless that would pass MaxJobs. It
// returns the count it found and whether it reserved.
func (q *Queue) reserve(n int64) (held int64, ok bool) {
	for {
		cur := q.live.Load()
		if q.maxJobs > 0 && cur+n > q.maxJobs {
			return cur, false
		}
		if n == 0 || q.live.CompareAndSwap(cur, cur+n) {
			return cur + n, true
		}
	}
}

// add stores j unless its ID is present, and reports whether it did.
// qu.mu is held.
func (qu *queue) add(j *notify.Job, now time.Time) bool {
	if _, ok := qu.jobs.Get(j.ID); ok {
		return false
	}
	r := qu.record()
	r.id, r.d = j.ID, j.Delivery
	qu.jobs.Put(r)
	qu.peak = max(qu.peak, qu.jobs.Len())
	if j.NotBefore.After(now) {
		r.state, r.due = stateDelayed, j.NotBefore
		qu.push(r)
		return true
	}
	qu.makeReady(r, now)
	return true
}

// newJobs returns an empty job table with room for size jobs.
func newJobs(size int) *idmap.Map[*job] {
	return idmap.New(func(r *job) string { return r.id }, size)
}

// record returns a blank job record, reused when one is free.
func (qu *queue) record() *job {
	if n := len(qu.free); n > 0 {
		r := qu.free[n-1]
		qu.free[n-1] = nil
		qu.free = qu.free[:n-1]
		return r
	}
	return &job{heapIdx: -1}
}

// release forgets r and keeps its record for reuse.
func (qu *queue) release(r *job) {
	qu.jobs.Delete(r.id)
	if qu.peak >= minShrink && qu.jobs.Len() < qu.peak/shrinkBelow {
		jobs := newJobs(qu.jobs.Len())
		for r := range qu.jobs.All() {
			jobs.Put(r)
		}
		qu.jobs, qu.peak = jobs, jobs.Len()
	}
	*r = job{heapIdx: -1}
	if len(qu.free) < maxFree {
		qu.free = append(qu.free, r)
	}
}

// makeReady appends r to the ready FIFO and wakes a waiting Receive. A
// full FIFO whose taken head is at least a quarter of it is moved down
// rather than grown; a smaller head is left to grow with it: moving a
// steady backlog down to gain a few slots, whenever the FIFO fills, would
// copy it all every few jobs.
func (qu *queue) makeReady(r *job, at time.Time) {
	r.state, r.readyAt, r.due = stateReady, at, time.Time{}
	if len(qu.ready) == cap(qu.ready) && qu.head > 0 && qu.head >= len(qu.ready)/4 {
		n := copy(qu.ready, qu.ready[qu.head:])
		clear(qu.ready[n:])
		qu.ready, qu.head = qu.ready[:n], 0
	}
	qu.ready = append(qu.ready, r)
	qu.signal()
}

func (qu *queue) signal() {
	select {
	case qu.wake <- struct{}{}:
	default:
	}
}

func (qu *queue) readyLen() int { return len(qu.ready) - qu.head }

func (qu *queue) popReady() *job {
	r := qu.ready[qu.head]
	qu.ready[qu.head] = nil
	qu.head++
	if qu.head == len(qu.ready) {
		qu.ready, qu.head = qu.ready[:0], 0
		if cap(qu.ready) >= minShrink {
			qu.ready = nil // drained: the next backlog grows its own
		}
	}
	return r
}

// promote makes ready every delayed job and expired lease due by now.
func (qu *queue) promote(now time.Time) {
	for len(qu.timed) > 0 && !qu.timed[0].due.After(now) {
		r := qu.timed[0]
		qu.remove(r)
		r.lapsed = r.lapsed || r.state == stateLeased
		qu.makeReady(r, r.due)
	}
}

// Receive leases up to max ready jobs from the named queue (max < 1 means
// 1). It blocks until at least one is ready, ctx is done (it returns ctx's
// error) or the Queue is closed (an error wrapping notify.ErrClosed). Each
// lease's Job.Delivery is the enqueued Delivery itself, to be read and not
// modified; Lease.Attempt counts the job's receipts.
func (q *Queue) Receive(ctx context.Context, name string, max int) ([]notify.Lease, error) {
	if max < 1 {
		max = 1
	}
	qu := q.get(name, true)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if q.closed.Load() {
			return nil, q.errClosed("receive")
		}
		qu.mu.Lock()
		now := time.Now()
		qu.promote(now)
		if n := qu.readyLen(); n > 0 {
			leases := qu.lease(min(n, max), now.Add(q.visibility))
			if qu.readyLen() > 0 {
				qu.signal() // let another waiter take the rest
			}
			qu.mu.Unlock()
			return leases, nil
		}
		wait := time.Duration(-1)
		if len(qu.timed) > 0 {
			wait = qu.timed[0].due.Sub(now)
		}
		qu.mu.Unlock()

		var tc <-chan time.Time
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.done:
			return nil, q.errClosed("receive")
		case <-qu.wake:
		case <-tc:
		}
	}
}

// lease hands out n ready jobs until deadline. qu.mu is held. Each
// lease's Delivery is the one Enqueue stored, shared with the job's other
// leases (see notify.Queue.Receive): a lease costs one allocation per
// Receive, however many deliveries it carries.
func (qu *queue) lease(n int, deadline time.Time) []notify.Lease {
	leases := make([]notify.Lease, n)
	for i := range leases {
		r := qu.popReady()
		r.attempt++
		r.state, r.due = stateLeased, deadline
		qu.push(r)
		l := &leases[i]
		l.Job = notify.Job{ID: r.id, Queue: qu.name, Delivery: r.d}
		l.Attempt = r.attempt
		l.Deadline = deadline
		if r.gen > 0 {
			l.Handle = receipt(r.gen)
		}
	}
	return leases
}

// receipt names a lease generation after a Replay; generation 0 has none.
func receipt(gen int) string {
	if gen == 0 {
		return ""
	}
	return "g" + strconv.Itoa(gen)
}

// held returns the record behind l if l is still its current lease, or an
// error wrapping notify.ErrLeaseLost. It promotes due jobs first, so an
// expired lease is lost even before it is handed out again. qu.mu is held.
func (qu *queue) held(l *notify.Lease, op string) (*job, error) {
	qu.promote(time.Now())
	r, _ := qu.jobs.Get(l.Job.ID)
	if r == nil || r.state != stateLeased || r.attempt != l.Attempt || receipt(r.gen) != l.Handle {
		return nil, fmt.Errorf("queue/memory: %s job %s attempt %d: %w", op, l.Job.ID, l.Attempt, notify.ErrLeaseLost)
	}
	return r, nil
}

// Ack removes the leased jobs for good. A lease no longer held is skipped
// and reported with an error wrapping notify.ErrLeaseLost; the other leases
// are still acked.
func (q *Queue) Ack(_ context.Context, leases ...notify.Lease) error {
	if q.closed.Load() {
		return q.errClosed("ack")
	}
	var errs []error
	var qu *queue
	for i := range leases {
		l := &leases[i]
		if qu == nil || qu.name != l.Job.Queue {
			if qu != nil {
				qu.mu.Unlock()
			}
			if qu = q.get(l.Job.Queue, false); qu == nil {
				errs = append(errs, fmt.Errorf("queue/memory: ack job %s: no queue %q: %w", l.Job.ID, l.Job.Queue, notify.ErrLeaseLost))
				continue
			}
			qu.mu.Lock()
		}
		r, err := qu.held(l, "ack")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		qu.remove(r)
		qu.release(r)
		q.live.Add(-1)
	}
	if qu != nil {
		qu.mu.Unlock()
	}
	return errors.Join(errs...)
}

// withLease runs f on l's record under its queue's lock.
func (q *Queue) withLease(l *notify.Lease, op string, f func(qu *queue, r *job)) error {
	if q.closed.Load() {
		return q.errClosed(op)
	}
	qu := q.get(l.Job.Queue, false)
	if qu == nil {
		return fmt.Errorf("queue/memory: %s job %s: no queue %q: %w", op, l.Job.ID, l.Job.Queue, notify.ErrLeaseLost)
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	r, err := qu.held(l, op)
	if err != nil {
		return err
	}
	f(qu, r)
	return nil
}

// Nack ends the lease and returns the job to its queue, hidden for delay
// (ready at once when delay <= 0). The next receipt counts one more attempt.
func (q *Queue) Nack(_ context.Context, l notify.Lease, delay time.Duration) error {
	return q.withLease(&l, "nack", func(qu *queue, r *job) {
		qu.remove(r)
		r.lapsed = false
		now := time.Now()
		if delay <= 0 {
			qu.makeReady(r, now)
			return
		}
		r.state, r.due = stateDelayed, now.Add(delay)
		qu.push(r)
	})
}

// Bury ends the lease and moves the job to the dead state, where it stays
// until Replay. reason is kept with it.
func (q *Queue) Bury(_ context.Context, l notify.Lease, reason string) error {
	return q.withLease(&l, "bury", func(qu *queue, r *job) {
		qu.remove(r)
		r.state, r.reason, r.due, r.died = stateDead, reason, time.Time{}, time.Now()
		qu.dead++
		q.live.Add(-1)
	})
}

// Replay makes the dead job id ready again with its receive count reset. It
// returns an error wrapping notify.ErrNotFound when the queue holds no dead
// job with that ID. A replayed job counts as live again, even past
// Config.MaxJobs: it was held all along.
func (q *Queue) Replay(_ context.Context, name, id string) error {
	if q.closed.Load() {
		return q.errClosed("replay")
	}
	qu := q.get(name, false)
	if qu == nil {
		return fmt.Errorf("queue/memory: replay job %s: no queue %q: %w", id, name, notify.ErrNotFound)
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	r, _ := qu.jobs.Get(id)
	if r == nil || r.state != stateDead {
		return fmt.Errorf("queue/memory: replay job %s on %q: no dead job with that ID: %w", id, name, notify.ErrNotFound)
	}
	qu.dead--
	q.live.Add(1) // even past MaxJobs: the job is already held
	r.attempt, r.reason, r.died, r.lapsed = 0, "", time.Time{}, false
	r.gen++
	qu.makeReady(r, time.Now())
	return nil
}

// Stats counts the named queue's jobs by state; a queue never used has
// none. OldestReady is how long the job at the head of the queue has been
// ready.
func (q *Queue) Stats(_ context.Context, name string) (notify.QueueStats, error) {
	if q.closed.Load() {
		return notify.QueueStats{}, q.errClosed("stats")
	}
	qu := q.get(name, false)
	if qu == nil {
		return notify.QueueStats{}, nil
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	now := time.Now()
	qu.promote(now)
	st := notify.QueueStats{Ready: qu.readyLen(), Dead: qu.dead}
	for _, r := range qu.timed {
		if r.state == stateLeased {
			st.InFlight++
		} else {
			st.Delayed++
		}
	}
	if st.Ready > 0 {
		st.OldestReady = max(now.Sub(qu.ready[qu.head].readyAt), 0)
	}
	return st, nil
}

// Close closes the Queue: blocked Receives return, and every later call
// returns an error wrapping notify.ErrClosed, so the jobs it still holds
// can no longer be reached. Close is idempotent; a second call returns nil.
func (q *Queue) Close() error {
	if q.closed.CompareAndSwap(false, true) {
		close(q.done)
	}
	return nil
}
