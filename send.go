package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// DefaultCategory is the category of notifications that name none.
const DefaultCategory = "default"

// AllCategories is the category under which an opt-out applies to every
// category on a channel: SetPreference(ctx, user, AllCategories, "sms",
// false) stops every non-critical SMS to the user.
const AllCategories = "*"

// AcceptBackends are the backends a Send writes to: the Dispatcher's Queue,
// its Store (as the EventLog) and its Deduper. SendTx hands them to its Tx,
// whose Bind returns them writing through a database transaction, so the
// log rows, the queue rows and the dedup claim commit or roll back with the
// caller's own writes.
type AcceptBackends struct {
	Queue    Queue
	EventLog EventLog
	Deduper  Deduper // nil: no de-duplication
}

// Send validates n, de-duplicates it by EventID, resolves its recipients and
// queues one delivery per channel and address.
//
// Send is idempotent by EventID under any error: a caller that retries a
// failed Send with the same notification and EventID until it succeeds
// ends with exactly one set of deliveries, whatever failed and wherever (a
// killed connection, a lost commit reply, a killed process). The outcomes:
//
//   - nil: every delivery is durably queued and logged (or, for a repeated
//     EventID, the original's receipt, with Duplicate set).
//   - an error wrapping ErrNotQueued (a *ValidationError is one): nothing
//     was stored and the event ID is free. Fix the input, or send again.
//   - an error wrapping ErrInProgress: another Send holds the event and has
//     not logged it yet. Retry the same notification a little later.
//   - any other error is ambiguous: the notification may or may not be
//     queued. Retry the same notification with the same EventID: the retry
//     returns the original receipt if it was queued, and queues it if not.
//     (Without an EventID a retry cannot tell, and may send it twice.)
//
// A claim whose Send failed before logging is taken over by the retry, at
// once in the same process and after InProgressWindow in another one; with
// a Store local to each process (store/memory) and a Deduper shared between
// processes, a claim logged by another process cannot be told from a dead
// one, so it is never taken over: such a retry keeps returning
// ErrInProgress until the claim's DedupTTL ends.
//
// Every backend call is bounded by Config.BackendTimeout. A user with no
// address on the requested channels, an opt-out and a stored address the
// channel rejects are logged as skipped deliveries (ReasonNoAddress,
// ReasonOptedOut, ReasonInvalidAddress) and listed in Receipt.Skipped.
//
// The maps in n (Data, Metadata, Content.Data) are kept by reference until
// the deliveries are sent: do not change them after Send.
func (d *Dispatcher) Send(ctx context.Context, n Notification) (Receipt, error) {
	return d.sendWith(ctx, AcceptBackends{Queue: d.cfg.Queue, EventLog: d.cfg.Store, Deduper: d.cfg.Deduper}, n)
}

// sendWith is Send writing through b instead of the configured Queue, EventLog
// and Deduper (SendTx). Contacts and preferences are still read from the Store.
func (d *Dispatcher) sendWith(ctx context.Context, b AcceptBackends, n Notification) (r Receipt, err error) {
	ctx, span := d.tracing.startSend(ctx, 1)
	if span != nil {
		defer func() { endSend(span, []Receipt{r}, err) }()
	}
	bc := d.boundedFor(ctx)
	defer bc.stop()
	now := time.Now()
	p, err := d.plan(ctx, bc, &n, now)
	if err != nil {
		return Receipt{}, err
	}
	if errs := d.commit(ctx, bc, b, p.alone(), now); errs != nil {
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
	bc := d.boundedFor(ctx)
	defer bc.stop()
	failed := false
	for i := range ns {
		p, err := d.plan(ctx, bc, &ns[i], now)
		if err != nil {
			errs[i], failed = err, true
			continue
		}
		plans = append(plans, p)
		idx = append(idx, i)
	}
	for j, e := range d.commit(ctx, bc, AcceptBackends{Queue: d.cfg.Queue, EventLog: d.cfg.Store, Deduper: d.cfg.Deduper}, plans, now) {
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
// A Send allocates it per notification and drops it once the Send returns
// (but for the receipt's Deliveries, which the caller may keep), so it holds
// only what commit needs: what planning alone needs is in planner, and what
// only a SendBatch needs is in committer. It fits a 512-byte size class.
type plan struct {
	receipt Receipt
	jobs    []Job
	events  []Event // queued and skipped
	state   planState
	// claims says whether commit claims the event ID (receipt.EventID, the
	// caller's): false when the notification has none, or the Dispatcher has
	// no Deduper.
	claims bool
	// dupOf is 1 + the index in its SendBatch of an earlier plan with the
	// same event ID; 0 for none.
	dupOf int32

	// The usual notification has one delivery: its job, receipt entry and
	// event live in the plan's own allocation. (Its Delivery does not: the
	// queue may hold that long after the plan is garbage.)
	oneJob   [1]Job
	oneRef   [1]DeliveryRef
	oneEvent [1]Event
	self     [1]*plan // see alone
}

// eventID is the event ID p claims; empty when it claims none.
func (p *plan) eventID() string {
	if !p.claims {
		return ""
	}
	return p.receipt.EventID
}

// alone returns the plans of a Send of p alone, without allocating.
func (p *plan) alone() []*plan {
	p.self[0] = p
	return p.self[:]
}

// idClock makes a Dispatcher's notification IDs: UUIDv7s, strictly
// increasing within the Dispatcher (as uuid.NewV7 makes them within the
// process), without allocating beyond the ID's string.
type idClock struct {
	last atomic.Int64 // unix milliseconds << 12 | sub-millisecond sequence
}

// newID returns a new time-ordered ID (a UUIDv7): 48 bits of Unix
// milliseconds, 12 bits of the fraction of the millisecond (bumped to stay
// above the last ID's), 62 random bits.
func (c *idClock) newID() string {
	var u uuid.UUID
	_, _ = rand.Read(u[8:]) // crypto/rand.Read never returns an error
	nano := time.Now().UnixNano()
	milli := nano / 1_000_000
	stamp := milli<<12 | (nano-milli*1_000_000)>>8
	for {
		last := c.last.Load()
		if stamp <= last {
			stamp = last + 1
		}
		if c.last.CompareAndSwap(last, stamp) {
			break
		}
	}
	milli = stamp >> 12
	for i := range 6 {
		u[i] = byte(milli >> (40 - 8*i))
	}
	u[6] = 0x70 | byte(stamp>>8)&0x0f // version 7
	u[7] = byte(stamp)
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}

// plan validates n and works out its deliveries: reads contacts and
// preferences, renders, asks channels to validate. It writes nothing.
func (d *Dispatcher) plan(ctx context.Context, bc *bounded, n *Notification, now time.Time) (*plan, error) {
	if err := d.validate(n); err != nil {
		return nil, err
	}
	pl := planner{d: d, ctx: ctx, bc: bc, n: *n, p: newPlan(n, d.ids.newID()), category: categoryOf(n), now: now}
	expires, err := expiry(n, now)
	if err != nil {
		return nil, err
	}
	if pl.contact, err = d.contactOf(bc, n.UserID); err != nil {
		return nil, err
	}
	channels := d.channelsOf(n)
	pl.base = Delivery{
		NotificationID: pl.p.receipt.NotificationID, EventID: pl.p.receipt.EventID, UserID: n.UserID, Category: pl.category,
		Locale: pl.contact.Locale, TimeZone: pl.contact.TimeZone, Template: n.Template, Data: n.Data,
		Priority: n.Priority, Critical: n.Critical, CreatedAt: now, SendAt: n.SendAt,
		ExpiresAt: expires, Metadata: n.Metadata, Trace: d.tracing.carrier(ctx),
		QuietHours: d.quietHoursOf(n, pl.category, &pl.contact),
	}
	for _, ch := range channels {
		if err := pl.planChannel(ch); err != nil {
			return nil, err
		}
	}
	pl.addJobs()
	if len(pl.p.events) == 0 {
		// Nobody to reach (an unknown user, or one without an address on
		// any channel): record that, so Status shows it and a repeated
		// event ID is answered from the log.
		for _, ch := range channels {
			pl.skip(ch, "", ReasonNoAddress)
		}
	}
	return pl.p, nil
}

// newPlan starts n's plan: the new notification ID nid, and a receipt that
// carries n's event ID, or the notification ID when n has none.
func newPlan(n *Notification, nid string) *plan {
	p := &plan{claims: n.EventID != ""}
	p.events = p.oneEvent[:0]
	p.receipt.NotificationID = nid
	p.receipt.EventID = n.EventID
	if n.EventID == "" {
		p.receipt.EventID = nid
	}
	return p
}

// categoryOf is n's category, DefaultCategory when it names none.
func categoryOf(n *Notification) string {
	if n.Category == "" {
		return DefaultCategory
	}
	return n.Category
}

// expiry is when n's deliveries expire (zero: never): TTL after n is due
// (at SendAt, or now), or at ExpiresAt when that is earlier. A
// notification that expires by the time it is due is invalid.
func expiry(n *Notification, now time.Time) (time.Time, error) {
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
		return time.Time{}, invalid("ExpiresAt", "expires at %s, before it is due at %s", expires.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return expires, nil
}

// contactOf reads user's contact from the Store: the zero Contact when
// user is empty or the Store has none.
func (d *Dispatcher) contactOf(bc *bounded, user string) (Contact, error) {
	if user == "" {
		return Contact{}, nil
	}
	c, err := d.cfg.Store.Contact(bc.get(), user)
	switch {
	case errors.Is(err, ErrNotFound):
		return Contact{}, nil
	case err != nil:
		return Contact{}, fmt.Errorf("notify: look up contact of user %s: %w: %w", user, err, ErrNotQueued)
	}
	return c, nil
}

// channelsOf lists the channels n goes to, each once: the ones it names,
// or every channel of the Dispatcher when it names none.
func (d *Dispatcher) channelsOf(n *Notification) []string {
	switch {
	case len(n.Channels) == 0:
		return d.names
	case len(n.Channels) > 1:
		return uniq(n.Channels)
	}
	return n.Channels
}

// planner works out one notification's plan, channel by channel: it holds
// what the steps of plan share.
type planner struct {
	// n is a copy of the notification, not a pointer to it: escape
	// analysis does not tell a planner's fields apart, and a pointer here
	// would move every caller's Notification to the heap.
	n        Notification
	d        *Dispatcher
	ctx      context.Context
	bc       *bounded // bounds the Store calls
	p        *plan    // what is worked out so far
	category string
	now      time.Time
	contact  Contact  // the user's, as the Store has it
	base     Delivery // what every delivery of n shares
	// deliveries are those planned so far, each to become a job (see
	// addJobs); their array outlives the planner, held by the jobs.
	deliveries []Delivery
	// targetBuf backs the targets of the channel being planned.
	targetBuf [2]target
}

// planChannel plans n's deliveries on ch: one per address of the user's
// and of n.To on ch, unless the user opted out of the category there. An
// opt-out, a stored address the channel rejects, and a channel n names
// without an address to reach on it are recorded as skipped.
func (pl *planner) planChannel(ch string) error {
	targets, err := pl.targets(ch)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		if len(pl.n.Channels) > 0 {
			pl.p.receipt.Skipped = append(pl.p.receipt.Skipped, Skip{Channel: ch, Reason: ReasonNoAddress})
			pl.skip(ch, "", ReasonNoAddress)
		}
		return nil
	}
	reason, err := pl.allowed(ch)
	if err != nil {
		return err
	}
	if reason != "" {
		pl.p.receipt.Skipped = append(pl.p.receipt.Skipped, Skip{Channel: ch, Reason: reason})
		for _, t := range targets {
			pl.skip(ch, t.addr.Value, reason)
		}
		return nil
	}
	opts, err := channelOptions(&pl.n, ch)
	if err != nil {
		return err
	}
	return pl.addDeliveries(ch, targets, opts)
}

// targets lists the addresses n goes to on ch, in order and each once:
// the user's stored ones, then those of n.To, each in the normal form of
// the channel's AddressNormalizer (see channelInfo.normalize; PutContact
// normalizes with the same function). An address of n.To the normalizer
// rejects fails the Send with a *ValidationError naming it
// ("To[2].Value"); a stored one is kept with the reason in target.bad, to
// be skipped, not sent to (see addDeliveries).
func (pl *planner) targets(ch string) ([]target, error) {
	ci := pl.d.channels[ch]
	ts := targetSet{list: pl.targetBuf[:0]} // one channel's at a time
	if pl.n.UserID != "" {
		for a, reg := range pl.contact.addresses(ch) {
			t := target{addr: a, reg: reg, to: -1}
			if v, err := ci.normalize(a.Value); err != nil {
				t.bad = err.Reason
			} else {
				t.addr.Value = v
			}
			ts, _ = ts.add(t)
		}
	}
	if ci.normalizer == nil {
		ts = ts.addTo(pl.n.To, ch)
		return ts.list, nil
	}
	for i, a := range pl.n.To {
		if a.Channel != ch {
			continue
		}
		v, err := ci.normalize(a.Value)
		if err != nil {
			return nil, err.named("To[" + strconv.Itoa(i) + "].Value")
		}
		a.Value = v
		ts, _ = ts.add(target{addr: a, to: i})
	}
	return ts.list, nil
}

// allowed applies n's user's preferences for n's category on ch: it
// returns "" when the deliveries go out, or why they are skipped (see
// Dispatcher.preferenceSkip).
func (pl *planner) allowed(ch string) (string, error) {
	n := &pl.n
	reason, err := pl.d.preferenceSkip(pl.bc.get(), n.UserID, pl.category, ch, n.Critical)
	if err != nil {
		return "", fmt.Errorf("notify: look up preferences of user %s: %w: %w", n.UserID, err, ErrNotQueued)
	}
	return reason, nil
}

// channelOptions is n's options for ch as JSON, nil when it has none.
func channelOptions(n *Notification, ch string) (json.RawMessage, error) {
	o, ok := n.Options[ch]
	if !ok || o == nil {
		return nil, nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, &ValidationError{Field: "Options." + ch, Reason: "does not marshal to JSON: " + err.Error(), Err: err}
	}
	return b, nil
}

// addDeliveries plans one delivery on ch per target, all sharing the
// message rendered for the first, and keeps those the channel accepts
// (see checkTarget). A stored address the channel's AddressNormalizer
// rejected (target.bad) is skipped as checkTarget skips one its
// Validator rejects.
func (pl *planner) addDeliveries(ch string, targets []target, opts json.RawMessage) error {
	ci := pl.d.channels[ch]
	var msg Message
	rendered, skipped := false, false
	for _, t := range targets {
		if t.bad != "" {
			pl.skipStored(ch, t.addr.Value, t.bad)
			skipped = true
			continue
		}
		// Built in place, in one allocation for the channel's targets.
		if cap(pl.deliveries) == 0 {
			pl.deliveries = make([]Delivery, 0, len(targets))
		}
		pl.deliveries = append(pl.deliveries, pl.base)
		del := &pl.deliveries[len(pl.deliveries)-1]
		del.ID = deliveryID(del.NotificationID, ch, t.addr.Value)
		del.Channel = ch
		del.Address = t.addr.Value
		del.AddressRegisteredAt = t.reg
		del.Options = opts
		if !rendered {
			var err error
			if msg, err = pl.d.render(pl.ctx, &pl.n, del); err != nil {
				pl.deliveries = pl.deliveries[:len(pl.deliveries)-1]
				return err
			}
			rendered = true
		}
		del.Message = msg
		ok, err := pl.checkTarget(ci, del, t)
		if err != nil || !ok {
			pl.deliveries[len(pl.deliveries)-1] = Delivery{}
			pl.deliveries = pl.deliveries[:len(pl.deliveries)-1]
		}
		if err != nil {
			return err
		}
		if !ok {
			skipped = true
		}
	}
	if skipped {
		pl.p.receipt.Skipped = append(pl.p.receipt.Skipped, Skip{Channel: ch, Reason: ReasonInvalidAddress})
	}
	return nil
}

// checkTarget asks the channel's Validator, if any, about del, rendered
// for target t. A verdict on the message, or on an address of n.To (the
// caller's own mistake), fails the Send with a *ValidationError. A stored
// address the channel rejects must not block the other channels (a
// password reset by email when the stored phone number is malformed): it
// is logged, recorded as skipped, and checkTarget reports false.
func (pl *planner) checkTarget(ci *channelInfo, del *Delivery, t target) (bool, error) {
	if ci.validator == nil {
		return true, nil
	}
	err := ci.validator.Validate(del)
	if err == nil {
		return true, nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		ve = &ValidationError{Field: FieldAddress, Reason: err.Error(), Err: err}
	}
	if !ve.aboutAddress() {
		return false, ve
	}
	if t.to >= 0 {
		return false, &ValidationError{Field: "To[" + strconv.Itoa(t.to) + "].Value", Reason: ve.Reason, Err: ve.Err}
	}
	pl.skipStored(del.Channel, t.addr.Value, ve.Reason)
	return false, nil
}

// skipStored logs and records as skipped (ReasonInvalidAddress) a stored
// address the channel rejects, for reason.
func (pl *planner) skipStored(ch, address, reason string) {
	pl.d.log.WarnContext(pl.ctx, "notify: skipping a stored address the channel rejects; fix the contact",
		slog.String("user", pl.n.UserID), slog.String("channel", ch), slog.String("reason", reason))
	pl.skip(ch, address, ReasonInvalidAddress+": "+reason)
}

// addJobs makes of each planned delivery a job on its channel's queue, an
// entry of the receipt and a queued event for the log.
func (pl *planner) addJobs() {
	p, ds := pl.p, pl.deliveries
	if len(ds) == 0 {
		return
	}
	if len(ds) == 1 {
		p.jobs, p.receipt.Deliveries = p.oneJob[:], p.oneRef[:]
	} else {
		p.jobs = make([]Job, len(ds))
		p.receipt.Deliveries = make([]DeliveryRef, len(ds))
	}
	for i := range ds {
		del := &ds[i]
		p.jobs[i] = Job{ID: del.ID, Queue: pl.d.channels[del.Channel].queue, NotBefore: del.SendAt, Delivery: del}
		p.receipt.Deliveries[i] = DeliveryRef{ID: del.ID, Channel: del.Channel, Address: del.Address, Status: StatusQueued, Units: del.Units}
		p.events = append(p.events, Event{DeliveryID: del.ID, NotificationID: del.NotificationID, UserID: del.UserID,
			Category: pl.category, Channel: del.Channel, Address: del.Address, Template: del.Template, Locale: del.Locale,
			Status: StatusQueued, At: pl.now})
	}
}

// skip logs a delivery that will not be attempted, so Status shows it and
// a repeated event ID finds the notification in the log.
func (pl *planner) skip(ch, address, reason string) {
	nid := pl.p.receipt.NotificationID
	pl.p.events = append(pl.p.events, Event{DeliveryID: deliveryID(nid, ch, address), NotificationID: nid, UserID: pl.n.UserID,
		Category: pl.category, Channel: ch, Address: address, Template: pl.base.Template, Locale: pl.base.Locale,
		Status: StatusSkipped, Reason: reason, At: pl.now})
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
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Message{}, fmt.Errorf("notify: render template %q: %w: %w", n.Template, err, ErrNotQueued)
		}
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
