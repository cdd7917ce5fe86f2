package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// bookkeepingTimeout bounds the queue and log writes that follow the last
// sends at shutdown, when Run's own context is already done.
const bookkeepingTimeout = 10 * time.Second

// Run delivers until ctx ends: a fetcher per channel leases jobs from the
// channel's queue and hands each to one of the channel's workers (see
// Config.Workers). Run returns an error at once if it is already running
// on this Dispatcher. While it runs, it also prunes the backends that
// implement [Pruner] (see Config.PruneEvery).
//
// The fetcher leases ahead of its free workers, so that the next batch is
// received while the workers still send and settle the last one: it holds
// at most one lease per worker plus min(Config.Workers,
// Config.ReceiveBatch) more, which wait for a worker to free up. Leases
// wait only while every worker of the channel is busy, for about as long
// as a send and its settling. The bound is kept small because a waiting
// lease is a job that another process sharing the queue, with a worker
// free, could have sent.
//
// Each attempt of a delivery runs at most once at a time and is logged:
//
//   - A send's context ends before its lease does, keeping a reserve to
//     log the outcome and settle the lease (the smaller of
//     Config.BackendTimeout and a quarter of the lease). When the Queue
//     implements [LeaseExtender], the leases of a send that runs long are
//     extended (when half the time left before the reserve is used), so a
//     send gets the whole Config.SendTimeout; if an extension fails the
//     send is canceled before its lease ends. A Queue that cannot extend
//     cuts the attempt at its lease (a SendBatch at the earliest lease of
//     its batch). No send starts on a lease that has run out, or nearly,
//     while it waited for a worker or during the checks before the send:
//     the lease is extended first when the Queue can, else the job goes
//     back to the queue. A lease that ended while it waited is dropped
//     before any check (the queue hands the job out again); one that
//     lost more than a quarter of its length waiting is extended back to
//     its length first, when the Queue can, so the send and its
//     settling have the time a fresh lease gives them.
//   - A lease is never acked or buried without its outcome in the log. A
//     sent outcome whose log write fails is written again with backoff
//     for up to a minute (on a Queue that cannot extend, until the lease
//     ends), extending the lease when the Queue can. Run remembers the
//     outcome meanwhile: if the lease lapses (an extension failed too)
//     and the job comes back to this Run, that receipt logs "sent"
//     instead of sending again. If the writes still fail the lease is
//     left to expire; a redelivery to another process, or after a
//     restart, sends again, logged at error level as maybe sent twice
//     (like a crash during the provider call). Another outcome whose log
//     write fails goes back to the queue; Run remembers it, and the
//     attempts whose outcome did not reach the log, so the next receipt
//     logs that outcome instead of sending again, and attempts stop at
//     Config.Retry.MaxAttempts.
//     (What Run remembers is lost when it returns; a restarted Run counts
//     from the log.)
//   - A panic while handling a delivery outside the Channel call (in a
//     Store, Limiter, Renderer or tracer) is recovered and logged; the
//     lease is left to expire and the panic counts as an attempt, so a
//     delivery that always panics is logged dead and buried after
//     Config.Retry.MaxAttempts receipts.
//   - A panic in Channel.Send or SendBatch is recovered, logged with its
//     stack at error level and counted as an attempt that may have been
//     sent: retryable on attempt 1, a permanent failure ("channel panicked:
//     ...") on attempt 2 or later. When a SendBatch panics, every delivery
//     of the batch is retried, and sent alone with Send from then on, so a
//     poison delivery fails alone.
//   - A Channel call that has not returned by its deadline plus a grace
//     period (half the reserve, at most 1s) is abandoned: the attempt is
//     logged as retrying, maybe sent ("channel did not return within
//     ..."), the lease goes back to the queue as after a retryable error,
//     and a new worker takes the slot. Abandoned calls are logged at error
//     level and counted per channel; while as many as the channel has
//     workers have not returned, the channel leases nothing, and the
//     leases waiting for a worker go back to the queue unattempted.
//   - Every call to a Store, Limiter or Queue carries a deadline: between
//     half of Config.BackendTimeout and all of it (calls of one delivery
//     share a context while it has half left); a Receive, which waits for
//     a job by design, Config.BackendTimeout plus 30s.
//
// When ctx ends Run stops leasing, returns the leases waiting for a worker
// to the queue at once (they were not attempted; no new send starts),
// waits up to Config.ShutdownGrace for in-flight sends, cancels the rest
// and returns their jobs to the queue, then returns nil. A Channel should
// return soon after its context is canceled; one that does not is
// abandoned after the grace period above.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("notify: Run is already running on this Dispatcher")
	}
	defer d.running.Store(false)
	var wg sync.WaitGroup
	for _, name := range d.names {
		ci := d.channels[name]
		wg.Go(func() { d.runChannel(ctx, ci) })
	}
	if ps := d.pruners(); len(ps) > 0 && d.cfg.PruneEvery > 0 {
		wg.Go(func() { d.runPruners(ctx, ps) })
	}
	wg.Wait()
	return nil
}

// pruners returns the configured backends that implement Pruner, each once.
func (d *Dispatcher) pruners() []Pruner {
	var out []Pruner
	for _, b := range []any{d.cfg.Store, d.cfg.Deduper, d.cfg.Queue} {
		p, ok := As[Pruner](b)
		if !ok {
			continue
		}
		// == panics only on two values of one non-comparable type.
		t := reflect.TypeOf(p)
		if !slices.ContainsFunc(out, func(q Pruner) bool { return reflect.TypeOf(q) == t && t.Comparable() && q == p }) {
			out = append(out, p)
		}
	}
	return out
}

// runPruners calls every Pruner once per Config.PruneEvery, the first time
// at a random point of the first period, until ctx ends.
func (d *Dispatcher) runPruners(ctx context.Context, ps []Pruner) {
	every := d.cfg.PruneEvery
	t := time.NewTimer(rand.N(every) + 1)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range ps {
			pctx, cancel := context.WithTimeout(ctx, every)
			n, err := p.Prune(pctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				d.log.WarnContext(ctx, "notify: prune failed; trying again next period", slog.String("backend", fmt.Sprintf("%T", p)), slog.Int64("deleted", n), slog.Any("error", err))
			case n > 0:
				d.log.InfoContext(ctx, "notify: pruned", slog.String("backend", fmt.Sprintf("%T", p)), slog.Int64("deleted", n))
			}
		}
		t.Reset(every)
	}
}

// runChannel is one channel's fetcher and its pool of workers, until ctx
// ends and the pool has drained.
func (d *Dispatcher) runChannel(ctx context.Context, ci *channelInfo) {
	// Sends outlive ctx by up to ShutdownGrace; the queue and log writes
	// that follow them get bookkeepingTimeout more.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	sendCtx, cancelSends := context.WithCancel(base)
	defer cancelSends()
	// A pool of long-lived workers rather than a goroutine per lease: their
	// stacks, once grown by a send, stay grown.
	p := d.newPool(ci, ctx, sendCtx, base)
	defer p.deadlines.stop()
	p.fetch(ctx)
	p.drain(cancelBase, cancelSends)
}

// fetch leases jobs from the channel's queue and hands them to the
// workers until ctx ends or the queue is closed. A semaphore (slots)
// bounds how many leases are held at once: one per worker, and
// ahead(ci) more waiting in p.tasks for a worker to free up, so the
// next batch is leased while the workers still send and settle the last
// one. A lease waits there at most about as long as one of its channel's
// sends; its time left is checked again before its send (worker.begin).
// When fetching stops, the leases still waiting go back to the queue.
func (p *pool) fetch(ctx context.Context) {
	d, sem := p.d, p.sem
	defer p.returnWaiting()
	errDelay := 100 * time.Millisecond
	rb := bounded{base: ctx, timeout: d.cfg.BackendTimeout + receiveWait}
	defer rb.stop()
	for {
		n := sem.acquire(ctx, d.cfg.ReceiveBatch)
		if n == 0 {
			return
		}
		// Receive blocks until a job is ready; the bound only keeps a
		// queue that stopped answering from holding the fetcher forever.
		rctx := rb.get()
		leases, err := d.cfg.Queue.Receive(rctx, p.ci.queue, n)
		timedOut := rctx.Err() != nil && ctx.Err() == nil
		got := time.Now()
		leases = p.trim(ctx, leases, n)
		sem.release(n - len(leases))
		if err != nil && len(leases) == 0 {
			if !p.receiveFailed(ctx, err, timedOut, &errDelay) {
				return
			}
			continue
		}
		errDelay = 100 * time.Millisecond
		p.dispatch(leases, got)
	}
}

// ahead is how many leases a channel's fetcher may hold beyond one per
// worker, waiting for a worker to free up: one Receive's worth, at most
// the channel's workers (a Receive takes less time than a send and its
// settling, so the workers empty the queue of waiting leases no faster
// than the fetcher refills it). Kept small: a lease held here is one that
// another Run sharing the queue, with a worker free, could have sent.
func ahead(workers, receiveBatch int) int { return max(min(workers, receiveBatch), 1) }

// returnWaiting returns to the queue, at once, the leases that wait for a
// worker when fetching stops: they were not attempted, and another Run
// (or the next one) can take them without waiting for their leases to
// end. A worker that takes one first returns it too (see worker.loop).
func (p *pool) returnWaiting() {
	for {
		select {
		case t := <-p.tasks:
			p.sem.taken(len(t.leases))
			p.giveBack(t.leases)
		default:
			return
		}
	}
}

// giveBack returns leases that were not attempted to the queue, at once,
// and frees their slots.
func (p *pool) giveBack(leases []Lease) {
	ctx := p.deadlines.get()
	for _, l := range leases {
		p.d.nack(ctx, l, 0)
	}
	p.sem.release(len(leases))
}

// trim returns to the queue the leases past the n asked for, which a
// backend that ignores its max handed out, and returns the rest.
func (p *pool) trim(ctx context.Context, leases []Lease, n int) []Lease {
	if len(leases) <= n {
		return leases
	}
	for _, l := range leases[n:] {
		p.d.log.WarnContext(ctx, "notify: queue returned more jobs than asked for; returning the surplus", slog.String("queue", p.ci.queue))
		p.d.nack(p.deadlines.get(), l, 0)
	}
	return leases[:n]
}

// receiveFailed deals with a Receive that failed and leased nothing. It
// reports false when fetching is to stop (ctx ended, or the queue is
// closed); otherwise, unless the Receive only found nothing ready within
// its bound, it logs the error and waits *delay, then doubles it (up to
// 10s).
func (p *pool) receiveFailed(ctx context.Context, err error, timedOut bool, delay *time.Duration) bool {
	d := p.d
	if ctx.Err() != nil {
		return false
	}
	if timedOut && errors.Is(err, context.DeadlineExceeded) {
		return true // nothing was ready
	}
	if errors.Is(err, ErrClosed) {
		d.log.ErrorContext(ctx, "notify: queue closed; channel stops delivering", slog.String("channel", p.ci.name))
		return false
	}
	d.log.WarnContext(ctx, "notify: receive failed; retrying", slog.String("channel", p.ci.name), slog.Any("error", err))
	select {
	case <-time.After(*delay):
	case <-ctx.Done():
		return false
	}
	*delay = min(*delay*2, 10*time.Second)
	return true
}

// dispatch hands leases, received at got, to the workers through
// p.tasks: all in one task for a BatchSender, else one task each, with
// the rate limiter's decisions made for the whole fetch (precheckLimits).
// While as many calls as the channel has workers are stuck it returns
// them to the queue. It never blocks: p.tasks has room for every lease
// the slots allow.
func (p *pool) dispatch(leases []Lease, got time.Time) {
	d, sem := p.d, p.sem
	if len(leases) > 0 && sem.jammed() {
		// Calls got stuck while Receive waited: stop leasing until
		// some return (acquire waits for that).
		p.giveBack(leases)
		return
	}
	pre := d.precheckLimits(p.base, leases)
	sem.queued(len(leases))
	if p.ci.batcher != nil && len(leases) > 1 {
		p.tasks <- task{leases: leases, pre: pre, got: got, batch: true}
		return
	}
	for i := range leases {
		t := task{leases: leases[i : i+1], got: got}
		if pre != nil {
			t.dec = pre[i]
		}
		p.tasks <- t
	}
}

// drain stops the pool once fetching has stopped: it waits up to
// Config.ShutdownGrace for the in-flight sends, then cancels them
// (cancelSends) and hurries the calls that ignore it. The bookkeeping
// after the sends ends bookkeepingTimeout after the grace period
// (cancelBase).
func (p *pool) drain(cancelBase, cancelSends context.CancelFunc) {
	d := p.d
	close(p.tasks)
	bk := time.AfterFunc(d.cfg.ShutdownGrace+bookkeepingTimeout, cancelBase)
	defer bk.Stop()
	done := make(chan struct{})
	go func() { p.live.Wait(); close(done) }()
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		d.log.Warn("notify: shutdown grace period over; canceling in-flight sends", slog.String("channel", p.ci.name))
		cancelSends()
		p.hurry()
		<-done
	}
}

// slots counts the leases a channel may still hold: one per worker and
// ahead more, waiting in p.tasks for a worker (see pool.fetch). Unlike a
// channel semaphore it frees a whole batch's slots at once, so the
// fetcher, its only waiter, wakes to every slot a finished SendBatch gave
// back and the next fetch is a batch again, not a single lease.
//
// It also counts the channel's stuck calls (abandoned by the watchdog,
// not yet returned): while there are as many as workers, nothing more is
// leased, so goroutines stuck in a Channel cannot grow without bound.
type slots struct {
	mu    sync.Mutex
	free  int
	stuck int
	limit int // stuck calls that stop leasing
	// waiting counts the leases in p.tasks, not yet taken by a worker.
	// While at least low wait, the fetcher leases only once low slots
	// are free: the workers have work meanwhile, and fewer, fuller
	// Receives cost the queue less.
	waiting int
	low     int
	wake    chan struct{} // one token: "free may have grown"
}

// newSlots returns slots for workers workers and ahead leases waiting for
// them; workers stuck calls stop leasing.
func newSlots(workers, ahead int) *slots {
	return &slots{free: workers + ahead, limit: workers, low: max(ahead/2, 1), wake: make(chan struct{}, 1)}
}

// acquire waits until at least one slot is free (low of them while low
// leases wait for a worker) and fewer calls than the limit are stuck, and
// takes up to max of them. It returns 0 when ctx ends first.
func (s *slots) acquire(ctx context.Context, max int) int {
	for ctx.Err() == nil {
		s.mu.Lock()
		if s.free > 0 && s.stuck < s.limit && (s.waiting < s.low || s.free >= min(s.low, max)) {
			n := min(s.free, max)
			s.free -= n
			s.mu.Unlock()
			return n
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
		}
	}
	return 0
}

// queued counts n leases handed to p.tasks.
func (s *slots) queued(n int) {
	s.mu.Lock()
	s.waiting += n
	s.mu.Unlock()
}

// taken counts n leases a worker took from p.tasks and reports whether as
// many calls as the limit are stuck. The fetcher, if it waits for fuller
// fetches, is woken when few are left waiting.
func (s *slots) taken(n int) (jammed bool) {
	s.mu.Lock()
	s.waiting -= n
	low := s.waiting < s.low && s.waiting+n >= s.low
	jammed = s.stuck >= s.limit
	s.mu.Unlock()
	if low {
		s.signal()
	}
	return jammed
}

// release gives n slots back.
func (s *slots) release(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.free += n
	s.mu.Unlock()
	s.signal()
}

// signal wakes the waiting fetcher, if any, without blocking.
func (s *slots) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stick counts an abandoned call.
func (s *slots) stick() {
	s.mu.Lock()
	s.stuck++
	s.mu.Unlock()
}

// jammed reports whether as many calls as the limit are stuck.
func (s *slots) jammed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stuck >= s.limit
}

// unstick counts an abandoned call that returned.
func (s *slots) unstick() {
	s.mu.Lock()
	s.stuck--
	s.mu.Unlock()
	s.signal()
}

// deliveryIDs lists the deliveries of execs, for a log record.
func deliveryIDs(execs []execution) []string {
	ids := make([]string, len(execs))
	for i := range execs {
		ids[i] = execs[i].del.ID
	}
	return ids
}

// execution is one lease's pass through a channel's worker, from its
// receipt to its outcome, after River's job executor: one value per lease
// handled, holding what each of its steps needs, so that none passes it
// on. prepare runs the checks before the send; send calls the Channel
// under the worker's watchdog (worker.sendBatch sends a batch of them);
// conclude acts on the outcome, settling a final one with settle.
type execution struct {
	// p is the channel's pool: the send and bookkeeping contexts
	// (p.sendCtx, p.base), the queue's optional capabilities and what
	// this Run could not log.
	p *pool
	// bc bounds the backend calls (Config.BackendTimeout): the worker's,
	// or the watchdog's for a call it abandoned.
	bc *bounded
	// args lends the settling Record and Ack calls their arguments: the
	// worker's, or the watchdog's for a call it abandoned.
	args    *settleArgs
	l       Lease
	del     *Delivery
	attempt int
	since   time.Time // when retrying started counting, for MaxAge
}

// execution starts the execution of l on w, the task's i-th lease. Its
// del is w's own copy of l's Delivery, which a queue may share with the
// job's other leases (see Queue.Receive): the steps set its Attempt and
// may render its Message. The copy lives in w.dels until w's next task.
func (w *worker) execution(l Lease, i int) execution {
	e := execution{p: w.p, bc: &w.bc, args: &w.args, l: l}
	if l.Job.Delivery != nil {
		w.dels[i] = *l.Job.Delivery
		e.del = &w.dels[i]
	}
	return e
}

// handle takes one lease through the pipeline. pre, when not nil, is the
// rate limiter's decision made for a whole fetch by precheckLimits.
func (w *worker) handle(l Lease, pre *Decision, got time.Time) {
	e := w.execution(l, 0)
	if e.prepare(pre) {
		e.send(w, got)
	}
}

// send sends e's prepared delivery with Channel.Send under w's watchdog
// and concludes the attempt. got is when its lease was received.
func (e *execution) send(w *worker, got time.Time) {
	p := w.p
	d := p.d
	w.one[0] = *e // the watchdog keeps it: no allocation per send
	execs := w.one[:]
	ctx, cancel := w.begin(execs, got)
	if ctx == nil {
		w.noTimeLeft(execs)
		return
	}
	ctx, span := d.tracing.startDeliver(ctx, e.del)
	start := time.Now()
	res, err := d.call(ctx, p.ci, e.del)
	took := time.Since(start)
	cancel(nil)
	if !w.finish() {
		w.returnedLate(execs, took, err)
		endDeliver(span, Result{}, &stuckError{after: took})
		return
	}
	d.metrics.sent(p.base, p.ci.name, took, err)
	done := execs[0] // its lease's deadline as extended
	done.conclude(res, err)
	endDeliver(span, res, err)
}

// noTimeLeft returns leases whose remaining time cannot hold a send (the
// checks before it took too long) to the queue, at once.
func (w *worker) noTimeLeft(execs []execution) {
	d := w.p.d
	ctx := w.bc.get()
	for _, e := range execs {
		d.log.WarnContext(ctx, "notify: too little of the lease left to send; returning the job to the queue",
			slog.String("delivery", e.del.ID), slog.Time("lease_deadline", e.l.Deadline))
		d.nack(ctx, e.l, 0)
	}
}

// returnedLate logs a Channel call that returned after the watchdog had
// given up on it and settled its attempt.
func (w *worker) returnedLate(execs []execution, took time.Duration, err error) {
	w.p.d.log.Error("notify: an abandoned channel call returned; its outcome is dropped (the attempt was recorded as retrying, maybe sent)",
		slog.String("channel", w.p.ci.name), slog.Any("deliveries", deliveryIDs(execs)), slog.Duration("after", took), slog.Any("error", err))
}

// handleBatch prepares every lease, sends the ready ones with one SendBatch
// (those whose batch panicked before alone, with Send) and concludes each
// on its own.
func (w *worker) handleBatch(leases []Lease, pre []*Decision, got time.Time) {
	execs := make([]execution, 0, len(leases))
	for i, l := range leases {
		var dec *Decision
		if pre != nil {
			dec = pre[i]
		}
		if e := w.execution(l, i); e.prepare(dec) {
			execs = append(execs, e)
		}
	}
	// Deliveries whose batch panicked before go alone, with Send.
	batch := execs[:0]
	for _, e := range execs {
		if !w.p.alone(e.del) {
			batch = append(batch, e)
			continue
		}
		if e.send(w, got); w.gone {
			return
		}
	}
	switch len(batch) {
	case 0:
	case 1:
		batch[0].send(w, got)
	default:
		w.sendBatch(batch, got)
	}
}

// sendBatch sends execs with one SendBatch under w's watchdog, capped by
// the earliest deadline of their leases, and concludes each on its own.
func (w *worker) sendBatch(execs []execution, got time.Time) {
	p := w.p
	d := p.d
	ds := make([]*Delivery, len(execs))
	for i := range execs {
		ds[i] = execs[i].del
	}
	// One span per delivery, each in its own trace; the SendBatch call's
	// context carries none of them.
	var spans []trace.Span
	if d.tracing != nil {
		spans = make([]trace.Span, len(execs))
		for i := range execs {
			_, spans[i] = d.tracing.startDeliver(p.sendCtx, execs[i].del)
		}
	}
	ctx, cancel := w.begin(execs, got)
	if ctx == nil {
		w.noTimeLeft(execs)
		for _, sp := range spans {
			sp.End()
		}
		return
	}
	start := time.Now()
	results, errs, panicked := d.callBatch(ctx, p.ci, ds)
	took := time.Since(start)
	cancel(nil)
	if panicked {
		p.suspect(execs)
	}
	if !w.finish() {
		w.returnedLate(execs, took, nil)
		for _, sp := range spans {
			endDeliver(sp, Result{}, &stuckError{after: took})
		}
		return
	}
	w.concludeBatch(execs, results, errs, took, spans)
}

// concludeBatch concludes each execution of a SendBatch with its own
// answer; a delivery SendBatch did not answer has failed, retryably.
func (w *worker) concludeBatch(execs []execution, results []Result, errs []error, took time.Duration, spans []trace.Span) {
	p := w.p
	for i, e := range execs {
		var res Result
		var err error
		if i < len(results) {
			res = results[i]
		}
		if i < len(errs) {
			err = errs[i]
		} else if i >= len(results) {
			err = fmt.Errorf("channel %s: SendBatch answered %d of %d deliveries", p.ci.name, len(results), len(execs))
		}
		p.d.metrics.sent(p.base, p.ci.name, took, err)
		e.conclude(res, err)
		if spans != nil {
			endDeliver(spans[i], res, err)
		}
	}
}

// prepare runs the checks before a send: log state, expiry, quiet hours,
// opt-out, rate limit, rendering. It settles the lease itself and reports false when
// nothing is to be sent; otherwise it numbers the attempt.
func (e *execution) prepare(pre *Decision) bool {
	d, del := e.p.d, e.del
	if del == nil {
		d.log.ErrorContext(e.bc.parent(), "notify: job without a delivery; burying it", slog.String("job", e.l.Job.ID), slog.String("queue", e.l.Job.Queue))
		d.bury(e.bc.get(), e.l, "job carries no delivery")
		return false
	}
	now := time.Now()
	st, ok := e.checkLog(now)
	if !ok {
		return false
	}
	if del.Expired(now) {
		e.settle(Event{Status: StatusExpired, Reason: ReasonExpired, Attempt: st.Attempts})
		return false
	}
	if !e.outsideQuietHours(now, st.Attempts) {
		return false
	}
	if !e.allowed() || !e.withinLimit(pre, st.Attempts) || !e.render(st.Attempts) {
		return false
	}
	del.Attempt = st.Attempts + 1
	since := st.Since
	if since.IsZero() {
		since = del.CreatedAt
	}
	if del.SendAt.After(since) {
		since = del.SendAt
	}
	e.attempt, e.since = del.Attempt, since
	return true
}

// checkLog returns the delivery's state in the log, for its attempts so
// far; on a first receipt (after Send or Replay) the log can hold nothing
// newer than "queued", so only a redelivery reads it. It settles the
// lease, or returns it to the queue when the log cannot be read, and
// reports false when nothing is to be sent.
//
// A redelivery also counts the attempts of this Run whose outcome did not
// reach the log (p.unlogged): it logs a final outcome decided earlier
// instead of sending again, and gives up without sending once the
// attempts reach Config.Retry.MaxAttempts.
func (e *execution) checkLog(now time.Time) (DeliveryState, bool) {
	d, del := e.p.d, e.del
	st := DeliveryState{Status: StatusQueued, Since: now}
	if e.l.Attempt == 1 && !del.Recheck {
		return st, true
	}
	var err error
	st, err = d.cfg.Store.State(e.bc.get(), del.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		d.log.WarnContext(e.bc.parent(), "notify: read delivery state; retrying later", slog.String("delivery", del.ID), slog.Any("error", err))
		d.nack(e.bc.get(), e.l, time.Second)
		return st, false
	}
	switch {
	case st.Status == StatusDead:
		// Dead in the log but leased (a Bury that lost its lease, or a
		// Replay that raced another): back to the dead state.
		d.bury(e.bc.get(), e.l, "dead in the log")
		return st, false
	case st.Status.Final():
		// A redelivery of something already settled (a crash between
		// the log write and the ack, or an expired lease): send nothing.
		d.ack(e.bc.get(), e.l)
		return st, false
	}
	if u, ok := e.p.unlogged.get(del.ID); ok {
		if u.final.Status != "" {
			d.log.InfoContext(e.bc.parent(), "notify: logging an outcome decided by an earlier attempt, whose log write failed; not sending again",
				slog.String("delivery", del.ID), slog.String("status", string(u.final.Status)))
			e.settle(u.final)
			return st, false
		}
		st.Attempts += u.tries
	}
	if st.Attempts > 0 && d.cfg.Retry.GiveUp(st.Attempts, time.Time{}, now) {
		// Only attempts whose outcome was not logged get here: a
		// logged last attempt is dead already.
		e.settle(Event{Status: StatusDead, Attempt: st.Attempts,
			Reason: fmt.Sprintf("gave up after %d attempts, some of whose outcomes could not be logged", st.Attempts)})
		return st, false
	}
	return st, true
}

// allowed re-checks the user's preferences (see
// Dispatcher.preferenceSkip). It settles the lease as skipped when the
// user opted out since accept (or has not opted in to an opt-in
// category), returns it to the queue when the Store cannot answer, and
// reports whether the send goes on.
func (e *execution) allowed() bool {
	d, del := e.p.d, e.del
	reason, err := d.preferenceSkip(e.bc.get(), del.UserID, del.Category, del.Channel, del.Critical)
	if err != nil {
		d.log.WarnContext(e.bc.parent(), "notify: read preferences; retrying later", slog.String("delivery", del.ID), slog.Any("error", err))
		d.nack(e.bc.get(), e.l, time.Second)
		return false
	}
	if reason != "" {
		e.settle(Event{Status: StatusSkipped, Reason: reason})
		return false
	}
	return true
}

// render renders the template of a delivery that carries no message,
// bounded like a backend call (Config.BackendTimeout). A template that
// fails to render fails the delivery; one cut by the bound counts as an
// attempt and goes back to the queue. attempts is the delivery's attempts
// so far. It reports whether the send goes on.
func (e *execution) render(attempts int) bool {
	d, del := e.p.d, e.del
	if !del.Message.IsZero() || del.Template == "" {
		return true
	}
	if d.cfg.Renderer == nil {
		e.settle(Event{Status: StatusFailed, Reason: "render: no Renderer configured", Attempt: attempts})
		return false
	}
	rctx := e.bc.get()
	msg, err := d.cfg.Renderer.Render(rctx, del)
	if err != nil && rctx.Err() != nil && errors.Is(err, rctx.Err()) {
		// Cut by the bound: counted as an attempt, so a template that
		// never renders in time is given up at MaxAttempts.
		d.log.WarnContext(e.bc.parent(), "notify: render did not finish within Config.BackendTimeout; retrying later", slog.String("delivery", del.ID), slog.Any("error", err))
		e.p.unlogged.add(del.ID, 1, nil)
		d.nack(e.bc.get(), e.l, time.Second)
		return false
	}
	if err != nil {
		e.settle(Event{Status: StatusFailed, Reason: "render: " + err.Error(), Attempt: attempts})
		return false
	}
	del.Message = msg
	return true
}

// conclude acts on a send's outcome: it settles a final one, and returns
// the lease of a retryable or configuration error to the queue. An error
// of a send canceled by Run's shutdown (p.sendCtx) is a retryable attempt
// that may have been sent.
func (e *execution) conclude(res Result, err error) {
	d, del := e.p.d, e.del
	if err == nil {
		ev := Event{Status: StatusSent, Attempt: e.attempt, ProviderID: res.ProviderID}
		if res.Units > 1 {
			ev.Reason = fmt.Sprintf("%d units", res.Units)
		}
		e.settle(ev)
		return
	}
	ctx := e.bc.get()
	oe := Classify(err)
	interrupted := e.p.sendCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	if interrupted {
		// Canceled by shutdown: the provider may or may not have it. Retry
		// at once (by the next Run), within the retry policy.
		oe = &OutcomeError{Outcome: OutcomeRetry, Err: fmt.Errorf("interrupted by shutdown: %w", err), MaybeSent: true}
	}
	ev := Event{Attempt: e.attempt, Reason: oe.Error(), MaybeSent: oe.MaybeSent}
	switch oe.Outcome {
	case OutcomePermanent:
		ev.Status = StatusFailed
		e.settle(ev)
	case OutcomeInvalidRecipient:
		ev.Status = StatusInvalid
		d.act(ctx, del, oe, &ev)
		e.settle(ev)
	case OutcomeOptedOut:
		ev.Status = StatusOptedOut
		d.act(ctx, del, oe, &ev)
		e.settle(ev)
	case OutcomeConfig:
		ev.Status = StatusConfig
		ev.Reason += "; retry in " + d.cfg.ConfigErrorDelay.String()
		d.log.ErrorContext(ctx, "notify: channel configuration error; the delivery stays queued until it is fixed",
			slog.String("channel", e.p.ci.name), slog.String("delivery", del.ID), slog.Any("error", err))
		d.record(ctx, del, ev)
		d.nack(ctx, e.l, d.cfg.ConfigErrorDelay)
	default:
		e.retry(ctx, ev, oe, interrupted)
	}
}

// retry returns the lease of a retryable attempt to the queue after the
// retry policy's backoff (at once when the attempt was interrupted by
// shutdown), logged as retrying, or settles it as dead when the policy
// gives up.
func (e *execution) retry(ctx context.Context, ev Event, oe *OutcomeError, interrupted bool) {
	d := e.p.d
	delay := d.cfg.Retry.Backoff(e.attempt, oe.RetryAfter)
	if interrupted {
		delay = 0
	}
	if d.cfg.Retry.GiveUp(e.attempt, e.since, time.Now().Add(delay)) {
		ev.Status = StatusDead
		e.settle(ev)
		return
	}
	ev.Status = StatusRetrying
	ev.Reason += "; retry in " + delay.Round(time.Millisecond).String()
	if d.record(ctx, e.del, ev) != nil {
		// The next receipt counts this attempt all the same.
		e.p.unlogged.add(e.del.ID, 1, nil)
	}
	d.nack(ctx, e.l, delay)
}

// act does what an invalid-recipient or opted-out verdict on del asks of
// the Store: remove the address, or store the opt-out. A failure is logged
// and added to ev's reason.
func (d *Dispatcher) act(ctx context.Context, del *Delivery, oe *OutcomeError, ev *Event) {
	if del.UserID == "" {
		return
	}
	if err := feedbackAction(ctx, d.cfg.Store, del, oe); err != nil {
		d.log.ErrorContext(ctx, "notify: act on a channel's verdict", slog.String("delivery", del.ID),
			slog.String("channel", del.Channel), slog.String("outcome", oe.Outcome.String()), slog.Any("error", err))
		ev.Reason += "; could not " + err.Error()
	}
}

// settle records a final event and acks the lease (buries it, for a dead
// event). The log is written first: if the process dies between the two,
// the redelivery finds the final status and sends nothing.
//
// A lease is never acked or buried without its outcome in the log. When
// the log write fails, a sent delivery is retried by settleSent; anything
// else goes back to the queue for unloggedDelay, and p remembers the
// outcome of an attempt, so the next receipt in this Run logs it instead
// of sending again.
func (e *execution) settle(ev Event) {
	if ev.Status == StatusSent {
		e.settleSent(ev)
		return
	}
	d, l, del := e.p.d, e.l, e.del
	ctx := e.bc.get()
	var logged bool
	if ev.Status == StatusDead {
		if logged = d.record(ctx, del, ev) == nil; logged {
			d.bury(ctx, l, ev.Reason)
		}
	} else {
		logged, _ = d.logAndAck(ctx, e.args, l, del, &ev)
	}
	if logged {
		e.p.unlogged.forget(del.ID)
		return
	}
	if ev.Status.Attempted() {
		fillEvent(&ev, del)
		e.p.unlogged.add(del.ID, 0, &ev)
	}
	d.nack(ctx, l, unloggedDelay)
}

// logAndAck records ev and acks l: atomically when the Queue can write the
// log, else one after the other. It reports whether ev reached the log (an
// ack that fails after it did is only logged: the redelivery finds the
// final status and sends nothing). a lends the Record and Ack calls
// their arguments.
func (d *Dispatcher) logAndAck(ctx context.Context, a *settleArgs, l Lease, del *Delivery, ev *Event) (bool, error) {
	fillEvent(ev, del)
	if d.lq != nil {
		err := d.lq.AckLogged(ctx, d.cfg.Store, l, *ev)
		switch {
		case err == nil:
			d.metrics.event(ctx, ev)
			return true, nil
		case errors.Is(err, ErrLeaseLost):
			d.metrics.event(ctx, ev) // recorded all the same
			d.log.WarnContext(ctx, "notify: ack", slog.String("job", l.Job.ID), slog.Any("error", err))
			return true, nil
		case !errors.Is(err, errors.ErrUnsupported):
			d.log.ErrorContext(ctx, "notify: record and ack", slog.String("delivery", del.ID),
				slog.String("status", string(ev.Status)), slog.Any("error", err))
			return false, err
		}
	}
	a.ev[0] = *ev
	if err := d.recordIn(ctx, del, a.ev[:]); err != nil {
		return false, err
	}
	a.l[0] = l
	d.ackIn(ctx, a.l[:])
	return true, nil
}

// settleSent logs a sent outcome and acks its lease. A sent delivery must
// not be acked unlogged (its log would say queued forever) nor returned to
// the queue (it would be sent again), so a failed log write is retried
// with backoff for up to logRetryFor, extending the lease when the queue
// can (e.l's deadline is the latest the worker knows of), and only until
// the lease ends when it cannot. From the first failure on (from the
// start, when the first write may outlast what is left of the lease),
// p.unlogged holds the outcome: should the lease lapse meanwhile (an
// extension failed too), a redelivery of the job to this Run logs "sent"
// with its own lease instead of sending again (checkLog), and this loop
// stops once it sees that (acking its own lease, if it still holds it).
// When the writes still fail the lease is left to expire; a redelivery to
// this Run still logs the outcome without sending, but one to another
// process (or after a restart) finds no final status and sends again,
// like a crash during the provider call: that is logged at error level as
// maybe sent twice.
func (e *execution) settleSent(ev Event) {
	d, l, del := e.p.d, e.l, e.del
	base := e.bc.parent()
	ext := e.p.ext
	start := time.Now()
	wait := 50 * time.Millisecond
	var t *time.Timer
	// A first write that may outlast the lease is covered from its start:
	// the redelivery of a lease that lapses during it must find the
	// outcome too.
	early := !l.Deadline.IsZero() && time.Until(l.Deadline) < d.cfg.BackendTimeout
	if early {
		fillEvent(&ev, del)
		e.p.unlogged.add(del.ID, 0, &ev)
	}
	for try := 1; ; try++ {
		if try > 1 && e.loggedElsewhere(&ev) {
			// Logged by the redelivery: this lease, if still held, has
			// nothing left to do.
			if err := d.cfg.Queue.Ack(e.bc.get(), l); err != nil && !errors.Is(err, ErrLeaseLost) {
				d.log.WarnContext(base, "notify: ack", slog.String("job", l.Job.ID), slog.Any("error", err))
			}
			return
		}
		logged, err := d.logAndAck(e.bc.get(), e.args, l, del, &ev)
		if logged {
			e.p.unlogged.forget(del.ID)
			if try > 1 {
				d.log.InfoContext(base, "notify: sent outcome logged after retrying", slog.String("delivery", del.ID), slog.Int("tries", try))
			}
			return
		}
		if try == 1 && !early {
			e.p.unlogged.add(del.ID, 0, &ev) // ev is stamped by logAndAck
		}
		// A lease that cannot be extended is not worth holding past its
		// deadline: the redelivery may be sending by then.
		leaseOver := ext == nil && !l.Deadline.IsZero() && !time.Now().Add(wait).Before(l.Deadline)
		if base.Err() != nil || time.Since(start)+wait > logRetryFor || leaseOver {
			d.log.ErrorContext(base, "notify: could not log a sent delivery; leaving its lease to expire: a redelivery to this process logs it without sending, one to another process sends it again (maybe sent twice)",
				slog.String("delivery", del.ID), slog.String("job", l.Job.ID), slog.Int("tries", try), slog.Bool("maybe_sent", true), slog.Any("error", err))
			return
		}
		if ext != nil && !l.Deadline.IsZero() && time.Until(l.Deadline) < wait+2*d.cfg.BackendTimeout {
			d.extendForLog(base, ext, &l, wait)
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-t.C:
		case <-base.Done():
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// loggedElsewhere reports whether the sent outcome ev, which settleSent is
// retrying, was logged by a redelivery of the job to this Run (checkLog
// took it from p.unlogged), as the log confirms. When p.unlogged lost it
// otherwise (the set starts over past maxUnlogged), or the log cannot say,
// ev is remembered again and settleSent goes on.
func (e *execution) loggedElsewhere(ev *Event) bool {
	if u, ok := e.p.unlogged.get(e.del.ID); ok && u.final.Status == StatusSent {
		return false
	}
	st, err := e.p.d.cfg.Store.State(e.bc.get(), e.del.ID)
	if err == nil && st.Status.Final() {
		return true
	}
	e.p.unlogged.add(e.del.ID, 0, ev)
	return false
}

// extendForLog extends l while settleSent waits to retry a log write, by
// enough for the wait and two backend calls, and updates its deadline.
func (d *Dispatcher) extendForLog(base context.Context, ext LeaseExtender, l *Lease, wait time.Duration) {
	ctx, cancel := context.WithTimeout(base, d.cfg.BackendTimeout)
	defer cancel()
	dl, err := ext.Extend(ctx, *l, wait+3*d.cfg.BackendTimeout)
	if err != nil {
		d.log.WarnContext(base, "notify: extend the lease of a sent delivery whose log write failed", slog.String("job", l.Job.ID), slog.Any("error", err))
		return
	}
	l.Deadline = dl
}

// fillEvent stamps ev with its delivery's identity and the time.
func fillEvent(ev *Event, del *Delivery) {
	ev.DeliveryID, ev.NotificationID, ev.UserID = del.ID, del.NotificationID, del.UserID
	ev.Category, ev.Channel, ev.Address = del.Category, del.Channel, del.Address
	ev.Template, ev.Locale = del.Template, del.Locale
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
}

// settleArgs holds the arguments of a settling Store.Record and
// Queue.Ack (see logAndAck), so that passing them allocates nothing:
// neither method keeps them. Each worker has its own, and the watchdog
// its own for a call it abandons: one goroutine uses one at a time.
type settleArgs struct {
	ev [1]Event
	l  [1]Lease
}

// record writes ev, stamped with del's identity, to the log and counts it
// in the metrics. A failure is logged and returned.
func (d *Dispatcher) record(ctx context.Context, del *Delivery, ev Event) error {
	fillEvent(&ev, del)
	return d.recordIn(ctx, del, []Event{ev})
}

// recordIn is record of the one event in evs, already stamped with del's
// identity, in a slice the caller owns and may reuse once recordIn
// returns (Store.Record keeps no argument).
func (d *Dispatcher) recordIn(ctx context.Context, del *Delivery, evs []Event) error {
	ev := &evs[0]
	err := d.cfg.Store.Record(ctx, evs...)
	if err == nil {
		d.metrics.event(ctx, ev)
	} else {
		d.log.ErrorContext(ctx, "notify: record delivery event", slog.String("delivery", del.ID),
			slog.String("status", string(ev.Status)), slog.Any("error", err))
	}
	return err
}

// ack acks l; a failure is logged.
func (d *Dispatcher) ack(ctx context.Context, l Lease) {
	d.ackIn(ctx, []Lease{l})
}

// ackIn is ack of the one lease in ls, a slice the caller owns and may
// reuse once ackIn returns (Queue.Ack keeps no argument).
func (d *Dispatcher) ackIn(ctx context.Context, ls []Lease) {
	if err := d.cfg.Queue.Ack(ctx, ls...); err != nil {
		d.log.WarnContext(ctx, "notify: ack", slog.String("job", ls[0].Job.ID), slog.Any("error", err))
	}
}

// nack returns l to the queue, visible again after delay; a failure is
// logged.
func (d *Dispatcher) nack(ctx context.Context, l Lease, delay time.Duration) {
	if err := d.cfg.Queue.Nack(ctx, l, delay); err != nil {
		d.log.WarnContext(ctx, "notify: nack", slog.String("job", l.Job.ID), slog.Any("error", err))
	}
}

// bury moves l to its queue's dead state with reason; a failure is logged.
func (d *Dispatcher) bury(ctx context.Context, l Lease, reason string) {
	if err := d.cfg.Queue.Bury(ctx, l, reason); err != nil {
		d.log.WarnContext(ctx, "notify: bury", slog.String("job", l.Job.ID), slog.Any("error", err))
	}
}
