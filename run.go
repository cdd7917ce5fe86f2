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
// Config.Workers). When ctx ends Run stops leasing, waits up to
// Config.ShutdownGrace for in-flight sends, cancels the rest and returns
// their jobs to the queue, then returns nil. A Channel must return soon
// after its context is canceled: Run waits for every send it started. Run
// returns an error at once if it is already running on this Dispatcher.
// While it runs, it also prunes the backends that implement [Pruner]
// (see Config.PruneEvery).
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
		p, ok := b.(Pruner)
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

// runChannel is one channel's fetcher. A semaphore of ci.workers slots
// bounds how many leases are held at once, so nothing is leased that no
// worker is free to send (a lease waiting in a buffer could expire).
func (d *Dispatcher) runChannel(ctx context.Context, ci *channelInfo) {
	// Sends outlive ctx by up to ShutdownGrace; the queue and log writes
	// that follow them get bookkeepingTimeout more.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	sendCtx, cancelSends := context.WithCancel(base)
	defer cancelSends()
	sem := newSlots(ci.workers)
	// A pool of long-lived workers rather than a goroutine per lease: their
	// stacks, once grown by a send, stay grown.
	work := make(chan func())
	var inflight sync.WaitGroup
	for range ci.workers {
		inflight.Go(func() {
			for f := range work {
				f()
			}
		})
	}
	errDelay := 100 * time.Millisecond

fetch:
	for {
		n := sem.acquire(ctx, d.cfg.ReceiveBatch)
		if n == 0 {
			break fetch
		}
		leases, err := d.cfg.Queue.Receive(ctx, ci.queue, n)
		if len(leases) > n { // a backend that ignores max: return the surplus
			for _, l := range leases[n:] {
				d.log.WarnContext(ctx, "notify: queue returned more jobs than asked for; returning the surplus", slog.String("queue", ci.queue))
				d.nack(base, l, 0)
			}
			leases = leases[:n]
		}
		sem.release(n - len(leases))
		if err != nil && len(leases) == 0 {
			if ctx.Err() != nil {
				break fetch
			}
			if errors.Is(err, ErrClosed) {
				d.log.ErrorContext(ctx, "notify: queue closed; channel stops delivering", slog.String("channel", ci.name))
				break fetch
			}
			d.log.WarnContext(ctx, "notify: receive failed; retrying", slog.String("channel", ci.name), slog.Any("error", err))
			select {
			case <-time.After(errDelay):
			case <-ctx.Done():
				break fetch
			}
			errDelay = min(errDelay*2, 10*time.Second)
			continue
		}
		errDelay = 100 * time.Millisecond
		pre := d.precheckLimits(base, leases)
		if ci.batcher != nil && len(leases) > 1 {
			work <- func() {
				d.handleBatch(sendCtx, base, ci, leases, pre)
				sem.release(len(leases))
			}
			continue
		}
		for i, l := range leases {
			var dec *Decision
			if pre != nil {
				dec = pre[i]
			}
			work <- func() {
				d.handle(sendCtx, base, ci, l, dec)
				sem.release(1)
			}
		}
	}

	close(work)
	bk := time.AfterFunc(d.cfg.ShutdownGrace+bookkeepingTimeout, cancelBase)
	defer bk.Stop()
	done := make(chan struct{})
	go func() { inflight.Wait(); close(done) }()
	grace := time.NewTimer(d.cfg.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		d.log.Warn("notify: shutdown grace period over; canceling in-flight sends", slog.String("channel", ci.name))
		cancelSends()
		<-done
	}
}

// slots counts a channel's free workers. Unlike a channel semaphore it
// frees a whole batch's slots at once, so the fetcher, its only waiter,
// wakes to every slot a finished SendBatch gave back and the next fetch
// is a batch again, not a single lease.
type slots struct {
	mu   sync.Mutex
	free int
	wake chan struct{} // one token: "free may have grown"
}

func newSlots(n int) *slots { return &slots{free: n, wake: make(chan struct{}, 1)} }

// acquire waits until at least one slot is free and takes up to max of
// them. It returns 0 when ctx ends first.
func (s *slots) acquire(ctx context.Context, max int) int {
	for ctx.Err() == nil {
		s.mu.Lock()
		if s.free > 0 {
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

// release gives n slots back.
func (s *slots) release(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.free += n
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// step is one leased delivery on its way through the worker.
type step struct {
	l       Lease
	d       *Delivery
	attempt int
	since   time.Time // when retrying started counting, for MaxAge
}

// precheckLimits asks a BatchLimiter, in one call, about the fetched
// leases that are first receipts in a rate-limited category. It returns
// decisions aligned with leases (nil where none was made), or nil. A
// delivery found skippable afterwards (opted out since accept) has then
// used up an event of its user's limit; the price of one round trip per
// batch instead of one per delivery.
func (d *Dispatcher) precheckLimits(ctx context.Context, leases []Lease) []*Decision {
	bl, ok := d.cfg.Limiter.(BatchLimiter)
	if !ok || len(leases) < 2 {
		return nil
	}
	now := time.Now()
	var reqs []LimitRequest
	var idx []int
	for i, l := range leases {
		del := l.Job.Delivery
		if del == nil || del.UserID == "" || l.Attempt != 1 || del.Expired(now) {
			continue
		}
		if pol := d.policy(del.Category); !pol.Limit.IsZero() {
			reqs = append(reqs, LimitRequest{Key: limitKey(del), Limit: pol.Limit})
			idx = append(idx, i)
		}
	}
	if len(reqs) < 2 {
		return nil
	}
	decs, errs := bl.AllowBatch(ctx, reqs)
	out := make([]*Decision, len(leases))
	for j, i := range idx {
		if j < len(decs) && (j >= len(errs) || errs[j] == nil) {
			out[i] = &decs[j]
		}
	}
	return out
}

func limitKey(del *Delivery) string { return del.UserID + "\x00" + del.Category }

// handle takes one lease through the pipeline. pre, when not nil, is the
// rate limiter's decision made for a whole fetch by precheckLimits.
func (d *Dispatcher) handle(sendCtx, base context.Context, ci *channelInfo, l Lease, pre *Decision) {
	s, ok := d.prepare(base, ci, l, pre)
	if !ok {
		return
	}
	d.handleStep(sendCtx, base, ci, s)
}

// handleStep sends one prepared delivery and acts on the outcome.
func (d *Dispatcher) handleStep(sendCtx, base context.Context, ci *channelInfo, s step) {
	ctx, cancel := context.WithTimeout(sendCtx, d.cfg.SendTimeout)
	ctx, span := d.tracing.startDeliver(ctx, s.d)
	start := time.Now()
	res, err := ci.ch.Send(ctx, s.d)
	d.metrics.sent(base, ci.name, time.Since(start), err)
	cancel()
	d.finish(sendCtx, base, ci, s, res, err)
	endDeliver(span, res, err)
}

// handleBatch prepares every lease, sends the ready ones with one SendBatch
// and finishes each on its own.
func (d *Dispatcher) handleBatch(sendCtx, base context.Context, ci *channelInfo, leases []Lease, pre []*Decision) {
	steps := make([]step, 0, len(leases))
	for i, l := range leases {
		var dec *Decision
		if pre != nil {
			dec = pre[i]
		}
		if s, ok := d.prepare(base, ci, l, dec); ok {
			steps = append(steps, s)
		}
	}
	switch len(steps) {
	case 0:
		return
	case 1:
		d.handleStep(sendCtx, base, ci, steps[0])
		return
	}
	ds := make([]*Delivery, len(steps))
	for i := range steps {
		ds[i] = steps[i].d
	}
	// One span per delivery, each in its own trace; the SendBatch call's
	// context carries none of them.
	var spans []trace.Span
	if d.tracing != nil {
		spans = make([]trace.Span, len(steps))
		for i := range steps {
			_, spans[i] = d.tracing.startDeliver(sendCtx, steps[i].d)
		}
	}
	ctx, cancel := context.WithTimeout(sendCtx, d.cfg.SendTimeout)
	start := time.Now()
	results, errs := ci.batcher.SendBatch(ctx, ds)
	took := time.Since(start)
	cancel()
	for i, s := range steps {
		var res Result
		var err error
		if i < len(results) {
			res = results[i]
		}
		if i < len(errs) {
			err = errs[i]
		} else if i >= len(results) {
			err = fmt.Errorf("channel %s: SendBatch answered %d of %d deliveries", ci.name, len(results), len(ds))
		}
		d.metrics.sent(base, ci.name, took, err)
		d.finish(sendCtx, base, ci, s, res, err)
		if spans != nil {
			endDeliver(spans[i], res, err)
		}
	}
}

// prepare runs the checks before a send: log state, expiry, opt-out, rate
// limit, rendering. It settles the lease itself and reports false when
// nothing is to be sent.
func (d *Dispatcher) prepare(ctx context.Context, ci *channelInfo, l Lease, pre *Decision) (step, bool) {
	del := l.Job.Delivery
	if del == nil {
		d.log.ErrorContext(ctx, "notify: job without a delivery; burying it", slog.String("job", l.Job.ID), slog.String("queue", l.Job.Queue))
		d.bury(ctx, l, "job carries no delivery")
		return step{}, false
	}
	now := time.Now()
	// On a first receipt (after Send or Replay) the log can hold nothing
	// newer than "queued": only a redelivery needs to read it.
	st := DeliveryState{Status: StatusQueued, Since: now}
	if l.Attempt != 1 {
		var err error
		st, err = d.cfg.Store.State(ctx, del.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			d.log.WarnContext(ctx, "notify: read delivery state; retrying later", slog.String("delivery", del.ID), slog.Any("error", err))
			d.nack(ctx, l, time.Second)
			return step{}, false
		}
		switch {
		case st.Status == StatusDead:
			// Dead in the log but leased (a Bury that lost its lease, or a
			// Replay that raced another): back to the dead state.
			d.bury(ctx, l, "dead in the log")
			return step{}, false
		case st.Status.Final():
			// A redelivery of something already settled (a crash between
			// the log write and the ack, or an expired lease): send nothing.
			d.ack(ctx, l)
			return step{}, false
		}
	}
	if del.Expired(now) {
		d.settle(ctx, l, del, Event{Status: StatusExpired, Reason: ReasonExpired, Attempt: st.Attempts})
		return step{}, false
	}
	if del.UserID != "" && !del.Critical {
		ok, err := d.allowed(ctx, del.UserID, del.Category, del.Channel)
		if err != nil {
			d.log.WarnContext(ctx, "notify: read preferences; retrying later", slog.String("delivery", del.ID), slog.Any("error", err))
			d.nack(ctx, l, time.Second)
			return step{}, false
		}
		if !ok {
			d.settle(ctx, l, del, Event{Status: StatusSkipped, Reason: ReasonOptedOut})
			return step{}, false
		}
	}
	if st.Attempts == 0 && d.cfg.Limiter != nil && del.UserID != "" {
		if pol := d.policy(del.Category); !pol.Limit.IsZero() {
			var dec Decision
			var err error
			if pre != nil {
				dec = *pre
			} else {
				dec, err = d.cfg.Limiter.Allow(ctx, limitKey(del), pol.Limit)
			}
			if err != nil {
				d.log.WarnContext(ctx, "notify: rate limiter failed; deferring", slog.String("delivery", del.ID), slog.Any("error", err))
				d.nack(ctx, l, time.Second)
				return step{}, false
			}
			if !dec.Allowed {
				if pol.OverLimit == Drop {
					d.settle(ctx, l, del, Event{Status: StatusSkipped, Reason: ReasonRateLimit})
					return step{}, false
				}
				wait := max(dec.RetryAfter, time.Millisecond)
				d.record(ctx, del, Event{Status: StatusDeferred, Reason: "rate limited; retry in " + wait.String()})
				d.nack(ctx, l, wait)
				return step{}, false
			}
		}
	}
	if del.Message.IsZero() && del.Template != "" {
		if d.cfg.Renderer == nil {
			d.settle(ctx, l, del, Event{Status: StatusFailed, Reason: "render: no Renderer configured", Attempt: st.Attempts})
			return step{}, false
		}
		msg, err := d.cfg.Renderer.Render(ctx, del)
		if err != nil {
			d.settle(ctx, l, del, Event{Status: StatusFailed, Reason: "render: " + err.Error(), Attempt: st.Attempts})
			return step{}, false
		}
		del.Message = msg
	}
	del.Attempt = st.Attempts + 1
	since := st.Since
	if since.IsZero() {
		since = del.CreatedAt
	}
	if del.SendAt.After(since) {
		since = del.SendAt
	}
	return step{l: l, d: del, attempt: del.Attempt, since: since}, true
}

// finish acts on a send's outcome.
func (d *Dispatcher) finish(sendCtx, ctx context.Context, ci *channelInfo, s step, res Result, err error) {
	del := s.d
	if err == nil {
		ev := Event{Status: StatusSent, Attempt: s.attempt, ProviderID: res.ProviderID}
		if res.Units > 1 {
			ev.Reason = fmt.Sprintf("%d units", res.Units)
		}
		d.settle(ctx, s.l, del, ev)
		return
	}
	oe := Classify(err)
	interrupted := sendCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	if interrupted {
		// Canceled by shutdown: the provider may or may not have it. Retry
		// at once (by the next Run), within the retry policy.
		oe = &OutcomeError{Outcome: OutcomeRetry, Err: fmt.Errorf("interrupted by shutdown: %w", err), MaybeSent: true}
	}
	ev := Event{Attempt: s.attempt, Reason: oe.Error(), MaybeSent: oe.MaybeSent}
	switch oe.Outcome {
	case OutcomePermanent:
		ev.Status = StatusFailed
		d.settle(ctx, s.l, del, ev)
	case OutcomeInvalidRecipient:
		ev.Status = StatusInvalid
		d.act(ctx, del, oe, &ev)
		d.settle(ctx, s.l, del, ev)
	case OutcomeOptedOut:
		ev.Status = StatusOptedOut
		d.act(ctx, del, oe, &ev)
		d.settle(ctx, s.l, del, ev)
	case OutcomeConfig:
		ev.Status = StatusConfig
		ev.Reason += "; retry in " + d.cfg.ConfigErrorDelay.String()
		d.log.ErrorContext(ctx, "notify: channel configuration error; the delivery stays queued until it is fixed",
			slog.String("channel", ci.name), slog.String("delivery", del.ID), slog.Any("error", err))
		d.record(ctx, del, ev)
		d.nack(ctx, s.l, d.cfg.ConfigErrorDelay)
	default:
		delay := d.cfg.Retry.Backoff(s.attempt, oe.RetryAfter)
		if interrupted {
			delay = 0
		}
		if d.cfg.Retry.GiveUp(s.attempt, s.since, time.Now().Add(delay)) {
			ev.Status = StatusDead
			d.record(ctx, del, ev)
			d.bury(ctx, s.l, ev.Reason)
			return
		}
		ev.Status = StatusRetrying
		ev.Reason += "; retry in " + delay.Round(time.Millisecond).String()
		d.record(ctx, del, ev)
		d.nack(ctx, s.l, delay)
	}
}

// act does what an invalid-recipient or opted-out verdict on del asks of
// the Store: remove the address, or store the opt-out. A failure is logged
// and added to ev's reason.
func (d *Dispatcher) act(ctx context.Context, del *Delivery, oe *OutcomeError, ev *Event) {
	if del.UserID == "" {
		return
	}
	switch oe.Outcome {
	case OutcomeInvalidRecipient:
		at := oe.At
		if at.IsZero() {
			at = time.Now()
		}
		if err := d.cfg.Store.RemoveAddress(ctx, del.UserID, del.Channel, del.Address, at); err != nil {
			d.log.ErrorContext(ctx, "notify: remove invalid address", slog.String("delivery", del.ID), slog.String("channel", del.Channel), slog.Any("error", err))
			ev.Reason += "; removing the address failed: " + err.Error()
		}
	case OutcomeOptedOut:
		category := del.Category
		if oe.AllCategories {
			category = AllCategories
		}
		if err := d.cfg.Store.SetPreference(ctx, del.UserID, category, del.Channel, false); err != nil {
			d.log.ErrorContext(ctx, "notify: store opt-out", slog.String("delivery", del.ID), slog.Any("error", err))
			ev.Reason += "; storing the opt-out failed: " + err.Error()
		}
	}
}

// settle records a final event and acks the lease. The log is written first:
// if the process dies between the two, the redelivery finds the final
// status and sends nothing.
//
// When the log write fails the outcome is not lost: a sent delivery is
// acked anyway (a redelivery would send it twice), anything else goes back
// to the queue to be decided again later.
func (d *Dispatcher) settle(ctx context.Context, l Lease, del *Delivery, ev Event) {
	if d.lq != nil {
		fillEvent(&ev, del)
		err := d.lq.AckLogged(ctx, d.cfg.Store, l, ev)
		switch {
		case err == nil:
			d.metrics.event(ctx, &ev)
			return
		case errors.Is(err, ErrLeaseLost):
			d.metrics.event(ctx, &ev) // recorded all the same
			d.log.WarnContext(ctx, "notify: ack", slog.String("job", l.Job.ID), slog.Any("error", err))
			return
		case !errors.Is(err, errors.ErrUnsupported):
			d.log.ErrorContext(ctx, "notify: record and ack", slog.String("delivery", del.ID),
				slog.String("status", string(ev.Status)), slog.Any("error", err))
			if ev.Status != StatusSent {
				d.nack(ctx, l, time.Minute)
				return
			}
			d.ack(ctx, l) // and the log lacks the "sent": better than sending twice
			return
		}
	}
	if err := d.record(ctx, del, ev); err != nil && ev.Status != StatusSent {
		d.nack(ctx, l, time.Minute)
		return
	}
	d.ack(ctx, l)
}

// fillEvent stamps ev with its delivery's identity and the time.
func fillEvent(ev *Event, del *Delivery) {
	ev.DeliveryID, ev.NotificationID, ev.UserID = del.ID, del.NotificationID, del.UserID
	ev.Category, ev.Channel, ev.Address = del.Category, del.Channel, del.Address
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
}

func (d *Dispatcher) record(ctx context.Context, del *Delivery, ev Event) error {
	fillEvent(&ev, del)
	err := d.cfg.Store.Record(ctx, ev)
	if err == nil {
		d.metrics.event(ctx, &ev)
	} else {
		d.log.ErrorContext(ctx, "notify: record delivery event", slog.String("delivery", del.ID),
			slog.String("status", string(ev.Status)), slog.Any("error", err))
	}
	return err
}

func (d *Dispatcher) ack(ctx context.Context, l Lease) {
	if err := d.cfg.Queue.Ack(ctx, l); err != nil {
		d.log.WarnContext(ctx, "notify: ack", slog.String("job", l.Job.ID), slog.Any("error", err))
	}
}

func (d *Dispatcher) nack(ctx context.Context, l Lease, delay time.Duration) {
	if err := d.cfg.Queue.Nack(ctx, l, delay); err != nil {
		d.log.WarnContext(ctx, "notify: nack", slog.String("job", l.Job.ID), slog.Any("error", err))
	}
}

func (d *Dispatcher) bury(ctx context.Context, l Lease, reason string) {
	if err := d.cfg.Queue.Bury(ctx, l, reason); err != nil {
		d.log.WarnContext(ctx, "notify: bury", slog.String("job", l.Job.ID), slog.Any("error", err))
	}
}
