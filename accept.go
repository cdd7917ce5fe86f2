package notify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// This file is the write half of Send: claiming event IDs and writing the
// log and the queue, so that a caller who retries a failed Send with the
// same EventID ends with exactly one set of deliveries.
//
// The rules:
//   - A claim is never released on an ambiguous error (one after which the
//     write may have happened): the caller's retry answers itself from the
//     log instead. It is released only when nothing was written.
//   - A retry that finds the event claimed by a notification the log holds
//     gets that notification's receipt (Duplicate). When the log and the
//     queue were written apart (not by one Accepter or EventLogQueue
//     statement), it also enqueues again whatever of the original the log
//     shows as still queued: enqueueing is idempotent by delivery ID, and
//     the delivery IDs of a notification are derived from its ID.
//   - A retry that finds the event claimed by a notification the log does
//     not hold judges the claim (see unlogged): it takes a dead Send's claim
//     over (compare-and-swap: Release by the old owner, then Claim), answers
//     a claim logged elsewhere or pruned as a duplicate, and returns
//     ErrInProgress for one that may still be being written.

// ErrInProgress is returned (wrapped) by Send for an event ID that another
// Send claimed less than InProgressWindow ago and has not logged: that Send
// is still running, or failed in another process. Retry the same
// notification a little later: the retry returns the original receipt once
// it is logged, or, once the claim is older than InProgressWindow, takes it
// over or answers it as a duplicate (see Dispatcher.Send).
var ErrInProgress = errors.New("notify: a Send of this event is in progress")

// InProgressWindow is how long after a claim its missing log means "still
// being written" (ErrInProgress). After it (and up to TakeoverWindow), a
// retry takes the claim over, except with a Store local to the process
// (see Dispatcher.Send). Every backend call of a Send is bounded by
// Config.BackendTimeout, which New keeps well under this window.
const InProgressWindow = 30 * time.Second

// Accepter is implemented by a Queue that keeps the EventLog and the Deduper's
// claims in its own database (the postgres package): Accept claims event
// IDs, records log events and enqueues jobs in one transaction, so a
// notification is claimed if and only if it is logged and queued. With it,
// no fault inside Send (a killed connection, a lost commit reply, a killed
// process) can leave a claim without its deliveries.
type Accepter interface {
	Queue
	// Accept writes items atomically: for each item whose Claim it wins
	// (or that has none), its events and jobs; for an item whose Claim is
	// held by another owner, nothing. results[i] answers items[i]:
	// Claimed is true when the item was written, else Holder names the
	// owner holding the key (empty if the holder vanished between two
	// reads: claim again). A job whose ID is already on its queue is left
	// as it is. When Accept returns an error, every item was written or
	// none was, and the caller cannot tell which. It returns an error
	// wrapping errors.ErrUnsupported, having written nothing, when log or
	// dd is not a backend of its own database (nil dd: none is needed
	// unless an item has a Claim). With no items it writes nothing and
	// only answers whether it can write to log and dd.
	Accept(ctx context.Context, log EventLog, dd Deduper, items []AcceptItem) (results []ClaimResult, err error)
}

// AcceptItem is one notification's writes for an Accepter.
type AcceptItem struct {
	// Claim is the event ID's claim; nil writes the item unconditionally.
	Claim  *ClaimRequest
	Events []Event
	Jobs   []Job
}

// processLocal is implemented by backends whose state lives in one
// process's memory (store/memory, dedup/memory).
type processLocal interface{ ProcessLocal() bool }

func isProcessLocal(b any) bool {
	pl, ok := As[processLocal](b)
	return ok && pl.ProcessLocal()
}

// deliveryID derives the ID of notification nid's delivery on channel to
// address: a UUIDv7 with nid's timestamp (so IDs stay time-ordered) and the
// rest from a hash, so a retry can name the original's deliveries.
func deliveryID(nid, channel, address string) string {
	var u uuid.UUID
	if p, err := uuid.Parse(nid); err == nil {
		copy(u[:6], p[:6])
	}
	var buf [256]byte
	in := append(buf[:0], nid...)
	in = append(in, 0)
	in = append(in, channel...)
	in = append(in, 0)
	in = append(in, address...)
	sum := sha256.Sum256(in)
	copy(u[6:], sum[:10])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}

// claimAge returns how long ago the notification holder (a UUIDv7) was
// created, or false when holder is not a UUIDv7.
func claimAge(holder string, now time.Time) (time.Duration, bool) {
	id, err := uuid.Parse(holder)
	if err != nil || id.Version() != 7 {
		return 0, false
	}
	sec, nsec := id.Time().UnixTime()
	return now.Sub(time.Unix(sec, nsec)), true
}

// failedSends remembers the notification IDs of this process's Sends that
// failed ambiguously while holding their event's claim, so that the
// caller's retry may take the claim over at once instead of waiting out
// InProgressWindow. Bounded: the oldest are forgotten first.
type failedSends struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	order []string
}

const maxFailedSends = 100_000

func (f *failedSends) add(nid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = make(map[string]struct{})
	}
	if _, ok := f.ids[nid]; ok {
		return
	}
	if len(f.order) >= maxFailedSends {
		delete(f.ids, f.order[0])
		f.order = f.order[1:]
	}
	f.ids[nid] = struct{}{}
	f.order = append(f.order, nid)
}

func (f *failedSends) has(nid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.ids[nid]
	return ok
}

// boundedFor returns the bounded contexts for a Send's backend calls under
// the caller's ctx: ctx itself when its deadline comes within
// Config.BackendTimeout; a shared deadline carrying ctx's values when ctx
// can never be canceled (no allocation per call, none at all when ctx
// carries no values); else one context with a deadline, shared by the
// Send's calls.
func (d *Dispatcher) boundedFor(ctx context.Context) *bounded {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d.cfg.BackendTimeout {
		return &bounded{fixed: ctx}
	}
	if ctx.Done() == nil {
		if ctx == context.Background() || ctx == context.TODO() {
			// No values to carry: the Dispatcher's own, shared by every
			// such Send (its get and stop change nothing in it).
			return &d.sendBounded
		}
		return &bounded{src: d.sendDeadlines, vals: ctx}
	}
	return &bounded{base: ctx, timeout: d.cfg.BackendTimeout}
}

// planState is where a plan stands in commit.
type planState uint8

const (
	pending   planState = iota // to be claimed (or written, when it has no event ID)
	claimed                    // its claim is won; to be written
	written                    // logged and queued
	duplicate                  // answered from the log
	failed                     // errs[i] says why
)

// committer carries one commit.
type committer struct {
	d     *Dispatcher
	bc    *bounded // contexts for the backend calls
	b     AcceptBackends
	plans []*plan
	errs  []error // per plan, allocated on first failure
	// atomic caches logsWithQueue's answer: 0 unknown, 1 yes, 2 no.
	atomic uint8
}

// logsWithQueue reports whether the Queue writes the log in its own
// statements (an Accepter or an EventLogQueue that accepts this EventLog), so an
// original found in the log is surely queued too. Both answer a write of
// nothing with errors.ErrUnsupported, or nil, without I/O.
func (c *committer) logsWithQueue(ctx context.Context) bool {
	if c.atomic == 0 {
		c.atomic = 2
		if acc, ok := As[Accepter](c.b.Queue); ok {
			if _, err := acc.Accept(ctx, c.b.EventLog, c.b.Deduper, nil); err == nil {
				c.atomic = 1
			}
		}
		if lq, ok := As[EventLogQueue](c.b.Queue); ok && c.atomic != 1 {
			if err := lq.EnqueueLogged(ctx, c.b.EventLog, nil, nil); err == nil {
				c.atomic = 1
			}
		}
	}
	return c.atomic == 1
}

func (c *committer) fail(i int, err error) {
	if c.errs == nil {
		c.errs = make([]error, len(c.plans))
	}
	c.errs[i] = err
	c.plans[i].state = failed
}

// commit claims the plans' event IDs and logs and enqueues their
// deliveries. The plans were made at planned (or later). It returns nil
// when every plan is written (or answered from the log as a duplicate),
// else an error per plan (nil for the others).
func (d *Dispatcher) commit(ctx context.Context, bc *bounded, b AcceptBackends, plans []*plan, planned time.Time) []error {
	c := committer{d: d, bc: bc, b: b, plans: plans}
	if b.Deduper == nil {
		for _, p := range plans {
			p.claims = false // nothing to claim with
		}
	}
	if time.Since(planned) > restampAfter {
		for _, p := range plans {
			p.restamp(d.ids.newID())
		}
	}
	c.markRepeats()
	if acc, ok := As[Accepter](b.Queue); !ok || !c.accept(ctx, acc) {
		c.steps(ctx)
	}
	for i, p := range plans {
		if p.state == written {
			for j := range p.events {
				d.metrics.event(ctx, &p.events[j])
			}
		}
		if p.dupOf != 0 { // a repeat inside the batch shares its first's fate
			first := int(p.dupOf - 1)
			if plans[first].state == failed {
				c.fail(i, c.errs[first])
				continue
			}
			p.receipt = plans[first].receipt
			p.receipt.Duplicate = true
			p.state = duplicate
		}
	}
	return c.errs
}

// restampAfter is how old a plan may be when it is claimed before it gets
// a fresh notification ID. A claim's age is read from its owner's UUIDv7
// (see unlogged); a plan that took long to make (a large SendBatch) would
// otherwise claim with an ID that already looks older than
// InProgressWindow and could be taken over while it is being written.
const restampAfter = time.Second

// restamp gives p the notification ID nid, and its deliveries and events
// the IDs derived from it.
func (p *plan) restamp(nid string) {
	old := p.receipt.NotificationID
	p.receipt.NotificationID = nid
	if p.receipt.EventID == old { // no EventID of the caller's: it was the notification's
		p.receipt.EventID = nid
	}
	for i := range p.jobs { // receipt.Deliveries[i] is jobs[i]'s
		del := p.jobs[i].Delivery
		del.ID, del.NotificationID = deliveryID(nid, del.Channel, del.Address), nid
		if del.EventID == old {
			del.EventID = nid
		}
		p.jobs[i].ID = del.ID
		p.receipt.Deliveries[i].ID = del.ID
	}
	for i := range p.events {
		e := &p.events[i]
		e.DeliveryID, e.NotificationID = deliveryID(nid, e.Channel, e.Address), nid
	}
}

// markRepeats makes every plan whose event ID an earlier plan of the batch
// has a repeat of that one.
func (c *committer) markRepeats() {
	if len(c.plans) < 2 {
		return
	}
	firsts := map[string]int32{} // event ID: 1 + the index of its first plan
	for i, p := range c.plans {
		id := p.eventID()
		if id == "" {
			continue
		}
		if first, ok := firsts[id]; ok {
			p.dupOf, p.state = first, duplicate
			continue
		}
		firsts[id] = int32(i + 1)
	}
}

// accept writes the plans through an Accepter, claim, log and queue in one
// transaction. It reports false, having written nothing, when the Accepter
// cannot write to this EventLog and Deduper.
func (c *committer) accept(ctx context.Context, acc Accepter) bool {
	for round := 0; ; round++ {
		var items []AcceptItem
		var idx []int
		for i, p := range c.plans {
			if p.state != pending {
				continue
			}
			it := AcceptItem{Events: p.events, Jobs: p.jobs}
			if p.eventID() != "" {
				it.Claim = &ClaimRequest{Key: p.eventID(), Owner: p.receipt.NotificationID, TTL: c.d.cfg.DedupTTL}
			}
			items = append(items, it)
			idx = append(idx, i)
		}
		if len(items) == 0 {
			return true
		}
		if round == 3 {
			for _, i := range idx {
				c.churned(i)
			}
			return true
		}
		actx := c.bc.get()
		res, err := acc.Accept(actx, c.b.EventLog, c.b.Deduper, items)
		switch {
		case errors.Is(err, errors.ErrUnsupported) && round == 0:
			return false
		case errors.Is(err, ErrClosed):
			for _, i := range idx {
				c.notQueued(ctx, i, "claim, record and enqueue deliveries", err)
			}
			return true
		case err != nil:
			for _, i := range idx {
				c.ambiguous(i, "claim, record and enqueue deliveries", err)
			}
			return true
		case len(res) != len(items):
			err := fmt.Errorf("the Accepter answered %d of %d items", len(res), len(items))
			for _, i := range idx {
				c.ambiguous(i, "claim, record and enqueue deliveries", err)
			}
			return true
		}
		c.atomic = 1
		for j, r := range res {
			i := idx[j]
			if r.Claimed {
				c.plans[i].state = written
				continue
			}
			c.held(ctx, i, r.Holder)
		}
	}
}

// steps writes the plans with one call per backend: Claim (or ClaimBatch),
// then EnqueueLogged, or Record and Enqueue.
func (c *committer) steps(ctx context.Context) {
	for round := 0; c.claim(ctx); round++ {
		if round == 2 {
			for i, p := range c.plans {
				if p.state == pending {
					c.churned(i)
				}
			}
			break
		}
	}
	var events []Event
	var jobs []Job
	var idx []int
	for i, p := range c.plans {
		if p.state == claimed || (p.state == pending && p.eventID() == "") {
			idx = append(idx, i)
			if len(idx) == 1 {
				events, jobs = p.events, p.jobs
			} else {
				if len(idx) == 2 {
					events, jobs = slices.Clone(events), slices.Clone(jobs)
				}
				events = append(events, p.events...)
				jobs = append(jobs, p.jobs...)
			}
		}
	}
	if len(idx) == 0 {
		return
	}
	done := func() {
		for _, i := range idx {
			c.plans[i].state = written
		}
	}
	if lq, ok := As[EventLogQueue](c.b.Queue); ok && len(jobs) > 0 {
		wctx := c.bc.get()
		err := lq.EnqueueLogged(wctx, c.b.EventLog, events, jobs)
		switch {
		case err == nil:
			c.atomic = 1
			done()
			return
		case !errors.Is(err, errors.ErrUnsupported):
			for _, i := range idx {
				c.ambiguous(i, "record and enqueue deliveries", err)
			}
			return
		}
	}
	if len(events) > 0 {
		wctx := c.bc.get()
		err := c.b.EventLog.Record(wctx, events...)
		if err != nil {
			for _, i := range idx {
				c.ambiguous(i, "record deliveries", err)
			}
			return
		}
	}
	if len(jobs) > 0 {
		wctx := c.bc.get()
		err := c.b.Queue.Enqueue(wctx, jobs...)
		if err != nil {
			c.enqueueFailed(ctx, idx, jobs, err)
			return
		}
	}
	done()
}

// enqueueFailed handles an Enqueue error after the plans idx were logged.
// When the queue says it stored nothing (ErrQueueFull, ErrClosed), the
// deliveries are logged as failed and the claims released, so the caller
// may send again freely (ErrNotQueued). Otherwise the deliveries stay
// "queued" in the log and the claims stay: the caller's retry finds the
// log and enqueues them again.
func (c *committer) enqueueFailed(ctx context.Context, idx []int, jobs []Job, err error) {
	if !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrClosed) {
		for _, i := range idx {
			c.ambiguous(i, "enqueue deliveries", err)
		}
		return
	}
	now := time.Now()
	evs := make([]Event, len(jobs))
	for i, j := range jobs {
		del := j.Delivery
		evs[i] = Event{DeliveryID: del.ID, NotificationID: del.NotificationID, UserID: del.UserID, Category: del.Category,
			Channel: del.Channel, Address: del.Address, Template: del.Template, Locale: del.Locale,
			Status: StatusFailed, Reason: reasonNotQueued + err.Error(), At: now}
	}
	rerr := c.b.EventLog.Record(c.bc.get(), evs...)
	if rerr != nil {
		c.d.log.ErrorContext(ctx, "notify: record a failed enqueue", slog.Any("error", rerr))
		for _, i := range idx {
			c.ambiguous(i, "enqueue deliveries", err)
		}
		return
	}
	for _, i := range idx {
		c.notQueued(ctx, i, "enqueue deliveries", err)
	}
}

// reasonNotQueued starts the reason of a delivery logged as queued whose
// Enqueue then surely failed.
const reasonNotQueued = "not queued: "

// neverQueued reports whether a notification's every delivery was logged
// as failed because its Enqueue surely failed (and it has some).
func neverQueued(statuses []DeliveryRecord) bool {
	n := 0
	for _, s := range statuses {
		switch {
		case s.Status == StatusFailed && strings.HasPrefix(s.Reason, reasonNotQueued):
			n++
		case s.Status == StatusSkipped:
		default:
			return false
		}
	}
	return n > 0
}

// claim claims the event IDs of the pending plans, with one ClaimBatch
// when the Deduper offers it and there are several, else one Claim each.
// It reports whether some plan is pending again (a claim to take over).
func (c *committer) claim(ctx context.Context) bool {
	var idx []int
	for i, p := range c.plans {
		if p.state == pending && p.eventID() != "" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return false
	}
	dd := c.b.Deduper
	results := make([]ClaimResult, len(idx))
	errs := make([]error, len(idx))
	cctx := c.bc.get()
	if bd, ok := As[BatchDeduper](dd); ok && len(idx) > 1 {
		reqs := make([]ClaimRequest, len(idx))
		for j, i := range idx {
			reqs[j] = ClaimRequest{Key: c.plans[i].eventID(), Owner: c.plans[i].receipt.NotificationID, TTL: c.d.cfg.DedupTTL}
		}
		res, berrs := bd.ClaimBatch(cctx, reqs)
		for j := range idx {
			switch {
			case j < len(berrs) && berrs[j] != nil:
				errs[j] = berrs[j]
			case j >= len(res):
				errs[j] = errors.New("the deduper gave no answer")
			default:
				results[j] = res[j]
			}
		}
	} else {
		for j, i := range idx {
			p := c.plans[i]
			results[j].Claimed, results[j].Holder, errs[j] = dd.Claim(cctx, p.eventID(), p.receipt.NotificationID, c.d.cfg.DedupTTL)
		}
	}
	again := false
	for j, i := range idx {
		p := c.plans[i]
		switch {
		case errs[j] != nil:
			// The claim may have been written before the error (a
			// timeout, a lost reply): release it, which removes it only
			// if this Send holds it. Only then is the event free.
			err := fmt.Errorf("claim event %s: %w", p.eventID(), errs[j])
			if c.release(ctx, p) {
				c.notQueued(ctx, i, "", err)
			} else {
				c.ambiguous(i, "", err)
			}
		case results[j].Claimed:
			p.state = claimed
		default:
			c.held(ctx, i, results[j].Holder)
			again = again || p.state == pending
		}
	}
	return again
}

// held decides plan i, whose event ID another notification holds: a
// duplicate of a logged original, a takeover of a dead one (the plan is
// pending again), or ErrInProgress.
func (c *committer) held(ctx context.Context, i int, holder string) {
	p := c.plans[i]
	if holder == "" { // released or expired between two reads: claim again
		return
	}
	lctx := c.bc.get()
	statuses, err := c.b.EventLog.Deliveries(lctx, holder)
	if err == nil && neverQueued(statuses) {
		// Its Enqueue failed for sure and its release too: as if unlogged.
		err = ErrNotFound
	}
	switch {
	case err == nil:
		rec := Receipt{NotificationID: holder, EventID: p.eventID(), Duplicate: true}
		for _, s := range statuses {
			if s.Status == StatusSkipped && s.Attempts == 0 && len(s.Events) == 1 {
				rec.Skipped = append(rec.Skipped, Skip{Channel: s.Channel, Reason: s.Reason})
				continue
			}
			rec.Deliveries = append(rec.Deliveries, DeliveryRef{ID: s.DeliveryID, Channel: s.Channel, Address: s.Address, Status: s.Status})
		}
		if !c.logsWithQueue(ctx) && !c.repair(ctx, i, holder, statuses) {
			return
		}
		p.receipt, p.state = rec, duplicate
	case errors.Is(err, ErrNotFound):
		switch c.d.unlogged(holder) {
		case claimInProgress:
			c.fail(i, fmt.Errorf("notify: event %s is claimed by notification %s, which is not logged yet: %w", p.eventID(), holder, ErrInProgress))
			return
		case claimElsewhere:
			c.d.log.WarnContext(ctx, "notify: duplicate event whose original is not in this Dispatcher's log (logged by another process, or pruned)",
				slog.String("event_id", p.eventID()), slog.String("notification", holder))
			p.receipt, p.state = Receipt{NotificationID: holder, EventID: p.eventID(), Duplicate: true}, duplicate
			return
		}
		// The holder's Send failed without logging: take its claim over.
		// Release removes the claim only if holder still has it, so of
		// several retries doing this at once, one wins the next Claim.
		rctx := c.bc.get()
		err := c.b.Deduper.Release(rctx, p.eventID(), holder)
		if err != nil {
			c.fail(i, fmt.Errorf("notify: take over the claim of event %s from notification %s, which never logged: %w (nothing was queued; retry the Send with the same EventID)", p.eventID(), holder, err))
			return
		}
		c.d.log.InfoContext(ctx, "notify: took over the claim of a Send that failed before logging",
			slog.String("event_id", p.eventID()), slog.String("from", holder), slog.String("to", p.receipt.NotificationID))
		p.state = pending
	default:
		c.fail(i, fmt.Errorf("notify: look up notification %s, the original of event %s: %w (retry the Send with the same EventID)", holder, p.eventID(), err))
	}
}

// claimVerdict is what a claim whose holder the log does not hold means.
type claimVerdict uint8

const (
	claimInProgress claimVerdict = iota // its Send may still be writing: ErrInProgress
	claimDead                           // its Send failed before logging: take it over
	claimElsewhere                      // logged where this log cannot see, or pruned: a duplicate
)

// unlogged judges a claim by holder that the log does not hold. A claim
// whose Send failed in this process is taken over at once. One younger
// than InProgressWindow may still be being written. Past it, with a Store
// local to the process, the original was logged by another process (a
// shared Deduper) or evicted from this log, and a Send that died before
// logging died with the log: a duplicate. With a shared Store, a claim
// between InProgressWindow and TakeoverWindow old is a dead Send's, taken
// over; an older one's log was more likely pruned: a duplicate.
func (d *Dispatcher) unlogged(holder string) claimVerdict {
	if d.failedSends.has(holder) {
		return claimDead
	}
	age, ok := claimAge(holder, time.Now())
	switch {
	case !ok || age <= InProgressWindow:
		return claimInProgress
	case isProcessLocal(d.cfg.Store) || age > TakeoverWindow:
		return claimElsewhere
	}
	return claimDead
}

// TakeoverWindow bounds how old a claim without a log may be for a retry
// to take it over: older ones are answered as a duplicate with no
// deliveries, as the original's log may have been pruned (keep the Store's
// log retention above DedupTTL). 1 h.
const TakeoverWindow = time.Hour

// repair enqueues again the deliveries of holder, the original of plan i,
// that its log shows as still queued: the original's Enqueue may have
// failed after its log write. Each goes out with Recheck set, so a worker
// reads its log before sending and skips one already settled. It reports
// false, having failed the plan, when the Enqueue fails.
func (c *committer) repair(ctx context.Context, i int, holder string, statuses []DeliveryRecord) bool {
	p := c.plans[i]
	if ri, ok := As[RepeatEnqueuer](c.b.Queue); ok && !ri.EnqueueIsIdempotent() {
		// Enqueueing again could make a second job of one still queued.
		return true
	}
	queued := make(map[string]bool)
	for _, s := range statuses {
		if s.Status == StatusQueued {
			queued[s.DeliveryID] = true
		}
	}
	if len(queued) == 0 {
		return true
	}
	var jobs []Job
	for _, j := range p.jobs {
		del := *j.Delivery
		del.ID = deliveryID(holder, del.Channel, del.Address)
		if !queued[del.ID] {
			continue
		}
		del.NotificationID = holder
		del.Recheck = true
		jobs = append(jobs, Job{ID: del.ID, Queue: j.Queue, NotBefore: j.NotBefore, Delivery: &del})
	}
	if len(jobs) == 0 {
		return true
	}
	ectx := c.bc.get()
	err := c.b.Queue.Enqueue(ectx, jobs...)
	if err != nil {
		c.fail(i, fmt.Errorf("notify: enqueue again %d deliveries of notification %s, the original of event %s: %w (retry the Send with the same EventID)", len(jobs), holder, p.eventID(), err))
		return false
	}
	return true
}

// release frees plan i's event ID after a failed claim; it reports whether
// the event is surely free.
//
// It runs under the caller's ctx: once that is done the claim stays, and
// the Send's error is ambiguous; its retry in this process takes the claim
// over at once (failedSends), in another after InProgressWindow.
func (c *committer) release(ctx context.Context, p *plan) bool {
	err := c.b.Deduper.Release(c.bc.get(), p.eventID(), p.receipt.NotificationID)
	if err != nil {
		c.d.log.WarnContext(ctx, "notify: release an event claim after a failed claim; a retry of the Send takes it over",
			slog.String("event_id", p.eventID()), slog.Any("error", err))
		return false
	}
	return true
}

// churned fails plan i, whose claim changed hands three times while being
// read; nothing of it was written.
func (c *committer) churned(i int) {
	c.fail(i, fmt.Errorf("notify: claim event %s: the claim changed hands three times while being read; retry the Send", c.plans[i].eventID()))
}

// ambiguous fails plan i with err, after which its notification may or may
// not be queued: the claim stays, and the caller's retry with the same
// EventID answers from the log.
func (c *committer) ambiguous(i int, what string, err error) {
	p := c.plans[i]
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	if p.eventID() == "" {
		c.fail(i, fmt.Errorf("notify: %w (the notification may or may not be queued; without an EventID and a Deduper, sending it again may deliver it twice)", err))
		return
	}
	c.d.failedSends.add(p.receipt.NotificationID)
	c.fail(i, fmt.Errorf("notify: %w (the notification may or may not be queued: retry the Send with the same EventID, which returns the original receipt if it was)", err))
}

// notQueued fails plan i with err, after which nothing of it is queued and
// its event ID is free: errors.Is(err, ErrNotQueued) holds.
func (c *committer) notQueued(ctx context.Context, i int, what string, err error) {
	p := c.plans[i]
	if p.state == claimed && !c.release(ctx, p) {
		c.ambiguous(i, what, err)
		return
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	c.fail(i, fmt.Errorf("notify: %w: %w", err, ErrNotQueued))
}
