package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

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
// queues one delivery per channel and address. When Send returns nil every
// delivery is durably queued and logged; when it returns an error nothing
// is queued (and the event ID is free again). Bad input returns a
// *ValidationError naming the field. A repeated EventID returns the first
// notification's receipt with Duplicate set and queues nothing.
func (d *Dispatcher) Send(ctx context.Context, n Notification) (Receipt, error) {
	return d.SendWith(ctx, AcceptBackends{Queue: d.cfg.Queue, Log: d.cfg.Store, Deduper: d.cfg.Deduper}, n)
}

// SendWith is Send writing through b instead of the configured Queue, Log
// and Deduper. Contacts and preferences are still read from the Store.
func (d *Dispatcher) SendWith(ctx context.Context, b AcceptBackends, n Notification) (Receipt, error) {
	p, err := d.plan(ctx, &n, time.Now())
	if err != nil {
		return Receipt{}, err
	}
	if err := d.commit(ctx, b, []*plan{p}); err != nil {
		return Receipt{}, err
	}
	return p.receipt, nil
}

// BatchError reports which notifications of a SendBatch failed. Errs is
// aligned with the input; nil entries succeeded.
type BatchError struct {
	Errs []error
}

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
func (d *Dispatcher) SendBatch(ctx context.Context, ns []Notification) ([]Receipt, error) {
	receipts := make([]Receipt, len(ns))
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
	if err := d.commit(ctx, AcceptBackends{Queue: d.cfg.Queue, Log: d.cfg.Store, Deduper: d.cfg.Deduper}, plans); err != nil {
		var be *BatchError
		if !errors.As(err, &be) {
			return receipts, err
		}
		for j, e := range be.Errs {
			if e != nil {
				errs[idx[j]], failed = e, true
			}
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
	deliveries []Delivery
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// validate checks what can be checked without the backends.
func (d *Dispatcher) validate(n *Notification) error {
	if n.UserID == "" && len(n.To) == 0 {
		return invalid("UserID", "no recipient: set UserID, or list explicit addresses in To")
	}
	for _, f := range [...]struct{ name, v string }{{"EventID", n.EventID}, {"UserID", n.UserID}, {"Category", n.Category}, {"Template", n.Template}} {
		if len(f.v) > 255 {
			return invalid(f.name, "%d bytes long; at most 255", len(f.v))
		}
		if !utf8.ValidString(f.v) {
			return invalid(f.name, "not valid UTF-8")
		}
	}
	switch {
	case n.Template == "" && n.Content == nil:
		return invalid("Template", "no content: set Template (with Data) or Content")
	case n.Template != "" && n.Content != nil:
		return invalid("Content", "set Template or Content, not both")
	case n.Template != "" && d.cfg.Renderer == nil:
		return invalid("Template", "this Dispatcher has no Renderer (set Config.Renderer) to render template %q", n.Template)
	case n.Content != nil && n.Content.IsZero():
		return invalid("Content", "empty message")
	}
	for i, c := range n.Channels {
		if _, ok := d.channels[c]; !ok {
			return invalid("Channels["+strconv.Itoa(i)+"]", "unknown channel %q; this Dispatcher has %v", c, d.names)
		}
	}
	for i, a := range n.To {
		if _, ok := d.channels[a.Channel]; !ok {
			return invalid("To["+strconv.Itoa(i)+"].Channel", "unknown channel %q; this Dispatcher has %v", a.Channel, d.names)
		}
		if a.Value == "" {
			return invalid("To["+strconv.Itoa(i)+"].Value", "empty address")
		}
	}
	if n.TTL < 0 {
		return invalid("TTL", "negative (%s)", n.TTL)
	}
	if n.Priority < PriorityNormal || n.Priority > PriorityLow {
		return invalid("Priority", "unknown priority %d", n.Priority)
	}
	for k := range n.Options {
		if _, ok := d.channels[k]; !ok {
			return invalid("Options."+k, "options for unknown channel %q; this Dispatcher has %v", k, d.names)
		}
	}
	return nil
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
	}

	base := Delivery{
		NotificationID: nid, EventID: p.receipt.EventID, UserID: n.UserID, Category: category,
		Locale: contact.Locale, TimeZone: contact.TimeZone, Template: n.Template, Data: n.Data,
		Priority: n.Priority, Critical: n.Critical, CreatedAt: now, SendAt: n.SendAt,
		ExpiresAt: expires, Metadata: n.Metadata,
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
				for _, dev := range contact.Devices {
					if dev.Platform == ch && dev.Token != "" {
						targets = append(targets, target{Address{ch, dev.Token}, dev.RegisteredAt})
					}
				}
			}
		}
		for _, a := range n.To {
			if a.Channel == ch {
				targets = append(targets, target{a, time.Time{}})
			}
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
			p.jobs[i] = Job{ID: del.ID, Queue: d.cfg.QueuePrefix + del.Channel, NotBefore: del.SendAt, Delivery: del}
			p.receipt.Deliveries[i] = DeliveryRef{ID: del.ID, Channel: del.Channel, Address: del.Address, Status: StatusQueued, Units: del.Units}
			p.events = append(p.events, Event{DeliveryID: del.ID, NotificationID: nid, UserID: del.UserID,
				Category: category, Channel: del.Channel, Address: del.Address, Status: StatusQueued, At: now})
		}
	}
	return p, nil
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
// one Record and one Enqueue. On failure it releases the claims it made.
func (d *Dispatcher) commit(ctx context.Context, b AcceptBackends, plans []*plan) error {
	var errs []error // per plan, allocated on first failure
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(plans))
		}
		errs[i] = err
	}
	d.claim(ctx, b, plans, fail)
	nEvents, nJobs := 0, 0
	for i, p := range plans {
		if p.dup || (errs != nil && errs[i] != nil) {
			continue
		}
		nEvents += len(p.events)
		nJobs += len(p.jobs)
	}
	events := make([]Event, 0, nEvents)
	jobs := make([]Job, 0, nJobs)
	for i, p := range plans {
		if p.dup || (errs != nil && errs[i] != nil) {
			continue
		}
		events = append(events, p.events...)
		jobs = append(jobs, p.jobs...)
	}
	var err error
	if len(events) > 0 {
		if err = b.Log.Record(ctx, events...); err != nil {
			err = fmt.Errorf("notify: record deliveries: %w (nothing was queued; retry the Send)", err)
		}
	}
	if err == nil && len(jobs) > 0 {
		if err = b.Queue.Enqueue(ctx, jobs...); err != nil {
			err = fmt.Errorf("notify: enqueue deliveries: %w (nothing was queued; retry the Send)", err)
			d.recordEnqueueFailure(ctx, b.Log, jobs, err)
		}
	}
	if err != nil {
		for i, p := range plans {
			if p.dup || (errs != nil && errs[i] != nil) {
				continue
			}
			fail(i, err)
		}
	}
	for i, p := range plans {
		if p.claimed && errs != nil && errs[i] != nil {
			if rerr := b.Deduper.Release(context.WithoutCancel(ctx), p.eventID, p.receipt.NotificationID); rerr != nil {
				d.log.ErrorContext(ctx, "notify: release event claim after a failed send; the event ID stays claimed until its TTL",
					slog.String("event_id", p.eventID), slog.Any("error", rerr))
			}
		}
	}
	if errs == nil {
		return nil
	}
	if len(plans) == 1 {
		return errs[0]
	}
	return &BatchError{Errs: errs}
}

// claim claims the plans' event IDs: with one ClaimBatch when the Deduper
// offers it and there are several, else one Claim each. A plan whose event
// is held by another notification becomes a duplicate with that one's receipt.
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
	for i, p := range plans {
		if p.eventID != "" {
			idx = append(idx, i)
		}
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
		fail(fmt.Errorf("notify: claim event %s: %w (nothing was queued; retry the Send)", p.eventID, err))
	case !r.Claimed:
		p.dup = true
		p.receipt = d.duplicateReceipt(ctx, b.Log, r.Holder, p.eventID)
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

// duplicateReceipt builds the receipt of the notification that holds an event ID.
func (d *Dispatcher) duplicateReceipt(ctx context.Context, log Log, holder, eventID string) Receipt {
	r := Receipt{NotificationID: holder, EventID: eventID, Duplicate: true}
	statuses, err := log.Deliveries(ctx, holder)
	if errors.Is(err, ErrNotFound) {
		return r // the original Send has claimed the event but not written yet
	}
	if err != nil {
		d.log.WarnContext(ctx, "notify: look up the original of a duplicate event", slog.String("event_id", eventID), slog.Any("error", err))
		return r
	}
	for _, s := range statuses {
		if s.Status == StatusSkipped && s.Attempts == 0 && len(s.Events) == 1 {
			r.Skipped = append(r.Skipped, Skip{Channel: s.Channel, Reason: s.Reason})
			continue
		}
		r.Deliveries = append(r.Deliveries, DeliveryRef{ID: s.DeliveryID, Channel: s.Channel, Address: s.Address, Status: s.Status})
	}
	return r
}
