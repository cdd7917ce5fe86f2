package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Canceler is implemented by a Queue that can take back jobs no receiver
// holds (queue/memory, postgres.Queue, sqlite.Queue). [Dispatcher.Cancel]
// needs it. An SQS queue cannot: a message is deleted only through the
// receipt of a receive.
type Canceler interface {
	// Cancel removes the jobs of queue with these IDs that are ready or
	// delayed (by NotBefore or a Nack's delay) and hold no lease, and
	// returns the IDs it removed. Each removal is atomic against Receive:
	// a job is either removed, never to be handed out again, or leased and
	// left as it is. Jobs that are leased, dead or not on the queue are
	// left as they are and not returned, and so is a job whose last lease
	// ran out without an Ack, Nack or Bury (its receiver may have sent it)
	// until a Nack returns it. It is idempotent: an ID removed once is not
	// returned again.
	Cancel(ctx context.Context, queue string, ids []string) (canceled []string, err error)
}

// EventLogCanceler is implemented by a Canceler that lives in the same
// database as the EventLog (postgres.Queue, sqlite.Queue): it records the
// canceled events in the transaction that removes the jobs, so no job is
// removed without its event. It returns an error wrapping
// errors.ErrUnsupported, having written nothing, when log is not an
// EventLog it can write to; the Dispatcher then calls Cancel and Record
// one after the other.
type EventLogCanceler interface {
	Canceler
	// CancelLogged removes, as Cancel does, the jobs of queue whose IDs
	// are the events' DeliveryIDs, and records in log, atomically with
	// the removal, the events of the jobs it removed and no others. It
	// returns the IDs it removed.
	CancelLogged(ctx context.Context, log EventLog, queue string, events []Event) (canceled []string, err error)
}

// ReasonCanceled is the reason recorded with a delivery's canceled event.
const ReasonCanceled = "canceled"

// CancelResult is what Cancel did with each delivery of a notification.
// Every delivery is in exactly one list; Status is its status in the log
// as Cancel last read it.
type CancelResult struct {
	NotificationID string `json:"notification_id"`
	// Canceled were taken off their queue before a worker leased them,
	// and logged canceled: they will not be sent (again). A delivery
	// that an earlier Cancel canceled is listed here too, so a retried
	// Cancel answers as the first did.
	Canceled []DeliveryRef `json:"canceled,omitempty"`
	// TooLate are out of Cancel's reach: sent (Status sent, or a
	// provider's report on it), or in flight (Status not final) — leased
	// by a worker that is sending it now, leased by one whose lease ran
	// out before it logged an outcome (it may have been sent: a crash
	// during the provider call), or logged by a Send that has not
	// finished putting it on its queue. Cancel does not stop a send in
	// flight: such a delivery ends as its attempt does (sent, or retried
	// and then cancelable by another Cancel).
	TooLate []DeliveryRef `json:"too_late,omitempty"`
	// Final ended before Cancel without being sent: failed, dead,
	// skipped, expired, invalid recipient, opted out.
	Final []DeliveryRef `json:"final,omitempty"`
}

// reachedProvider reports whether a delivery in status s was accepted by
// its provider.
func (s Status) reachedProvider() bool {
	return s == StatusSent || s == StatusDelivered || s == StatusUndelivered
}

// Cancel cancels the deliveries of the notification that claimed eventID
// that have not been sent: those waiting on their queue (a SendAt in the
// future, deferred by a rate limit, waiting for a retry's backoff, or
// ready and not yet leased) are removed from it and logged canceled. A
// delivery that a worker holds at that moment, or held until its lease ran
// out, is not stopped: it is reported in TooLate, as are the ones already
// sent. The result lists
// every delivery once (see CancelResult); Cancel may be called again, and
// answers as before for what it canceled.
//
// The event ID is looked up as StatusByEvent does: Cancel returns an
// error wrapping ErrNotFound when no claim of eventID is held (never sent,
// or its DedupTTL has passed: use CancelNotification), and when the
// notification holding it has no deliveries in the log yet — a Send of
// that event still running (a Send is not cancelable before it returns;
// call Cancel again once it has), or one that logged nothing. A
// concurrent Send that has logged its deliveries but not yet queued them
// (only where the log and the queue are written apart) gets them reported
// in TooLate, and they are sent.
//
// Cancel needs a Queue that is a [Canceler]; without one it returns an
// error wrapping errors.ErrUnsupported, having changed nothing. Where the
// Queue is an [EventLogCanceler] for the Store, each job is removed and
// logged in one transaction; otherwise it is removed, then logged: when
// that log write fails, Cancel returns an error, and the delivery, though
// gone from its queue and never to be sent, stays queued in the log.
func (d *Dispatcher) Cancel(ctx context.Context, eventID string) (CancelResult, error) {
	if d.cfg.Deduper == nil {
		return CancelResult{}, errors.New("notify: Cancel by event ID needs a Deduper: without one, event IDs are not recorded (Config.Deduper); use CancelNotification")
	}
	nid, recs, err := d.StatusByEvent(ctx, eventID)
	switch {
	case err != nil && nid != "" && errors.Is(err, ErrNotFound):
		return CancelResult{NotificationID: nid}, fmt.Errorf("notify: cancel event %s: notification %s holds it but has no delivery in the log: its Send may still be running (call Cancel again once it has returned): %w", eventID, nid, err)
	case err != nil:
		return CancelResult{NotificationID: nid}, fmt.Errorf("notify: cancel: %w", err)
	}
	return d.cancel(ctx, nid, recs)
}

// CancelNotification cancels the unsent deliveries of a notification by
// its ID, as Cancel does by event ID. It returns an error wrapping
// ErrNotFound when the log holds no delivery of notificationID.
func (d *Dispatcher) CancelNotification(ctx context.Context, notificationID string) (CancelResult, error) {
	if notificationID == "" {
		return CancelResult{}, invalid("NotificationID", "empty")
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	recs, err := d.cfg.Store.Deliveries(bctx, notificationID)
	cancel()
	if err != nil {
		return CancelResult{NotificationID: notificationID}, fmt.Errorf("notify: cancel notification %s: %w", notificationID, err)
	}
	return d.cancel(ctx, notificationID, recs)
}

// cancel cancels the deliveries recs of notification nid (see Cancel).
func (d *Dispatcher) cancel(ctx context.Context, nid string, recs []DeliveryRecord) (CancelResult, error) {
	res := CancelResult{NotificationID: nid}
	byQueue := map[string][]DeliveryRecord{}
	var queues []string
	for _, r := range recs {
		if !res.place(r, r.Status, false) {
			q := d.QueueName(r.Channel)
			if _, ok := byQueue[q]; !ok {
				queues = append(queues, q)
			}
			byQueue[q] = append(byQueue[q], r)
		}
	}
	if len(queues) == 0 {
		return res, nil
	}
	c, ok := As[Canceler](d.cfg.Queue)
	if !ok {
		return res, fmt.Errorf("notify: cancel notification %s: the Queue (%T) cannot take back a queued job (it is not a notify.Canceler; an SQS queue cannot delete a message it has not received): %w; its deliveries were left as they are", nid, d.cfg.Queue, errors.ErrUnsupported)
	}
	slices.Sort(queues)
	var errs []error
	for _, q := range queues {
		pending := byQueue[q]
		removed, err := d.cancelJobs(ctx, c, q, pending)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range pending {
			if slices.Contains(removed, r.DeliveryID) {
				res.Canceled = append(res.Canceled, ref(r, StatusCanceled))
				continue
			}
			res.placeAfter(ctx, d, r)
		}
	}
	return res, errors.Join(errs...)
}

// ref names delivery r, in status st.
func ref(r DeliveryRecord, st Status) DeliveryRef {
	return DeliveryRef{ID: r.DeliveryID, Channel: r.Channel, Address: r.Address, Status: st}
}

// place lists r, in status st, where a final status belongs and reports
// true; a status that is not final is listed only when inFlight (r was
// not on its queue), in TooLate.
func (res *CancelResult) place(r DeliveryRecord, st Status, inFlight bool) bool {
	switch {
	case st == StatusCanceled:
		res.Canceled = append(res.Canceled, ref(r, st))
	case st.reachedProvider():
		res.TooLate = append(res.TooLate, ref(r, st))
	case st.Final():
		res.Final = append(res.Final, ref(r, st))
	case inFlight:
		res.TooLate = append(res.TooLate, ref(r, st))
	default:
		return false
	}
	return true
}

// placeAfter lists r, which Cancel did not take off its queue, by its
// status in the log now: a worker holding it may have logged an outcome
// since it was read, or another Cancel canceled it.
func (res *CancelResult) placeAfter(ctx context.Context, d *Dispatcher, r DeliveryRecord) {
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	st, err := d.cfg.Store.State(bctx, r.DeliveryID)
	cancel()
	if err != nil {
		st.Status = r.Status // as first read: not final, so in flight
	}
	res.place(r, st.Status, true)
}

// cancelJobs takes the jobs of recs off queue q and logs them canceled:
// in one transaction when the Queue can write the Store, else removed
// first and then logged. It returns the IDs removed; with an error, those
// it knows of.
func (d *Dispatcher) cancelJobs(ctx context.Context, c Canceler, q string, recs []DeliveryRecord) ([]string, error) {
	now := time.Now()
	events := make([]Event, len(recs))
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.DeliveryID
		events[i] = Event{DeliveryID: r.DeliveryID, NotificationID: r.NotificationID, UserID: r.UserID,
			Category: r.Category, Channel: r.Channel, Address: r.Address, Template: r.Template, Locale: r.Locale,
			Status: StatusCanceled, Reason: ReasonCanceled, At: now}
	}
	if lc, ok := As[EventLogCanceler](d.cfg.Queue); ok {
		bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
		removed, err := lc.CancelLogged(bctx, d.cfg.Store, q, events)
		cancel()
		if !errors.Is(err, errors.ErrUnsupported) {
			if err != nil {
				return removed, fmt.Errorf("notify: cancel %d deliveries on queue %s: %w (each job is removed with its canceled event or not at all; call Cancel again: it answers from the log)", len(ids), q, err)
			}
			d.countCanceled(ctx, events, removed)
			return removed, nil
		}
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	removed, err := c.Cancel(bctx, q, ids)
	cancel()
	if err != nil {
		return removed, fmt.Errorf("notify: cancel %d deliveries on queue %s: %w (the queue may have removed some that the log still shows queued; call Cancel again)", len(ids), q, err)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	var logged []Event
	for _, ev := range events {
		if slices.Contains(removed, ev.DeliveryID) {
			logged = append(logged, ev)
		}
	}
	if err := d.recordCanceled(ctx, logged); err != nil {
		d.log.ErrorContext(ctx, "notify: deliveries taken off their queue by Cancel could not be logged canceled; they will not be sent, but the log shows them queued",
			slog.String("queue", q), slog.Any("deliveries", removed), slog.Any("error", err))
		return removed, fmt.Errorf("notify: cancel: %d deliveries were taken off queue %s and will not be sent, but logging them canceled failed: %w (the log shows them as they were)", len(removed), q, err)
	}
	d.countCanceled(ctx, events, removed)
	return removed, nil
}

// recordCanceled writes the canceled events of jobs already removed,
// trying three times: the jobs are gone, and the log should say so.
func (d *Dispatcher) recordCanceled(ctx context.Context, events []Event) error {
	var err error
	wait := 50 * time.Millisecond
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
			wait *= 4
		}
		bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
		err = d.cfg.Store.Record(bctx, events...)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// countCanceled counts in the metrics the events of the removed jobs.
func (d *Dispatcher) countCanceled(ctx context.Context, events []Event, removed []string) {
	for i := range events {
		if slices.Contains(removed, events[i].DeliveryID) {
			d.metrics.event(ctx, &events[i])
		}
	}
}
