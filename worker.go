package notify

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// task is what the fetcher hands a worker: one lease, or a fetched batch
// of leases for a BatchSender.
type task struct {
	leases []Lease
	pre    []*Decision // batch: the limiter's decisions, aligned with leases
	dec    *Decision   // one lease: its decision
	got    time.Time   // when the leases were received
	batch  bool
}

// pool is one channel's workers while Run runs. Each worker watches its
// own Channel call with a reusable timer (no goroutine per send): the
// timer extends the leases of a send that runs long and, when the call
// has not returned by its deadline plus a grace period, settles the
// attempt in the worker's place, frees its slot and starts a replacement
// worker. The stuck goroutine is then abandoned; it exits when the call
// returns.
type pool struct {
	d       *Dispatcher
	ci      *channelInfo
	stop    context.Context // Run's: leasing stops when it ends
	sendCtx context.Context // canceled when the shutdown grace ends
	base    context.Context // for bookkeeping; outlives sendCtx
	tasks   chan task       // room for every lease sem allows
	sem     *slots
	ext     LeaseExtender // nil when the queue cannot extend leases
	vis     time.Duration // the queue's visibility when it reports one
	// deadlines bound the workers' backend calls (Config.BackendTimeout).
	deadlines *deadlines

	// live counts the workers Run waits for; an abandoned worker hands its
	// place to its replacement.
	live sync.WaitGroup

	mu      sync.Mutex
	workers map[*worker]struct{}
	// suspects are deliveries whose SendBatch panicked: their next
	// attempts are sent alone, with Send, so a poison delivery fails alone
	// and the others of its batch go out.
	suspects map[string]struct{}

	// unlogged is what this Run could not write to the log.
	unlogged unloggedSet
}

// maxSuspects bounds pool.suspects; past it the set starts over.
const maxSuspects = 10_000

// suspect remembers the deliveries of execs, whose SendBatch panicked, to
// be sent alone from then on.
func (p *pool) suspect(execs []execution) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.suspects == nil || len(p.suspects)+len(execs) > maxSuspects {
		p.suspects = make(map[string]struct{}, len(execs))
	}
	for i := range execs {
		p.suspects[execs[i].del.ID] = struct{}{}
	}
}

// alone reports whether del is to be sent alone (see suspects).
func (p *pool) alone(del *Delivery) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.suspects[del.ID]
	return ok
}

// newPool starts ci's workers: their sends run under sendCtx, their
// bookkeeping under base; no task starts once stop ends.
func (d *Dispatcher) newPool(ci *channelInfo, stop, sendCtx, base context.Context) *pool {
	n := ahead(ci.workers, d.cfg.ReceiveBatch)
	p := &pool{
		d: d, ci: ci, stop: stop, sendCtx: sendCtx, base: base,
		tasks:   make(chan task, ci.workers+n),
		sem:     newSlots(ci.workers, n),
		workers: make(map[*worker]struct{}, ci.workers),
	}
	p.deadlines = newDeadlines(base, d.cfg.BackendTimeout)
	p.ext, _ = As[LeaseExtender](d.cfg.Queue)
	if vr, ok := As[VisibilityReporter](d.cfg.Queue); ok {
		p.vis = max(vr.Visibility(), 0)
	}
	for range ci.workers {
		p.live.Add(1)
		p.spawn()
	}
	return p
}

// spawn starts a worker that counts as one of p.live (already added).
func (p *pool) spawn() {
	w := &worker{p: p}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	p.mu.Lock()
	p.workers[w] = struct{}{}
	p.mu.Unlock()
	go w.loop()
}

// hurry makes every watched call that is still running give up after a
// grace period from now (its context is canceled already): at shutdown a
// Channel that ignores its context delays Run by no more than that.
func (p *pool) hurry() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for w := range p.workers {
		w.mu.Lock()
		if w.running {
			w.hurried = true
			w.cancelSend(now, nil)
			w.schedule(now)
		}
		w.mu.Unlock()
	}
}

// worker is one of a pool's goroutines and the watchdog of its current
// Channel call.
type worker struct {
	p     *pool
	timer *time.Timer  // runs fire; reused for every call
	slots int          // slots held by the current task
	one   [1]execution // the execution of a single send
	// dels holds the current task's Deliveries, copied from its leases
	// (see worker.execution): no allocation per delivery. A Channel must
	// not keep a Delivery past its call (see Channel.Send).
	dels []Delivery
	bc   bounded    // the current task's backend contexts
	args settleArgs // the current task's settling calls' arguments
	gone bool       // the worker goroutine's own note: it was abandoned

	mu        sync.Mutex
	gen       uint64 // counts watched calls
	running   bool   // a call is watched
	abandoned bool   // the watchdog gave up on the current call
	execs     []execution
	cancel    context.CancelCauseFunc
	started   time.Time
	end       time.Time // the call's context deadline
	cutoff    time.Time // the call must end by then for its leases to hold; zero: unknown
	reserve   time.Duration
	leaseLen  time.Duration
	canceled  bool
	hurried   bool // canceled by shutdown (hurry)
	extending bool
	abandonAt time.Time
}

// loop runs the tasks the fetcher hands out until it closes p.tasks, or
// until the watchdog abandons the worker's call.
func (w *worker) loop() {
	p := w.p
	for t := range p.tasks {
		if !p.startable(&t) {
			continue
		}
		w.slots = len(t.leases)
		w.run(t)
		if w.gone {
			// The watchdog settled the call, freed the slots and started a
			// replacement; this goroutine only waited for the call.
			p.sem.unstick()
			p.mu.Lock()
			delete(p.workers, w)
			p.mu.Unlock()
			return
		}
		p.sem.release(w.slots)
	}
	w.timer.Stop()
	p.mu.Lock()
	delete(p.workers, w)
	p.mu.Unlock()
	p.live.Done()
}

// startable checks a task a worker took from p.tasks, where its leases
// may have waited for a worker (see pool.fetch), and reports whether to
// run it. Once Run's context has ended, or while as many calls as the
// channel has workers are stuck, the task is not started: its leases go
// back to the queue at once. A lease that ended while it waited is
// dropped (it is handed out again); one about to end is extended or
// returned by worker.begin, before its send.
func (p *pool) startable(t *task) bool {
	if p.sem.taken(len(t.leases)) || p.stop.Err() != nil {
		p.giveBack(t.leases)
		return false
	}
	now := time.Now()
	t.filter(func(l *Lease) bool {
		if !l.Deadline.IsZero() && !now.Before(l.Deadline) {
			p.d.log.Warn("notify: lease ended while the job waited for a worker; it will be handed out again",
				slog.String("channel", p.ci.name), slog.String("job", l.Job.ID), slog.Duration("waited", now.Sub(t.got)))
			p.sem.release(1)
			return false
		}
		return true
	})
	if len(t.leases) > 0 && p.ext != nil {
		p.refresh(t, now)
	}
	return len(t.leases) > 0
}

// refresh extends, back to their length, the leases of t that lost more
// than a quarter of it waiting for a worker, so that they start their
// checks, send and settling with about the time a fresh lease has (a
// sent outcome whose log write fails is retried within its lease). A
// lease found lost is dropped; one whose extension fails otherwise is
// left to worker.begin's checks.
func (p *pool) refresh(t *task, now time.Time) {
	t.filter(func(l *Lease) bool {
		leaseLen := p.vis
		if leaseLen <= 0 {
			leaseLen = l.Deadline.Sub(t.got)
		}
		if l.Deadline.IsZero() || leaseLen <= 0 || l.Deadline.Sub(now) >= leaseLen-leaseLen/4 {
			return true
		}
		ctx, cancel := context.WithTimeout(p.base, p.d.cfg.BackendTimeout)
		dl, err := p.ext.Extend(ctx, *l, leaseLen)
		cancel()
		switch {
		case err == nil:
			l.Deadline = dl
		case errors.Is(err, ErrLeaseLost):
			p.d.log.Warn("notify: lease lost while the job waited for a worker; it will be handed out again",
				slog.String("channel", p.ci.name), slog.String("job", l.Job.ID), slog.Any("error", err))
			p.sem.release(1)
			return false
		default:
			p.d.log.Warn("notify: extend a lease that waited for a worker", slog.String("channel", p.ci.name), slog.Any("error", err))
		}
		return true
	})
}

// filter keeps the leases of t, with their rate-limit decisions, for
// which keep reports true; keep may change the lease it is given.
func (t *task) filter(keep func(l *Lease) bool) {
	kept := 0
	for i := range t.leases {
		if !keep(&t.leases[i]) {
			continue
		}
		t.leases[kept] = t.leases[i]
		if t.pre != nil {
			t.pre[kept] = t.pre[i]
		}
		kept++
	}
	t.leases = t.leases[:kept]
	if t.pre != nil {
		t.pre = t.pre[:kept]
	}
}

// run handles t; a panic outside the Channel call (a Store, Limiter or
// Renderer) is logged and the worker goes on: the leases it held expire
// and are handed out again, each counted as an attempt whose outcome was
// not logged (see unloggedSet), so a delivery that always panics is given
// up after Config.Retry.MaxAttempts. A Channel call still watched is
// unwatched first, so the watchdog does not act on it.
func (w *worker) run(t task) {
	defer func() {
		if r := recover(); r != nil {
			w.unwatch()
			ids := make([]string, len(t.leases))
			for i, l := range t.leases {
				ids[i] = l.Job.ID
				if l.Job.Delivery != nil {
					w.p.unlogged.add(l.Job.Delivery.ID, 1, nil)
				}
			}
			w.p.d.log.Error("notify: panic while handling a delivery; its lease will expire and it will be tried again",
				slog.String("channel", w.p.ci.name), slog.Any("jobs", ids), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	w.bc = bounded{src: w.p.deadlines}
	defer w.bc.stop()
	if len(w.dels) < len(t.leases) {
		w.dels = make([]Delivery, len(t.leases))
	}
	if t.batch {
		w.handleBatch(t.leases, t.pre, t.got)
		return
	}
	w.handle(t.leases[0], t.dec, t.got)
}

// begin starts watching a Channel call for execs and returns its context,
// or nil when the leases leave no time to send (the caller then returns
// them to the queue). Every begin that returned a context is followed by
// finish.
//
// A send never starts on a lease whose cutoff (its deadline minus the
// reserve) is at or before now plus startMargin: the checks before the
// send may have outlasted it, and another worker may hold the job by now.
// When the queue can extend leases, such leases are extended first, once;
// an extension that fails (the lease is lost, or the queue does not
// answer) leaves no time to send.
func (w *worker) begin(execs []execution, got time.Time) (context.Context, context.CancelCauseFunc) {
	p := w.p
	d := p.d
	now := time.Now()
	var lease time.Time
	for i := range execs {
		if dl := execs[i].l.Deadline; !dl.IsZero() && (lease.IsZero() || dl.Before(lease)) {
			lease = dl
		}
	}
	leaseLen := p.vis
	if leaseLen <= 0 && !lease.IsZero() {
		leaseLen = lease.Sub(got)
	}
	reserve := leaseReserve(&d.cfg, leaseLen)
	margin := startMargin(reserve)
	end := now.Add(d.cfg.SendTimeout)
	var cutoff time.Time
	if !lease.IsZero() {
		cutoff = lease.Add(-reserve)
		if p.ext != nil && cutoff.Before(now.Add(margin)) {
			by := extension(now, end, cutoff, reserve, leaseLen)
			dl, err := d.extendLeases(p.base, p.ext, execs, by)
			if err != nil {
				d.log.Warn("notify: extend a lease before its send", slog.String("channel", p.ci.name), slog.Any("error", err))
				return nil, nil
			}
			setDeadlines(execs, dl)
			now = time.Now()
			end = now.Add(d.cfg.SendTimeout)
			cutoff = dl.Add(-reserve)
		}
		if p.ext == nil && cutoff.Before(end) {
			end = cutoff // cannot extend: the lease caps the attempt
		}
		if cutoff.Before(now.Add(margin)) {
			return nil, nil
		}
	}
	if !end.After(now) {
		return nil, nil
	}
	// The watchdog's timer, reused for every call, cancels the context at
	// end: no timer per send.
	cctx, cancel := context.WithCancelCause(p.sendCtx)
	ctx := &attemptCtx{Context: cctx, deadline: end}
	w.mu.Lock()
	w.gen++
	w.running, w.abandoned, w.canceled, w.hurried, w.extending = true, false, false, false, false
	w.execs, w.cancel, w.started, w.end, w.cutoff = execs, cancel, now, end, cutoff
	w.reserve, w.leaseLen = reserve, leaseLen
	w.abandonAt = end.Add(abandonGrace(reserve))
	w.schedule(now)
	w.mu.Unlock()
	return ctx, cancel
}

// attemptCtx is a Channel call's context: it ends with the worker's
// cancel, with Run's send context, or at its deadline, when the worker's
// watchdog cancels it with context.DeadlineExceeded as the cause (and Err
// reports that, as a context.WithDeadline would).
type attemptCtx struct {
	context.Context
	deadline time.Time
}

func (c *attemptCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *attemptCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}

// setDeadlines records dl, the earliest deadline of an extension of every
// lease of execs, as each one's deadline: no lease ends before it.
func setDeadlines(execs []execution, dl time.Time) {
	for i := range execs {
		execs[i].l.Deadline = dl
	}
}

// finish stops watching the call. It reports false when the watchdog gave
// up on it first: the attempt is settled and the caller must not touch
// its executions again.
func (w *worker) finish() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.abandoned {
		w.gone = true
		return false
	}
	w.running = false
	w.execs, w.cancel = nil, nil
	w.timer.Stop()
	return true
}

// unwatch ends a watch that a panic left without its finish: the call's
// context is canceled and the watchdog stops. When the watchdog gave up
// on the call already, the worker is gone as after finish.
func (w *worker) unwatch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.running:
		w.running = false
		w.cancel(nil)
		w.execs, w.cancel = nil, nil
		w.timer.Stop()
	case w.abandoned:
		w.gone = true
	}
}

// needsExtension reports whether the leases end too early for the call's
// deadline and the queue can extend them. A cutoff short of the deadline
// by less than half the extension slack is enough: the reserve after it
// absorbs that much. w.mu is held.
func (w *worker) needsExtension() bool {
	return w.p.ext != nil && !w.cutoff.IsZero() && !w.canceled &&
		w.cutoff.Before(w.end.Add(-extendSlack(w.reserve)/2))
}

// schedule sets the timer for the watch's next event: the call's
// deadline, an extension at half the time left before the cutoff, or
// giving up. w.mu is held.
func (w *worker) schedule(now time.Time) {
	next := w.abandonAt
	if !w.canceled && w.end.Before(next) {
		next = w.end
	}
	if w.needsExtension() {
		// Half the time left, but not in ever shorter steps near the
		// cutoff when extensions keep failing.
		left := w.cutoff.Sub(now)
		at := now.Add(max(left/2, min(left, 10*time.Millisecond), 0))
		if at.Before(next) {
			next = at
		}
	}
	w.timer.Reset(max(next.Sub(now), 0))
}

// cancelSend ends the call's context (early, unless cause is
// context.DeadlineExceeded) and gives it a grace period to return. w.mu is
// held.
func (w *worker) cancelSend(now time.Time, cause error) {
	if w.canceled {
		return
	}
	w.canceled = true
	w.cancel(cause)
	if at := now.Add(abandonGrace(w.reserve)); at.Before(w.abandonAt) {
		w.abandonAt = at
	}
}

// fire is the watchdog: it runs on the timer's goroutine.
func (w *worker) fire() {
	p := w.p
	d := p.d
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	now := time.Now()
	if !now.Before(w.abandonAt) {
		w.running, w.abandoned = false, true
		execs, stuck := w.execs, &stuckError{after: now.Sub(w.started), shutdown: w.hurried}
		w.execs = nil
		w.mu.Unlock()
		p.abandon(w, execs, stuck)
		return
	}
	if !w.canceled && !now.Before(w.end) {
		w.cancelSend(now, context.DeadlineExceeded) // the call's deadline
	}
	if w.needsExtension() && !w.extending {
		if !now.Before(w.cutoff) {
			// The leases could not be extended in time: stop the call
			// before they end.
			d.log.Warn("notify: lease could not be extended; canceling the send before the lease ends",
				slog.String("channel", p.ci.name), slog.String("job", w.execs[0].l.Job.ID))
			w.cancelSend(now, nil)
		} else {
			w.extending = true
			gen, execs := w.gen, w.execs
			by := extension(now, w.end, w.cutoff, w.reserve, w.leaseLen)
			w.mu.Unlock()
			dl, err := d.extendLeases(p.base, p.ext, execs, by)
			w.mu.Lock()
			w.extending = false
			if !w.running || w.gen != gen {
				w.mu.Unlock()
				return
			}
			now = time.Now()
			switch {
			case err == nil:
				w.cutoff = dl.Add(-w.reserve)
				setDeadlines(w.execs, dl)
			case errors.Is(err, ErrLeaseLost):
				d.log.Warn("notify: lease lost while sending; canceling the send", slog.String("channel", p.ci.name), slog.Any("error", err))
				w.cancelSend(now, nil)
			default:
				d.log.Warn("notify: extend lease; trying again", slog.String("channel", p.ci.name), slog.Any("error", err))
			}
		}
	}
	w.schedule(now)
	w.mu.Unlock()
}

// abandon settles a call that did not return in time as a retryable
// attempt that may have reached the provider, frees the worker's slots
// and starts a replacement worker. The stuck goroutine counts against the
// channel's stuck limit until the call returns.
func (p *pool) abandon(w *worker, execs []execution, stuck *stuckError) {
	d := p.d
	p.sem.stick()
	d.log.Error("notify: channel call did not return after its deadline; abandoning it (the goroutine stays until it returns)",
		slog.String("channel", p.ci.name), slog.Any("deliveries", deliveryIDs(execs)), slog.Duration("after", stuck.after))
	oe := &OutcomeError{Outcome: OutcomeRetry, Err: stuck, MaybeSent: true}
	bc := bounded{src: p.deadlines}
	var args settleArgs
	for _, e := range execs {
		e.bc, e.args = &bc, &args
		e.conclude(Result{}, oe)
	}
	bc.stop()
	p.spawn() // takes the abandoned worker's place in p.live
	p.sem.release(w.slots)
}

// call runs Channel.Send, turning a panic into an error.
func (d *Dispatcher) call(ctx context.Context, ci *channelInfo, del *Delivery) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.ErrorContext(ctx, "notify: Channel.Send panicked", slog.String("channel", ci.name), slog.String("delivery", del.ID),
				slog.Int("attempt", del.Attempt), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			res, err = Result{}, classifyPanic(&panicError{v: r}, del.Attempt)
		}
	}()
	return ci.ch.Send(ctx, del)
}

// callBatch runs SendBatch. A panic is a retryable attempt, maybe sent,
// for every delivery of the batch (which one caused it is unknown); it
// reports panicked, and the caller sends those deliveries alone next time.
func (d *Dispatcher) callBatch(ctx context.Context, ci *channelInfo, ds []*Delivery) (results []Result, errs []error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			d.log.ErrorContext(ctx, "notify: Channel.SendBatch panicked; its deliveries will be retried one by one", slog.String("channel", ci.name), slog.Int("deliveries", len(ds)),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			results, errs, panicked = make([]Result, len(ds)), make([]error, len(ds)), true
			for i := range ds {
				errs[i] = &OutcomeError{Outcome: OutcomeRetry, Err: &panicError{v: r}, MaybeSent: true}
			}
		}
	}()
	results, errs = ci.batcher.SendBatch(ctx, ds)
	return results, errs, false
}
