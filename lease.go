package notify

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// VisibilityReporter is implemented by queues that can say how long a
// lease lasts when it is not extended (their visibility timeout). New uses
// it to reject a configuration in which a send could outlive its lease: a
// queue that reports its visibility and cannot extend leases (see
// [LeaseExtender]) must have a visibility of at least Config.SendTimeout
// plus the part of a lease kept for settling (the smaller of
// Config.BackendTimeout and a quarter of the visibility).
type VisibilityReporter interface {
	// Visibility is how long a received job stays leased unless it is
	// acked, nacked, buried or extended; zero or less means unknown.
	Visibility() time.Duration
}

const (
	// maxAbandonGrace bounds how long a worker waits for a Channel call
	// past the call's deadline before it gives up on it.
	maxAbandonGrace = time.Second
	// receiveWait is how much longer than BackendTimeout one Receive may
	// block: it waits for a job by design (an SQS long poll lasts 20s).
	receiveWait = 30 * time.Second
	// logRetryFor bounds how long a worker keeps retrying to log a sent
	// outcome before it leaves the lease to expire.
	logRetryFor = time.Minute
	// unloggedDelay is how long a job whose final outcome could not be
	// logged waits on the queue before its next receipt logs it.
	unloggedDelay = time.Minute
	// maxUnlogged bounds unloggedSet; past it the set starts over.
	maxUnlogged = 10_000
)

// unloggedSet remembers, per delivery ID, what a Run could not write to
// the log: attempts whose retrying outcome did not land (or whose handling
// panicked), and a final outcome decided but not logged. The log is where
// attempts are counted, so without it an attempt whose outcome is lost
// would not count, and a delivery whose outcomes never land would be
// retried forever; a permanent outcome would be sent again. The set lives
// as long as Run (a restart, or another process, starts from the log), is
// bounded by maxUnlogged, and costs nothing while empty.
type unloggedSet struct {
	mu sync.Mutex
	m  map[string]unlogged
	// size mirrors len(m) for a lock-free check on the hot path.
	size atomic.Int64
}

// unlogged is what unloggedSet holds for one delivery.
type unlogged struct {
	tries int   // attempts whose outcome did not reach the log
	final Event // a final outcome not logged; Status "" when none
}

// add counts tries more unlogged attempts of id and, when final is not
// nil, remembers it as id's outcome.
func (u *unloggedSet) add(id string, tries int, final *Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil || len(u.m) >= maxUnlogged {
		u.m = make(map[string]unlogged)
	}
	e := u.m[id]
	e.tries += tries
	if final != nil {
		e.final = *final
	}
	u.m[id] = e
	u.size.Store(int64(len(u.m)))
}

// get returns what is remembered for id.
func (u *unloggedSet) get(id string) (unlogged, bool) {
	if u.size.Load() == 0 {
		return unlogged{}, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	e, ok := u.m[id]
	return e, ok
}

// forget drops id, whose outcome reached the log.
func (u *unloggedSet) forget(id string) {
	if u.size.Load() == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, id)
	u.size.Store(int64(len(u.m)))
}

// leaseReserve is the part of a lease of length leaseLen (zero: unknown)
// kept after the send for logging the outcome and settling the lease: a
// send's context ends at least that long before its lease does.
func leaseReserve(cfg *Config, leaseLen time.Duration) time.Duration {
	r := cfg.BackendTimeout
	if leaseLen > 0 {
		r = min(r, leaseLen/4)
	}
	return r
}

// startMargin is how much of a lease must be left beyond the reserve for
// a send to start: a send whose leases end sooner is not started.
func startMargin(reserve time.Duration) time.Duration { return reserve / 4 }

// extension is how long from now to extend the leases of a send that must
// end by end and whose leases allow it until cutoff: the send's remaining
// time, the reserve and extendSlack, or the lease's length when the lease
// is shorter than that and the extension still moves its deadline
// forward. The slack covers a queue that returns a deadline slightly
// short of the one asked for (PostgreSQL counts from its own clock, after
// the call started): without it the send would look short of its lease
// again at once and be extended over and over.
func extension(now, end, cutoff time.Time, reserve, leaseLen time.Duration) time.Duration {
	by := end.Add(reserve + extendSlack(reserve)).Sub(now)
	if leaseLen > 0 && leaseLen < by && leaseLen > cutoff.Add(reserve).Sub(now) {
		by = leaseLen
	}
	return by
}

// extendSlack is what an extension asks for beyond the reserve; a cutoff
// within half of it before the send's deadline needs no extension.
func extendSlack(reserve time.Duration) time.Duration { return reserve / 4 }

// abandonGrace is how long past its deadline a Channel call may run before
// the worker stops waiting for it: half the reserve, at most a second, so
// the abandoned attempt is still settled within its lease.
func abandonGrace(reserve time.Duration) time.Duration {
	return min(maxAbandonGrace, reserve/2)
}

// checkLeaseTiming rejects a configuration in which a send of
// Config.SendTimeout could outlive its lease: a queue that reports a
// visibility too short for it and cannot extend leases.
func checkLeaseTiming(cfg *Config) error {
	vr, ok := As[VisibilityReporter](cfg.Queue)
	if !ok {
		return nil
	}
	vis := vr.Visibility()
	if vis <= 0 {
		return nil
	}
	if _, ok := As[LeaseExtender](cfg.Queue); ok {
		return nil
	}
	reserve := leaseReserve(cfg, vis)
	need := cfg.SendTimeout + reserve
	if vis < need {
		return fmt.Errorf("notify: the queue's visibility (%v) is shorter than Config.SendTimeout (%v) plus %v to log the outcome, and the queue cannot extend leases: a slow send could be handed to a second worker and sent twice; raise the queue's visibility to at least %v or lower SendTimeout",
			vis, cfg.SendTimeout, reserve, need)
	}
	return nil
}

// extendLeases extends every lease of execs by ext and returns the
// earliest new deadline. It stops at the first error.
func (d *Dispatcher) extendLeases(base context.Context, ext LeaseExtender, execs []execution, by time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(base, d.cfg.BackendTimeout)
	defer cancel()
	var earliest time.Time
	for i := range execs {
		dl, err := ext.Extend(ctx, execs[i].l, by)
		if err != nil {
			return time.Time{}, fmt.Errorf("extend the lease of %s: %w", execs[i].l.Job.ID, err)
		}
		if earliest.IsZero() || dl.Before(earliest) {
			earliest = dl
		}
	}
	return earliest, nil
}

// stuckError is what an abandoned Channel call is recorded with.
type stuckError struct {
	after    time.Duration
	shutdown bool // the call was canceled by Run's shutdown, not its deadline
}

func (e *stuckError) Error() string {
	why := "its deadline plus a grace period"
	if e.shutdown {
		why = "canceled by shutdown, plus a grace period"
	}
	return fmt.Sprintf("channel did not return within %v (%s); the call was abandoned and may still reach the provider", e.after.Round(time.Millisecond), why)
}

// panicError is a recovered panic of Channel.Send or SendBatch.
type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("channel panicked: %v", e.v) }

// classifyPanic is the rule for a panicking channel: the first attempt
// that panics is retried (the panic may be transient), a panic on
// attempt 2 or later fails the delivery for good, so a poison delivery
// cannot crash-loop or retry forever. Either way the provider may have
// received the message before the panic.
func classifyPanic(err error, attempt int) error {
	if attempt >= 2 {
		return &OutcomeError{Outcome: OutcomePermanent, Err: err, MaybeSent: true}
	}
	return &OutcomeError{Outcome: OutcomeRetry, Err: err, MaybeSent: true}
}

// bounded hands out contexts with a timeout from base for the backend
// calls of one task, sharing one between calls: get makes a new one only
// when the last has less than half the timeout left (or is done), so each
// call gets between timeout/2 and timeout, and a task whose calls are
// quick pays for one context. With src set, the contexts come from src,
// shared with every other task of the same source.
type bounded struct {
	base    context.Context
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
	until   time.Time
	src     *deadlines
	// fixed, when set, is every call's context (the caller's own, when
	// its deadline comes within the timeout).
	fixed context.Context
	// vals, with src, gives src's contexts these values (see valuesOf).
	vals   context.Context
	valsOf context.Context // the src context ctx wraps
}

func (b *bounded) get() context.Context {
	switch {
	case b.fixed != nil:
		return b.fixed
	case b.src != nil && b.vals != nil:
		c := b.src.get()
		if c != b.valsOf {
			b.ctx, b.valsOf = valuesOf{c, b.vals}, c
		}
		return b.ctx
	case b.src != nil:
		return b.src.get()
	}
	if b.ctx == nil || time.Until(b.until) < b.timeout/2 || b.ctx.Err() != nil {
		b.stop()
		b.until = time.Now().Add(b.timeout)
		b.ctx, b.cancel = context.WithDeadline(b.base, b.until)
	}
	return b.ctx
}

// parent is the context the bounded contexts derive from.
func (b *bounded) parent() context.Context {
	switch {
	case b.fixed != nil:
		return b.fixed
	case b.vals != nil:
		return b.vals
	case b.src != nil:
		return b.src.base
	}
	return b.base
}

// stop releases the current context.
func (b *bounded) stop() {
	if b.cancel != nil {
		b.cancel()
		b.ctx, b.cancel = nil, nil
	}
}

// deadlines is bounded shared by many goroutines: one context with a
// deadline serves every call made while it has at least half its timeout
// left, so the per-call cost of a bounded backend call is an atomic load,
// not a context and a timer. One timer per deadlines (not per call) marks
// the current context stale when half its timeout has passed; the next get
// replaces it.
type deadlines struct {
	base    context.Context
	timeout time.Duration

	cur   atomic.Pointer[context.Context]
	stale atomic.Bool

	mu         sync.Mutex
	timer      *time.Timer // sets stale; nil until the first context
	cancel     context.CancelFunc
	prevCancel context.CancelFunc
}

func newDeadlines(base context.Context, timeout time.Duration) *deadlines {
	return &deadlines{base: base, timeout: timeout}
}

func (s *deadlines) get() context.Context {
	// The timer marks a context stale; its Err covers a timer that runs
	// late, and a canceled base.
	if c := s.cur.Load(); c != nil && !s.stale.Load() && (*c).Err() == nil {
		return *c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cur.Load(); c != nil && !s.stale.Load() && (*c).Err() == nil {
		return *c
	}
	// A context handed out until now may still be in use until its
	// deadline; the one before it is past its deadline by now (it was
	// replaced at least timeout/2 ago, with at most timeout/2 left).
	if s.prevCancel != nil {
		s.prevCancel()
	}
	s.prevCancel = s.cancel
	ctx, cancel := context.WithDeadline(s.base, time.Now().Add(s.timeout))
	s.cancel = cancel
	s.stale.Store(false)
	s.cur.Store(&ctx)
	if s.timer == nil {
		s.timer = time.AfterFunc(s.timeout/2, func() { s.stale.Store(true) })
	} else {
		s.timer.Reset(s.timeout / 2)
	}
	return ctx
}

// stop releases every context s handed out.
func (s *deadlines) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range []context.CancelFunc{s.prevCancel, s.cancel} {
		if c != nil {
			c()
		}
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.cur.Store(nil)
	s.cancel, s.prevCancel = nil, nil
}

// valuesOf is a context whose deadline and cancellation are one context's
// and whose values are another's: a Send's backend calls keep the caller's
// values (a trace span) under a shared deadline.
type valuesOf struct {
	context.Context
	vals context.Context
}

func (c valuesOf) Value(key any) any { return c.vals.Value(key) }
