package notify

import (
	"context"
	"log/slog"
	"time"
)

// Rate limits at deliver time. A notification is one event for its user's
// limits, however many deliveries it has: each delivery's first attempt
// asks the Limiter with the notification's ID (LimitRequest.ID), so the
// first delivery allowed counts it and the others find it counted. A
// denied event is not counted, so deliveries held back (deferred) ask
// again later and, once one of them is allowed, all follow.
//
// Two limits apply, and both must allow a send: the category's
// (CategoryPolicy.Limit, per user and category) and Config.UserLimit (per
// user, across categories). The category's is asked first and the user's
// only when it allows; when the user's then denies, the category's keeps
// the count (a notification dropped by UserLimit has spent a unit of its
// category's limit; a deferred one finds it counted when it asks again).

// categoryRequest is the limiter request of del's first attempt under its
// category's per-user limit, limit (the category policy's); userRequest is
// the one under the user's limit across categories (a Critical
// notification is forced through it: counted, never held back). A request
// whose Limit IsZero is not to be asked: it has no Key, which would be a
// string built for nothing.
func categoryRequest(del *Delivery, limit Limit) LimitRequest {
	r := LimitRequest{ID: del.NotificationID, Limit: limit}
	if !limit.IsZero() {
		r.Key = limitKey(del)
	}
	return r
}

// userRequest: see categoryRequest.
func (d *Dispatcher) userRequest(del *Delivery) LimitRequest {
	r := LimitRequest{ID: del.NotificationID, Limit: d.cfg.UserLimit, Force: del.Critical}
	if !r.Limit.IsZero() {
		r.Key = userLimitKey(del)
	}
	return r
}

// limitKey is the rate limiter's key of del's category limit: its user and
// category.
func limitKey(del *Delivery) string { return del.UserID + "\x00" + del.Category }

// userLimitKey is the rate limiter's key of del's user limit
// (Config.UserLimit). No category key is the same: a category is never
// AllCategories.
func userLimitKey(del *Delivery) string { return del.UserID + "\x00" + AllCategories }

// limited reports whether del's first attempt asks the Limiter.
func (d *Dispatcher) limited(del *Delivery) bool {
	if d.cfg.Limiter == nil || del.UserID == "" {
		return false
	}
	return !d.cfg.UserLimit.IsZero() || !d.policy(del.Category).Limit.IsZero()
}

// precheckLimits asks a BatchLimiter about the fetched leases that are
// first receipts of rate-limited deliveries: their category limits with
// one AllowBatch, then Config.UserLimit, for those their category allowed,
// with another. It returns decisions aligned with leases, or nil: a
// decision that allows is both limits' answer; one that denies is the
// category limit's; nil (a failed call, or UserLimit denied) leaves the
// delivery to ask for itself (withinLimit), which counts nothing twice. A
// delivery found skippable afterwards (opted out since accept) has then
// used up an event of its user's limits; the price of one or two round
// trips per batch instead of one or two per delivery.
func (d *Dispatcher) precheckLimits(ctx context.Context, leases []Lease) []*Decision {
	bl, ok := As[BatchLimiter](d.cfg.Limiter)
	if !ok || len(leases) < 2 {
		return nil
	}
	now := time.Now()
	var idx []int
	for i, l := range leases {
		del := l.Job.Delivery
		if del != nil && l.Attempt == 1 && d.limited(del) && !del.Expired(now) && !d.inQuietHours(del, now) {
			idx = append(idx, i)
		}
	}
	if len(idx) < 2 {
		return nil
	}
	out := make([]*Decision, len(leases))
	allowed := &Decision{Allowed: true}
	for _, i := range idx {
		out[i] = allowed
	}
	// ask asks about the leases in idx that are still allowed, with the
	// request pick returns (none when its Limit IsZero), and applies the
	// answers with apply.
	ask := func(pick func(del *Delivery) LimitRequest, apply func(i int, dec *Decision)) {
		var reqs []LimitRequest
		var asked []int
		for _, i := range idx {
			if out[i] != allowed {
				continue
			}
			if r := pick(leases[i].Job.Delivery); !r.Limit.IsZero() {
				reqs = append(reqs, r)
				asked = append(asked, i)
			}
		}
		if len(reqs) == 0 {
			return
		}
		bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
		decs, errs := bl.AllowBatch(bctx, reqs)
		cancel()
		for j, i := range asked {
			if j < len(decs) && (j >= len(errs) || errs[j] == nil) {
				apply(i, &decs[j])
			} else {
				out[i] = nil
			}
		}
	}
	ask(func(del *Delivery) LimitRequest { return categoryRequest(del, d.policy(del.Category).Limit) },
		func(i int, dec *Decision) {
			if !dec.Allowed {
				out[i] = dec
			}
		})
	ask(d.userRequest,
		func(i int, dec *Decision) {
			if !dec.Allowed {
				out[i] = nil
			}
		})
	return out
}

// withinLimit applies the rate limits to a delivery not attempted yet
// (attempts is 0): its category's per-user limit, then Config.UserLimit,
// using pre, the decision made for its whole fetch (precheckLimits), when
// there is one. Over a limit it defers the lease, or settles it as skipped
// under OverLimitDrop (the category's OverLimit, or
// Config.UserOverLimit); a limiter that fails defers it too, except for
// UserLimit on a Critical delivery, which is sent. It reports whether the
// send goes on.
func (e *execution) withinLimit(pre *Decision, attempts int) bool {
	d, del := e.p.d, e.del
	if attempts != 0 || !d.limited(del) {
		return true
	}
	pol := d.policy(del.Category)
	if pre != nil {
		if pre.Allowed {
			return true
		}
		return e.overLimit(*pre, pol.OverLimit, ReasonRateLimit, "rate limited")
	}
	if category := categoryRequest(del, pol.Limit); !category.Limit.IsZero() {
		dec, err := d.cfg.Limiter.Allow(e.bc.get(), category)
		if err != nil {
			d.log.WarnContext(e.bc.parent(), "notify: rate limiter failed; deferring", slog.String("delivery", del.ID), slog.Any("error", err))
			d.nack(e.bc.get(), e.l, time.Second)
			return false
		}
		if !dec.Allowed {
			return e.overLimit(dec, pol.OverLimit, ReasonRateLimit, "rate limited")
		}
	}
	if user := d.userRequest(del); !user.Limit.IsZero() {
		dec, err := d.cfg.Limiter.Allow(e.bc.get(), user)
		switch {
		case err != nil && user.Force:
			d.log.WarnContext(e.bc.parent(), "notify: rate limiter failed on Config.UserLimit; sending the critical delivery uncounted", slog.String("delivery", del.ID), slog.Any("error", err))
		case err != nil:
			d.log.WarnContext(e.bc.parent(), "notify: rate limiter failed; deferring", slog.String("delivery", del.ID), slog.Any("error", err))
			d.nack(e.bc.get(), e.l, time.Second)
			return false
		case !dec.Allowed:
			return e.overLimit(dec, d.cfg.UserOverLimit, ReasonUserLimit, "user rate limited")
		}
	}
	return true
}

// overLimit holds back a delivery a limit denied (dec): it settles it as
// skipped with reason under OverLimitDrop, else defers it until
// dec.RetryAfter, logging what. It returns false: the send does not go on.
func (e *execution) overLimit(dec Decision, policy OverLimit, reason, what string) bool {
	d, del := e.p.d, e.del
	if policy == OverLimitDrop {
		e.settle(Event{Status: StatusSkipped, Reason: reason})
		return false
	}
	wait := max(dec.RetryAfter, time.Millisecond)
	d.record(e.bc.get(), del, Event{Status: StatusDeferred, Reason: what + "; retry in " + wait.String()})
	d.nack(e.bc.get(), e.l, wait)
	return false
}
