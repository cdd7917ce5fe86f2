package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
)

// DefaultCategory is the category of notifications that name none.
const DefaultCategory = "default"

// AllCategories is the category under which an opt-out applies to every
// category on a channel: SetPreference(ctx, user, AllCategories, "sms",
// false) stops every non-critical SMS to the user.
const AllCategories = "*"

// allowed reports whether the user accepts the category on the channel:
// neither that category nor AllCategories is opted out.
func (d *Dispatcher) allowed(ctx context.Context, userID, category, channel string) (bool, error) {
	ok, err := d.cfg.Store.Allowed(ctx, userID, category, channel)
	if err != nil || !ok {
		return ok, err
	}
	return d.cfg.Store.Allowed(ctx, userID, AllCategories, channel)
}

// AcceptBackends are the backends Send writes to. Backend packages bind them
// to a transaction and pass them to SendWith, so the log rows, the queue rows
// and the dedup claim commit or roll back with the caller's own writes (see
// store/postgres's SendTx).
type AcceptBackends struct {
	Queue   Queue
	Log     Log
	Deduper Deduper // nil: no de-duplication
}

// Send validates n, de-duplicates it by EventID, resolves its recipients and
// queues one delivery per channel and address.
//
// When Send returns nil every delivery is durably queued and logged. When it
// returns an error the notification is not sent and the event ID is free
// again: retry the Send. (With a queue whose Enqueue is not atomic some jobs
// may have reached it; they are logged as failed first and the workers
// settle them without sending.) Bad input returns a *ValidationError naming
// the field, and nothing is stored. A repeated EventID returns the first
// notification's receipt with Duplicate set and queues nothing; while that
// first Send has claimed the event but not yet logged it, Send returns an
// error wrapping ErrInProgress.
//
// The maps in n (Data, Metadata, Content.Data) are kept by reference until
// the deliveries are sent: do not change them after Send.
func (d *Dispatcher) Send(ctx context.Context, n Notification) (Receipt, error) {
	return d.SendWith(ctx, AcceptBackends{Queue: d.cfg.Queue, Log: d.cfg.Store, Deduper: d.cfg.Deduper}, n)
}

// SendWith is Send writing through b instead of the configured Queue, Log
// and Deduper. Contacts and preferences are still read from the Store.
func (d *Dispatcher) SendWith(ctx context.Context, b AcceptBackends, n Notification) (r Receipt, err error) {
	ctx, span := d.tracing.startSend(ctx, 1)
	if span != nil {
		defer func() { endSend(span, []Receipt{r}, err) }()
	}
	p, err := d.plan(ctx, &n, time.Now())
	if err != nil {
		return Receipt{}, err
	}
	if errs := d.commit(ctx, b, []*plan{p}); errs != nil {
		return Receipt{}, errs[0]
	}
	return p.receipt, nil
}

// BatchError reports which notifications of a SendBatch failed. Errs is
// aligned with the input; nil entries succeeded.
type BatchError struct {
	Errs []error
}

// Error counts the failures and quotes the first.
func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("notify: %d of %d notifications failed; first: %v", n, len(e.Errs), first)
}

// SendBatch sends many notifications, writing the log and the queue once for
// all of them. Each notification succeeds or fails on its own: receipts[i]
// answers ns[i], and when some fail the error is a *BatchError whose Errs[i]
// says why.
func (d *Dispatcher) SendBatch(ctx context.Context, ns []Notification) (receipts []Receipt, err error) {
	ctx, span := d.tracing.startSend(ctx, len(ns))
	if span != nil {
		defer func() { endSend(span, receipts, err) }()
	}
	receipts = make([]Receipt, len(ns))
	errs := make([]error, len(ns))
	plans := make([]*plan, 0, len(ns))
	idx := make([]int, 0, len(ns))
	now := time.Now()
	failed := false
	for i := range ns {
		p, err := d.plan(ctx, &ns[i], now)
		if err != nil {
			errs[i], failed = err, true
			continue
		}
		plans = append(plans, p)
		idx = append(idx, i)
	}
	for j, e := range d.commit(ctx, AcceptBackends{Queue: d.cfg.Queue, Log: d.cfg.Store, Deduper: d.cfg.Deduper}, plans) {
		if e != nil {
			errs[idx[j]], failed = e, true
		}
	}
	for j, p := range plans {
		if errs[idx[j]] == nil {
			receipts[idx[j]] = p.receipt
		}
	}
	if failed {
		return receipts, &BatchError{Errs: errs}
	}
	return receipts, nil
}

// plan is one notification, validated, resolved and rendered, not yet written.
type plan struct {
	eventID    string // the caller's; empty: no dedup
	receipt    Receipt
	jobs       []Job
	events     []Event // queued and skipped
	claimed    bool
	dup        bool
	dupOf      *plan // an earlier plan of the same SendBatch with the same event ID
	deliveries []Delivery
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// plan validates n and works out its deliveries: reads contacts and
// preferences, renders, asks channels to validate. It writes nothing.
func (d *Dispatcher) plan(ctx context.Context, n *Notification, now time.Time) (*plan, error) {
	if err := d.validate(n); err != nil {
		return nil, err
	}
	nid := newID()
	p := &plan{eventID: n.EventID}
	p.receipt.NotificationID = nid
	p.receipt.EventID = n.EventID
	if n.EventID == "" {
		p.receipt.EventID = nid
	}
	category := n.Category
	if category == "" {
		category = DefaultCategory
	}
	start := now
	if n.SendAt.After(now) {
		start = n.SendAt
	}
	var expires time.Time
	if n.TTL > 0 {
		expires = start.Add(n.TTL)
	}
	if !n.ExpiresAt.IsZero() && (expires.IsZero() || n.ExpiresAt.Before(expires)) {
		expires = n.ExpiresAt
	}
	if !expires.IsZero() && !expires.After(start) {
		return nil, invalid("ExpiresAt", "expires at %s, before it is due at %s", expires.Format(time.RFC3339), start.Format(time.RFC3339))
	}

	var contact Contact
	if n.UserID != "" {
		c, err := d.cfg.Store.Contact(ctx, n.UserID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("notify: look up contact of user %s: %w", n.UserID, err)
		default:
			contact = c
		}
	}
	channels := n.Channels
	if len(channels) == 0 {
		channels = d.names
	} else if len(channels) > 1 {
		channels = uniq(channels)
	}

	base := Delivery{
		NotificationID: nid, EventID: p.receipt.EventID, UserID: n.UserID, Category: category,
		Locale: contact.Locale, TimeZone: contact.TimeZone, Template: n.Template, Data: n.Data,
		Priority: n.Priority, Critical: n.Critical, CreatedAt: now, SendAt: n.SendAt,
		ExpiresAt: expires, Metadata: n.Metadata, Trace: d.tracing.carrier(ctx),
	}
	type target struct {
		addr Address
		reg  time.Time
	}
	for _, ch := range channels {
		var targets []target
		if n.UserID != "" {
			switch ch {
			case ChannelSMS, ChannelEmail:
				for _, a := range contact.Addresses(ch) {
					targets = append(targets, target{a, time.Time{}})
				}
			default: // push: every device on this platform
			devices:
				for _, dev := range contact.Devices {
					if dev.Platform != ch || dev.Token == "" {
						continue
					}
					for _, t := range targets {
						if t.addr.Value == dev.Token {
							continue devices
						}
					}
					targets = append(targets, target{Address{ch, dev.Token}, dev.RegisteredAt})
				}
			}
		}
	to:
		for _, a := range n.To {
			if a.Channel != ch {
				continue
			}
			for _, t := range targets { // one delivery per address
				if t.addr.Value == a.Value {
					continue to
				}
			}
			targets = append(targets, target{a, time.Time{}})
		}
		if len(targets) == 0 {
			if len(n.Channels) > 0 {
				p.receipt.Skipped = append(p.receipt.Skipped, Skip{Channel: ch, Reason: ReasonNoAddress})
			}
			continue
		}
		if n.UserID != "" && !n.Critical {
			ok, err := d.allowed(ctx, n.UserID, category, ch)
			if err != nil {
				return nil, fmt.Errorf("notify: look up preferences of user %s: %w", n.UserID, err)
			}
			if !ok {
				p.receipt.Skipped = append(p.receipt.Skipped, Skip{Channel: ch, Reason: ReasonOptedOut})
				for _, t := range targets {
					id := newID()
					p.events = append(p.events, Event{DeliveryID: id, NotificationID: nid, UserID: n.UserID,
						Category: category, Channel: ch, Address: t.addr.Value, Status: StatusSkipped, Reason: ReasonOptedOut, At: now})
				}
				continue
			}
		}
		var opts json.RawMessage
		if o, ok := n.Options[ch]; ok && o != nil {
			b, err := json.Marshal(o)
			if err != nil {
				return nil, &ValidationError{Field: "Options." + ch, Reason: "does not marshal to JSON: " + err.Error(), Err: err}
			}
			opts = b
		}
		var msg Message
		for i, t := range targets {
			del := base
			del.ID = newID()
			del.Channel = ch
			del.Address = t.addr.Value
			del.AddressRegisteredAt = t.reg
			del.Options = opts
			if i == 0 {
				var err error
				if msg, err = d.render(ctx, n, &del); err != nil {
					return nil, err
				}
			}
			del.Message = msg
			if ci := d.channels[ch]; ci.validator != nil {
				if err := ci.validator.Validate(&del); err != nil {
					var ve *ValidationError
					if errors.As(err, &ve) {
						return nil, ve
					}
					return nil, &ValidationError{Field: "To(" + ch + ")", Reason: err.Error(), Err: err}
				}
			}
			p.deliveries = append(p.deliveries, del)
		}
	}
	if len(p.deliveries) > 0 {
		p.jobs = make([]Job, len(p.deliveries))
		p.receipt.Deliveries = make([]DeliveryRef, len(p.deliveries))
		for i := range p.deliveries {
			del := &p.deliveries[i]
			p.jobs[i] = Job{ID: del.ID, Queue: d.channels[del.Channel].queue, NotBefore: del.SendAt, Delivery: del}
			p.receipt.Deliveries[i] = DeliveryRef{ID: del.ID, Channel: del.Channel, Address: del.Address, Status: StatusQueued, Units: del.Units}
			p.events = append(p.events, Event{DeliveryID: del.ID, NotificationID: nid, UserID: del.UserID,
				Category: category, Channel: del.Channel, Address: del.Address, Status: StatusQueued, At: now})
		}
	}
	return p, nil
}

// uniq returns names without repeats, in order.
func uniq(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// render renders del's message at accept time, so a template that does not
// fit its data fails the Send rather than the delivery.
func (d *Dispatcher) render(ctx context.Context, n *Notification, del *Delivery) (Message, error) {
	var msg Message
	if n.Content != nil {
		msg = *n.Content
	} else {
		var err error
		msg, err = d.cfg.Renderer.Render(ctx, del)
		if err != nil {
			if errors.Is(err, ErrUnknownTemplate) {
				return Message{}, &ValidationError{Field: "Template", Reason: err.Error(), Err: err}
			}
			return Message{}, &ValidationError{Field: "Data", Reason: fmt.Sprintf("template %q for %s: %v", n.Template, del.Channel, err), Err: err}
		}
	}
	if sz := msg.size(); sz > d.cfg.MaxMessageBytes {
		field := "Content"
		if n.Template != "" {
			field = "Data"
		}
		return Message{}, invalid(field, "the %s message is %d bytes, over the %d-byte limit (Config.MaxMessageBytes)", del.Channel, sz, d.cfg.MaxMessageBytes)
	}
	return msg, nil
}

// commit claims event IDs, then logs and enqueues every plan's deliveries in
// one Record and one Enqueue. It returns nil when every plan is committed
// (or is a duplicate), else an error per plan (nil for the committed ones).
// Every claim of a failed plan is released.
func (d *Dispatcher) commit(ctx context.Context, b AcceptBackends, plans []*plan) []error {
	var errs []error // per plan, allocated on first failure
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(plans))
		}
		errs[i] = err
	}
	live := func(i int, p *plan) bool { return !p.dup && p.dupOf == nil && (errs == nil || errs[i] == nil) }
	d.claim(ctx, b, plans, fail)

	var events []Event
	var jobs []Job
	n := 0
	for i, p := range plans {
		if live(i, p) {
			n++
			events, jobs = p.events, p.jobs
		}
	}
	if n > 1 {
		events, jobs = nil, nil
		for i, p := range plans {
			if live(i, p) {
				events = append(events, p.events...)
				jobs = append(jobs, p.jobs...)
			}
		}
	}
	var err error
	logged := false
	if lq, ok := b.Queue.(LoggingQueue); ok && len(jobs) > 0 {
		switch err = lq.EnqueueLogged(ctx, b.Log, events, jobs); {
		case err == nil:
			logged = true
		case errors.Is(err, errors.ErrUnsupported):
			err = nil
		default:
			err = fmt.Errorf("notify: record and enqueue deliveries: %w (nothing was queued; retry the Send)", err)
		}
	}
	if !logged && err == nil && len(events) > 0 {
		if err = b.Log.Record(ctx, events...); err != nil {
			err = fmt.Errorf("notify: record deliveries: %w (nothing was queued; retry the Send)", err)
		}
	}
	if !logged && err == nil && len(jobs) > 0 {
		if err = b.Queue.Enqueue(ctx, jobs...); err != nil {
			err = fmt.Errorf("notify: enqueue deliveries: %w (nothing was sent; retry the Send)", err)
			d.recordEnqueueFailure(ctx, b.Log, jobs, err)
		}
	}
	if err != nil {
		for i, p := range plans {
			if live(i, p) {
				fail(i, err)
			}
		}
	}
	for i, p := range plans {
		if live(i, p) { // committed
			for j := range p.events {
				d.metrics.event(ctx, &p.events[j])
			}
		}
		if p.dupOf != nil { // a repeat inside the batch shares its first's fate
			first := slices.Index(plans, p.dupOf)
			if errs != nil && errs[first] != nil {
				fail(i, errs[first])
				continue
			}
			p.receipt = p.dupOf.receipt
			p.receipt.Duplicate = true
		}
		if p.claimed && errs != nil && errs[i] != nil {
			d.release(ctx, b.Deduper, p)
		}
	}
	return errs
}

// release frees a failed plan's event ID.
func (d *Dispatcher) release(ctx context.Context, dd Deduper, p *plan) {
	if err := dd.Release(context.WithoutCancel(ctx), p.eventID, p.receipt.NotificationID); err != nil {
		d.log.ErrorContext(ctx, "notify: release event claim after a failed send; the event ID stays claimed until its TTL",
			slog.String("event_id", p.eventID), slog.Any("error", err))
	}
}

// claim claims the plans' event IDs: with one ClaimBatch when the Deduper
// offers it and there are several, else one Claim each. A plan whose event
// is held by another notification becomes a duplicate with that one's
// receipt; a repeat within the batch becomes a duplicate of the first.
func (d *Dispatcher) claim(ctx context.Context, b AcceptBackends, plans []*plan, fail func(int, error)) {
	dd := b.Deduper
	if dd == nil {
		return
	}
	if len(plans) == 1 { // Send: no slices on the hot path
		if p := plans[0]; p.eventID != "" {
			var r ClaimResult
			var err error
			r.Claimed, r.Holder, err = dd.Claim(ctx, p.eventID, p.receipt.NotificationID, d.cfg.DedupTTL)
			d.claimed(ctx, b, p, r, err, func(err error) { fail(0, err) })
		}
		return
	}
	var idx []int
	firsts := map[string]*plan{}
	for i, p := range plans {
		if p.eventID == "" {
			continue
		}
		if first, ok := firsts[p.eventID]; ok {
			p.dupOf = first
			continue
		}
		firsts[p.eventID] = p
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return
	}
	results := make([]ClaimResult, len(idx))
	errs := make([]error, len(idx))
	if bd, ok := dd.(BatchDeduper); ok && len(idx) > 1 {
		reqs := make([]ClaimRequest, len(idx))
		for j, i := range idx {
			reqs[j] = ClaimRequest{Key: plans[i].eventID, Owner: plans[i].receipt.NotificationID, TTL: d.cfg.DedupTTL}
		}
		var berrs []error
		results, berrs = bd.ClaimBatch(ctx, reqs)
		if berrs != nil {
			errs = berrs
		}
	} else {
		for j, i := range idx {
			results[j].Claimed, results[j].Holder, errs[j] = dd.Claim(ctx, plans[i].eventID, plans[i].receipt.NotificationID, d.cfg.DedupTTL)
		}
	}
	for j, i := range idx {
		var r ClaimResult
		err := errors.New("the deduper gave no answer")
		if j < len(results) {
			r, err = results[j], nil
		}
		if j < len(errs) && errs[j] != nil {
			err = errs[j]
		}
		d.claimed(ctx, b, plans[i], r, err, func(err error) { fail(i, err) })
	}
}

// claimed applies a claim's answer to its plan.
func (d *Dispatcher) claimed(ctx context.Context, b AcceptBackends, p *plan, r ClaimResult, err error, fail func(error)) {
	switch {
	case err != nil:
		// The claim may have been written before the error (a timeout):
		// release it, which removes it only if this Send holds it.
		d.release(ctx, b.Deduper, p)
		fail(fmt.Errorf("notify: claim event %s: %w (nothing was queued; retry the Send)", p.eventID, err))
	case !r.Claimed:
		rec, err := d.duplicateReceipt(ctx, b.Log, r.Holder, p.eventID)
		if err != nil {
			fail(err)
			return
		}
		p.dup, p.receipt = true, rec
	default:
		p.claimed = true
	}
}

// recordEnqueueFailure marks deliveries that were logged as queued but never
// reached the queue, so the log tells no lie.
func (d *Dispatcher) recordEnqueueFailure(ctx context.Context, log Log, jobs []Job, cause error) {
	now := time.Now()
	evs := make([]Event, len(jobs))
	for i, j := range jobs {
		del := j.Delivery
		evs[i] = Event{DeliveryID: del.ID, NotificationID: del.NotificationID, UserID: del.UserID, Category: del.Category,
			Channel: del.Channel, Address: del.Address, Status: StatusFailed, Reason: cause.Error(), At: now}
	}
	if err := log.Record(context.WithoutCancel(ctx), evs...); err != nil {
		d.log.ErrorContext(ctx, "notify: record failed enqueue", slog.Any("error", err))
	}
}

// ErrInProgress is returned (wrapped) by Send for an event ID that another
// Send claimed less than InProgressWindow ago and has not logged (in the
// Log this Dispatcher reads): that Send is still running. Retry later; the
// retry returns the original receipt once it is logged. After the window a
// claim without a log is taken to be logged elsewhere (Dispatchers that
// share a Deduper but not a Log) and Send returns a Duplicate receipt with
// no deliveries; if the original Send died between its claim and its log
// write, that event is lost until the claim's TTL ends.
var ErrInProgress = errors.New("notify: a Send of this event is in progress")

// InProgressWindow is how long after a claim its missing log means "still
// being written" (ErrInProgress) rather than "logged elsewhere".
const InProgressWindow = 30 * time.Second

// duplicateReceipt builds the receipt of the notification that holds an event ID.
func (d *Dispatcher) duplicateReceipt(ctx context.Context, log Log, holder, eventID string) (Receipt, error) {
	r := Receipt{NotificationID: holder, EventID: eventID, Duplicate: true}
	statuses, err := log.Deliveries(ctx, holder)
	if errors.Is(err, ErrNotFound) {
		// Notification IDs are UUIDv7: the holder's says when it claimed.
		if id, perr := uuid.Parse(holder); perr == nil && id.Version() == 7 {
			sec, nsec := id.Time().UnixTime()
			if time.Since(time.Unix(sec, nsec)) > InProgressWindow {
				d.log.WarnContext(ctx, "notify: duplicate event whose original is not in this Dispatcher's log",
					slog.String("event_id", eventID), slog.String("notification", holder))
				return r, nil
			}
		}
		return Receipt{}, fmt.Errorf("notify: event %s is claimed by notification %s, which is not logged yet: %w", eventID, holder, ErrInProgress)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("notify: look up notification %s, the original of event %s: %w", holder, eventID, err)
	}
	for _, s := range statuses {
		if s.Status == StatusSkipped && s.Attempts == 0 && len(s.Events) == 1 {
			r.Skipped = append(r.Skipped, Skip{Channel: s.Channel, Reason: s.Reason})
			continue
		}
		r.Deliveries = append(r.Deliveries, DeliveryRef{ID: s.DeliveryID, Channel: s.Channel, Address: s.Address, Status: s.Status})
	}
	return r, nil
}
