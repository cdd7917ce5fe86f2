package memory

import (
	"time"

	"github.com/gonotify/notify"
)

// delivery is one delivery's log. Every event of a delivery normally
// shares its first event's DeliveryID, NotificationID, UserID, Category,
// Channel, Address, Template and Locale: those are kept once, in hdr (the
// notification ID in n), and each event keeps only what varies (see
// event); Delivery and the other reads rebuild the notify.Events.
type delivery struct {
	n     *notification
	next  *delivery // the notification's next delivery, in the order first recorded
	h     uint64    // hdr.deliveryID's hash in Store.deliveries, kept for drop
	hdr   header
	state notify.DeliveryState
	// inline holds the first events (queued, sent: the usual whole log) in
	// the delivery's own allocation; x.more holds the others.
	inline [2]event
	count  int // how many events
	x      *extra
}

// header is the fields of a delivery's first event that its other events
// share, but for the NotificationID, which is its notification's id.
type header struct {
	deliveryID, userID, category, channel, address, template, locale string
}

// event is one event of a delivery without the fields in its header.
type event struct {
	at         time.Time
	reason     string
	providerID string
	attempt    int32
	// status is the event's Status as a statusCode; 0 marks an event that
	// does not fit this form (its status is not one of statuses, its
	// Attempt does not fit an int32, or it differs from the delivery's
	// header): delivery.x.odd holds it whole.
	status    uint8
	maybeSent bool
}

// extra is what few deliveries need, kept apart to keep delivery small.
type extra struct {
	more []event              // events past inline
	odd  map[int]notify.Event // events kept whole, by index (see event.status)
	keys map[string]struct{}  // the keys RecordOnce recorded events under
}

// statuses are the notify.Status values an event's status code stands
// for: code i+1 is statuses[i].
var statuses = [...]notify.Status{
	notify.StatusQueued, notify.StatusSent, notify.StatusRetrying, notify.StatusDeferred, notify.StatusFailed,
	notify.StatusDead, notify.StatusSkipped, notify.StatusExpired, notify.StatusInvalid, notify.StatusOptedOut,
	notify.StatusConfig, notify.StatusReplayed, notify.StatusCanceled, notify.StatusOpened, notify.StatusClicked,
	notify.StatusComplained, notify.StatusConverted, notify.StatusDelivered, notify.StatusUndelivered,
}

// statusCode is st's index in statuses plus one, or 0 when it is not there.
func statusCode(st notify.Status) uint8 {
	switch st {
	case notify.StatusQueued:
		return 1
	case notify.StatusSent:
		return 2
	case notify.StatusRetrying:
		return 3
	case notify.StatusDeferred:
		return 4
	case notify.StatusFailed:
		return 5
	case notify.StatusDead:
		return 6
	case notify.StatusSkipped:
		return 7
	case notify.StatusExpired:
		return 8
	case notify.StatusInvalid:
		return 9
	case notify.StatusOptedOut:
		return 10
	case notify.StatusConfig:
		return 11
	case notify.StatusReplayed:
		return 12
	case notify.StatusCanceled:
		return 13
	case notify.StatusOpened:
		return 14
	case notify.StatusClicked:
		return 15
	case notify.StatusComplained:
		return 16
	case notify.StatusConverted:
		return 17
	case notify.StatusDelivered:
		return 18
	case notify.StatusUndelivered:
		return 19
	}
	return 0
}

// matches reports whether e carries d's header and notification ID.
func (d *delivery) matches(e *notify.Event) bool {
	h := &d.hdr
	return e.NotificationID == d.n.id && e.UserID == h.userID && e.Category == h.category &&
		e.Channel == h.channel && e.Address == h.address && e.Template == h.template && e.Locale == h.locale
}

// slot returns where d's event i is kept.
func (d *delivery) slot(i int) *event {
	if i < len(d.inline) {
		return &d.inline[i]
	}
	return &d.x.more[i-len(d.inline)]
}

// add appends e to d's events.
func (d *delivery) add(e *notify.Event) {
	c := event{at: e.At, reason: e.Reason, providerID: e.ProviderID, attempt: int32(e.Attempt),
		status: statusCode(e.Status), maybeSent: e.MaybeSent}
	if int(c.attempt) != e.Attempt || (d.count > 0 && !d.matches(e)) {
		c.status = 0
	}
	if c.status == 0 {
		if d.x == nil {
			d.x = &extra{}
		}
		if d.x.odd == nil {
			d.x.odd = make(map[int]notify.Event, 1)
		}
		d.x.odd[d.count] = *e
	}
	if d.count < len(d.inline) {
		d.inline[d.count] = c
	} else {
		if d.x == nil {
			d.x = &extra{}
		}
		d.x.more = append(d.x.more, c)
	}
	d.count++
}

// event rebuilds d's event i.
func (d *delivery) event(i int) notify.Event {
	c := d.slot(i)
	if c.status == 0 {
		return d.x.odd[i]
	}
	h := &d.hdr
	return notify.Event{
		DeliveryID: h.deliveryID, NotificationID: d.n.id, UserID: h.userID, Category: h.category,
		Channel: h.channel, Address: h.address, Template: h.template, Locale: h.locale,
		Status: statuses[c.status-1], Reason: c.reason, Attempt: int(c.attempt), ProviderID: c.providerID,
		MaybeSent: c.maybeSent, At: c.at,
	}
}

// events rebuilds d's events.
func (d *delivery) events() []notify.Event {
	out := make([]notify.Event, d.count)
	for i := range out {
		out[i] = d.event(i)
	}
	return out
}
