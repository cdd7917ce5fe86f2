// Package memory is a notify.Store (contacts, preferences and the
// notification log) held in the process's memory, for one process and for
// tests.
//
// Guarantees:
//   - Safe for concurrent use. Events for one delivery are kept in the order
//     they were recorded; concurrent Records lose nothing.
//   - State is kept with notify.DeliveryState.Apply as events arrive, so the
//     hot-path read (State) is a map lookup that allocates nothing.
//   - Contacts are copied in and out: changing a Contact after PutContact,
//     or one returned by Contact, does not change the stored one.
//   - The log is bounded: at most Config.MaxNotifications notifications are
//     kept, and (when Config.Retention is set) none older than Retention; the
//     oldest go first.
//
// Limits:
//   - Nothing survives the process. Use store/postgres to keep the log.
//   - A notification evicted from the log while its deliveries are still
//     being retried loses its history: State then returns ErrNotFound. Keep
//     MaxNotifications and Retention well above what is in flight (Retention
//     above the retry policy's MaxAge).
//   - Contacts and preferences are not bounded; they grow with the users.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// Config configures a Store. The zero value is usable.
type Config struct {
	// MaxNotifications bounds how many notifications the log keeps; past it
	// the oldest is dropped with all its deliveries. Default 100,000.
	MaxNotifications int
	// Retention drops a notification from the log once its first event is
	// older than this. Zero keeps notifications until MaxNotifications
	// pushes them out.
	Retention time.Duration
}

// Store is an in-memory notify.Store. Build one with New. It is safe for
// concurrent use.
type Store struct {
	maxNotifications int
	retention        time.Duration

	mu       sync.RWMutex // contacts and preferences
	contacts map[string]notify.Contact
	optOuts  map[prefKey]struct{}

	logMu      sync.RWMutex
	deliveries map[string]*delivery
	notifs     map[string]*notification
	// order lists notifications oldest first; order[head:] are held.
	order []*notification
	head  int
}

var _ notify.Store = (*Store)(nil)

type prefKey struct{ user, category, channel string }

type delivery struct {
	state  notify.DeliveryState
	events []notify.Event
	// inline holds the first events (queued, sent: the usual whole log) in
	// the delivery's own allocation.
	inline [2]notify.Event
}

type notification struct {
	id         string
	first      time.Time // when its first event was recorded
	deliveries []*delivery
	inline     [1]*delivery // the usual single delivery, in the same allocation
}

// New returns an empty Store.
func New(cfg Config) *Store {
	if cfg.MaxNotifications <= 0 {
		cfg.MaxNotifications = 100_000
	}
	return &Store{
		maxNotifications: cfg.MaxNotifications,
		retention:        cfg.Retention,
		contacts:         make(map[string]notify.Contact),
		optOuts:          make(map[prefKey]struct{}),
		deliveries:       make(map[string]*delivery),
		notifs:           make(map[string]*notification),
	}
}

func cloneContact(c notify.Contact) notify.Contact {
	c.Devices = slices.Clone(c.Devices)
	return c
}

// Contact returns a copy of the user's contact, or an error wrapping
// notify.ErrNotFound.
func (s *Store) Contact(_ context.Context, userID string) (notify.Contact, error) {
	s.mu.RLock()
	c, ok := s.contacts[userID]
	s.mu.RUnlock()
	if !ok {
		return notify.Contact{}, fmt.Errorf("store/memory: contact %q: %w", userID, notify.ErrNotFound)
	}
	return cloneContact(c), nil
}

// PutContact stores a copy of c, replacing the user's contact.
func (s *Store) PutContact(_ context.Context, c notify.Contact) error {
	if c.UserID == "" {
		return fmt.Errorf("store/memory: put contact: empty UserID; give the contact its user's ID")
	}
	c = cloneContact(c)
	s.mu.Lock()
	s.contacts[c.UserID] = c
	s.mu.Unlock()
	return nil
}

// RemoveAddress removes address from the user's contact on channel: the
// phone for "sms", the email for "email", otherwise a device of that
// platform with that token, and only if it was registered before
// registeredBefore (a zero time removes it whatever its registration). An
// unknown user or address is not an error.
func (s *Store) RemoveAddress(_ context.Context, userID, channel, address string, registeredBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[userID]
	if !ok {
		return nil
	}
	switch channel {
	case notify.ChannelSMS:
		if c.Phone == address {
			c.Phone = ""
		}
	case notify.ChannelEmail:
		if c.Email == address {
			c.Email = ""
		}
	default:
		// c.Devices is the store's own slice: build a new one so that copies
		// handed out earlier are not changed under their holders.
		c.Devices = slices.DeleteFunc(slices.Clone(c.Devices), func(d notify.Device) bool {
			return d.Platform == channel && d.Token == address &&
				(registeredBefore.IsZero() || d.RegisteredAt.Before(registeredBefore))
		})
	}
	s.contacts[userID] = c
	return nil
}

// Allowed reports whether the user allows category on channel; everything
// is allowed until SetPreference says otherwise.
func (s *Store) Allowed(_ context.Context, userID, category, channel string) (bool, error) {
	s.mu.RLock()
	_, out := s.optOuts[prefKey{userID, category, channel}]
	s.mu.RUnlock()
	return !out, nil
}

// SetPreference allows or opts the user out of category on channel.
func (s *Store) SetPreference(_ context.Context, userID, category, channel string, allowed bool) error {
	k := prefKey{userID, category, channel}
	s.mu.Lock()
	if allowed {
		delete(s.optOuts, k)
	} else {
		s.optOuts[k] = struct{}{}
	}
	s.mu.Unlock()
	return nil
}

// Record appends events to their deliveries' logs, in order, and folds each
// into its delivery's state with notify.DeliveryState.Apply. An event with
// an empty DeliveryID is an error, and then nothing is recorded.
func (s *Store) Record(_ context.Context, events ...notify.Event) error {
	for i := range events {
		if events[i].DeliveryID == "" {
			return fmt.Errorf("store/memory: record: event %d has an empty DeliveryID", i)
		}
	}
	now := time.Now()
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for i := range events {
		e := &events[i]
		d := s.deliveries[e.DeliveryID]
		if d == nil {
			d = new(delivery)
			d.events = d.inline[:0]
			s.deliveries[e.DeliveryID] = d
			n := s.notifs[e.NotificationID]
			if n == nil {
				n = &notification{id: e.NotificationID, first: now}
				n.deliveries = n.inline[:0]
				s.notifs[e.NotificationID] = n
				s.pushNotification(n)
			}
			n.deliveries = append(n.deliveries, d)
		}
		d.events = append(d.events, *e)
		d.state.Apply(*e)
	}
	s.evict(now)
	return nil
}

// pushNotification appends n to order. s.logMu is held.
func (s *Store) pushNotification(n *notification) {
	if len(s.order) == cap(s.order) && s.head > 0 {
		k := copy(s.order, s.order[s.head:])
		clear(s.order[k:])
		s.order, s.head = s.order[:k], 0
	}
	s.order = append(s.order, n)
}

// evict drops the oldest notifications past MaxNotifications or Retention.
// s.logMu is held.
func (s *Store) evict(now time.Time) {
	for s.head < len(s.order) {
		n := s.order[s.head]
		if len(s.order)-s.head <= s.maxNotifications &&
			(s.retention <= 0 || now.Sub(n.first) < s.retention) {
			return
		}
		for _, d := range n.deliveries {
			if len(d.events) > 0 {
				delete(s.deliveries, d.events[0].DeliveryID)
			}
		}
		delete(s.notifs, n.id)
		s.order[s.head] = nil
		s.head++
	}
	s.order, s.head = s.order[:0], 0
}

// State returns where the delivery stands, or an error wrapping
// notify.ErrNotFound. It allocates nothing on success.
func (s *Store) State(_ context.Context, deliveryID string) (notify.DeliveryState, error) {
	s.logMu.RLock()
	d := s.deliveries[deliveryID]
	var st notify.DeliveryState
	if d != nil {
		st = d.state
	}
	s.logMu.RUnlock()
	if d == nil {
		return st, fmt.Errorf("store/memory: state of delivery %q: %w", deliveryID, notify.ErrNotFound)
	}
	return st, nil
}

// Delivery returns the delivery's log, its events copied, or an error
// wrapping notify.ErrNotFound.
func (s *Store) Delivery(_ context.Context, deliveryID string) (notify.DeliveryStatus, error) {
	s.logMu.RLock()
	d := s.deliveries[deliveryID]
	var events []notify.Event
	if d != nil {
		events = slices.Clone(d.events)
	}
	s.logMu.RUnlock()
	if d == nil {
		return notify.DeliveryStatus{}, fmt.Errorf("store/memory: delivery %q: %w", deliveryID, notify.ErrNotFound)
	}
	return notify.NewDeliveryStatus(events), nil
}

// Deliveries returns the log of every delivery of the notification, in the
// order they were first recorded, or an error wrapping notify.ErrNotFound
// when none was.
func (s *Store) Deliveries(_ context.Context, notificationID string) ([]notify.DeliveryStatus, error) {
	s.logMu.RLock()
	n := s.notifs[notificationID]
	var all [][]notify.Event
	if n != nil {
		all = make([][]notify.Event, len(n.deliveries))
		for i, d := range n.deliveries {
			all[i] = slices.Clone(d.events)
		}
	}
	s.logMu.RUnlock()
	if n == nil {
		return nil, fmt.Errorf("store/memory: deliveries of notification %q: %w", notificationID, notify.ErrNotFound)
	}
	out := make([]notify.DeliveryStatus, len(all))
	for i, events := range all {
		out[i] = notify.NewDeliveryStatus(events)
	}
	return out, nil
}
