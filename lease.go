package notify

import (
	"context"
	"fmt"
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
)

// reserve is the part of a lease of length leaseLen (zero: unknown) kept
// after the send for logging the outcome and settling the lease: a send's
// context ends at least reserve before its lease does.
func (d *Dispatcher) reserve(leaseLen time.Duration) time.Duration {
	r := d.cfg.BackendTimeout
	if leaseLen > 0 {
		r = min(r, leaseLen/4)
	}
	return r
}

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
	vr, ok := cfg.Queue.(VisibilityReporter)
	if !ok {
		return nil
	}
	vis := vr.Visibility()
	if vis <= 0 {
		return nil
	}
	if _, ok := cfg.Queue.(LeaseExtender); ok {
		return nil
	}
	d := Dispatcher{cfg: *cfg}
	need := cfg.SendTimeout + d.reserve(vis)
	if vis < need {
		return fmt.Errorf("notify: the queue's visibility (%v) is shorter than Config.SendTimeout (%v) plus %v to log the outcome, and the queue cannot extend leases: a slow send could be handed to a second worker and sent twice; raise the queue's visibility to at least %v or lower SendTimeout",
			vis, cfg.SendTimeout, d.reserve(vis), need)
	}
	return nil
}

// extendLeases extends every lease of steps by ext and returns the
// earliest new deadline. It stops at the first error.
func (d *Dispatcher) extendLeases(base context.Context, ext LeaseExtender, steps []step, by time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(base, d.cfg.BackendTimeout)
	defer cancel()
	var earliest time.Time
	for i := range steps {
		dl, err := ext.Extend(ctx, steps[i].l, by)
		if err != nil {
			return time.Time{}, fmt.Errorf("extend the lease of %s: %w", steps[i].l.Job.ID, err)
		}
		if earliest.IsZero() || dl.Before(earliest) {
			earliest = dl
		}
	}
	return earliest, nil
}

// stuckError is what an abandoned Channel call is recorded with.
type stuckError struct{ after time.Duration }

func (e *stuckError) Error() string {
	return fmt.Sprintf("channel did not return within %v (its deadline plus a grace period); the call was abandoned and may still reach the provider", e.after.Round(time.Millisecond))
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
// quick pays for one context.
type bounded struct {
	base    context.Context
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
	until   time.Time
}

func (b *bounded) get() context.Context {
	if b.ctx == nil || time.Until(b.until) < b.timeout/2 || b.ctx.Err() != nil {
		b.stop()
		b.until = time.Now().Add(b.timeout)
		b.ctx, b.cancel = context.WithDeadline(b.base, b.until)
	}
	return b.ctx
}

// stop releases the current context.
func (b *bounded) stop() {
	if b.cancel != nil {
		b.cancel()
		b.ctx, b.cancel = nil, nil
	}
}
