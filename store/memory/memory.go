package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/idmap"
)

// Config configures a Store. The zero value is usable.
type Config struct {
	// MaxNotifications bounds how many notifications the log keeps; past it
	// the oldest whose deliveries are all final is dropped with all its
	// deliveries. Notifications with a live delivery are kept even past
	// it. Default 100,000.
	MaxNotifications int
	// Retention drops a notification from the log once its first event is
	// older than this and its deliveries are all final. Zero keeps
	// notifications until MaxNotifications pushes them out.
	Retention time.Duration
}

// Store is an in-memory notify.Store. Build one with New. It is safe for
// concurrent use.
type Store struct {
	maxNotifications int
	retention        time.Duration

	mu       sync.RWMutex // contacts and preferences
	contacts map[string]notify.Contact
	owners   map[deviceKey]string             // who holds each device token
	prefs    map[string]map[prefKey]prefValue // by user

	logMu sync.RWMutex
	// deliveries and notifs are keyed by their IDs' hashes: growing them
	// never reads the IDs (see idmap).
	deliveries *idmap.Map[*delivery]
	notifs     *idmap.Map[*notification]
	// order lists notifications oldest first; order[head:] are held.
	order []*notification
	head  int
	// pinned counts the notifications evict took out of order because a
	// delivery of theirs was live; unpinned lists those whose last live
	// delivery became final since, for evict to decide.
	pinned   int
	unpinned []*notification
	// spare holds notifications drop forgot, for deliveryOf to use again:
	// once the log is full, every new notification takes the place of an
	// evicted one, without an allocation. Nothing outside logMu keeps a
	// pointer into the log, so a forgotten notification is unreachable.
	spare []*notification
}

// maxSpare bounds Store.spare: an eviction frees one notification for the
// next new one, so a few are enough; a burst of drops beyond that (many
// notifications past Retention at once) is left to the garbage collector.
const maxSpare = 64

var (
	_ notify.Store            = (*Store)(nil)
	_ notify.OnceRecorder     = (*Store)(nil)
	_ notify.DeviceRegistry   = (*Store)(nil)
	_ notify.PreferenceLister = (*Store)(nil)
)

type prefKey struct{ category, channel string }

type prefValue struct {
	allowed bool
	updated time.Time
}

type notification struct {
	id    string
	h     uint64    // id's hash in Store.notifs, kept for drop
	first time.Time // when its first event was recorded; zero without retention
	live  int       // deliveries whose status is not final
	// pinned: taken out of order while live, to be put back when final.
	pinned bool
	last   *delivery // the last of the list that starts at firstDel
	// firstDel is the first delivery's record, in the same allocation.
	firstDel delivery
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
		owners:           make(map[deviceKey]string),
		prefs:            make(map[string]map[prefKey]prefValue),
		deliveries:       idmap.New(func(d *delivery) string { return d.hdr.deliveryID }, 0),
		notifs:           idmap.New(func(n *notification) string { return n.id }, 0),
	}
}

func cloneContact(c notify.Contact) notify.Contact {
	c.Devices = slices.Clone(c.Devices)
	if c.QuietHours != nil {
		q := *c.QuietHours
		c.QuietHours = &q
	}
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

// PutContact stores a copy of c, replacing the user's contact. A device
// token c lists twice is kept once, in its first place; a token another
// user holds is taken from them (see notify.DeviceRegistry).
func (s *Store) PutContact(_ context.Context, c notify.Contact) error {
	if c.UserID == "" {
		return fmt.Errorf("store/memory: put contact: empty UserID; give the contact its user's ID")
	}
	seen := make(map[deviceKey]bool, len(c.Devices))
	devs := make([]notify.Device, 0, len(c.Devices))
	for _, d := range c.Devices {
		k := deviceKey{d.Platform, d.Token}
		if !seen[k] {
			seen[k] = true
			devs = append(devs, d)
		}
	}
	c.Devices = devs
	if c.QuietHours != nil {
		q := *c.QuietHours
		c.QuietHours = &q
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.contacts[c.UserID].Devices {
		delete(s.owners, deviceKey{d.Platform, d.Token})
	}
	for _, d := range c.Devices {
		s.takeToken(c.UserID, deviceKey{d.Platform, d.Token})
	}
	s.contacts[c.UserID] = c
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
		before := len(c.Devices)
		c.Devices = slices.DeleteFunc(slices.Clone(c.Devices), func(d notify.Device) bool {
			return d.Platform == channel && d.Token == address &&
				(registeredBefore.IsZero() || d.RegisteredAt.Before(registeredBefore))
		})
		if len(c.Devices) < before {
			delete(s.owners, deviceKey{channel, address})
		}
	}
	s.contacts[userID] = c
	return nil
}

// Consent returns what the user's settings say about category on channel,
// by the precedence of notify.Consent: at most four map lookups.
func (s *Store) Consent(_ context.Context, userID, category, channel string) (notify.Consent, error) {
	var match [4]notify.Preference
	n := 0
	s.mu.RLock()
	if up := s.prefs[userID]; up != nil {
		for _, cat := range [2]string{category, notify.AllCategories} {
			for _, ch := range [2]string{channel, notify.AllChannels} {
				if v, ok := up[prefKey{cat, ch}]; ok {
					match[n] = notify.Preference{Category: cat, Channel: ch, Allowed: v.allowed}
					n++
				}
			}
		}
	}
	s.mu.RUnlock()
	return notify.ConsentOf(match[:n], category, channel), nil
}

// ListPreferences returns every setting the user has, by category and
// then channel (notify.PreferenceLister).
func (s *Store) ListPreferences(_ context.Context, userID string) ([]notify.Preference, error) {
	s.mu.RLock()
	up := s.prefs[userID]
	ps := make([]notify.Preference, 0, len(up))
	for k, v := range up {
		ps = append(ps, notify.Preference{Category: k.category, Channel: k.channel, Allowed: v.allowed, Updated: v.updated})
	}
	s.mu.RUnlock()
	slices.SortFunc(ps, func(a, b notify.Preference) int {
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.Channel, b.Channel)
	})
	return ps, nil
}

// SetPreference allows or opts the user out of category on channel
// (either may be the wildcard "*"), replacing what that setting was.
func (s *Store) SetPreference(_ context.Context, userID, category, channel string, allowed bool) error {
	now := time.Now()
	s.mu.Lock()
	up := s.prefs[userID]
	if up == nil {
		up = make(map[prefKey]prefValue)
		s.prefs[userID] = up
	}
	up[prefKey{category, channel}] = prefValue{allowed: allowed, updated: now}
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
	now := s.now()
	s.logMu.Lock()
	defer s.logMu.Unlock()
	// A Send records its notification's deliveries together, and a
	// delivery's events come together too: look each up once.
	var d *delivery
	for i := range events {
		e := &events[i]
		if d == nil || e.DeliveryID != d.hdr.deliveryID {
			var n *notification
			if d != nil && e.NotificationID == d.n.id {
				n = d.n
			}
			d = s.deliveryOf(e, n, now)
		}
		s.append(d, e)
	}
	s.evict(now)
	return nil
}

// deliveryOf returns e's delivery, creating it when new, in n when n is
// not nil (n is e's notification then) and otherwise in e's notification,
// creating that too when new. s.logMu is held.
func (s *Store) deliveryOf(e *notify.Event, n *notification, now time.Time) *delivery {
	dh := s.deliveries.Hash(e.DeliveryID)
	if d, ok := s.deliveries.GetAt(dh, e.DeliveryID); ok {
		return d
	}
	var d *delivery
	if n == nil {
		nh := s.notifs.Hash(e.NotificationID)
		n, _ = s.notifs.GetAt(nh, e.NotificationID)
		if n == nil {
			n = s.newNotification()
			n.id, n.h, n.first = e.NotificationID, nh, now
			s.notifs.PutAt(nh, n)
			s.pushNotification(n)
			d = &n.firstDel
		}
	}
	if d == nil {
		d = &delivery{}
		n.last.next = d
	}
	n.last = d
	d.n = n
	d.h = dh
	d.hdr = header{deliveryID: e.DeliveryID, userID: e.UserID, category: e.Category, channel: e.Channel,
		address: e.Address, template: e.Template, locale: e.Locale}
	s.deliveries.PutAt(dh, d)
	return d
}

// append records e in d and keeps d's notification's live count. s.logMu
// is held.
func (s *Store) append(d *delivery, e *notify.Event) {
	wasLive := d.count > 0 && !d.state.Status.Final()
	d.add(e)
	d.state.Apply(*e)
	switch isLive := !d.state.Status.Final(); {
	case isLive && !wasLive:
		d.n.live++
	case wasLive && !isLive:
		d.n.live--
		if n := d.n; n.live == 0 && n.pinned {
			n.pinned = false
			s.pinned--
			s.unpinned = append(s.unpinned, n)
		}
	}
}

// RecordOnce records ev unless an event for ev.DeliveryID was recorded
// under key before, and reports whether it recorded. then, when not nil
// and ev is new, runs first, under the log's lock (so an identical
// RecordOnce waits for it): when it returns an error nothing is recorded.
// then may change s's contacts and preferences but must not call its log
// methods.
func (s *Store) RecordOnce(ctx context.Context, ev notify.Event, key string, then func(context.Context, notify.Store) error) (bool, error) {
	if ev.DeliveryID == "" {
		return false, fmt.Errorf("store/memory: record once: the event has an empty DeliveryID")
	}
	if key == "" {
		return false, fmt.Errorf("store/memory: record once: empty key; give each distinct event its own key")
	}
	now := s.now()
	s.logMu.Lock()
	defer s.logMu.Unlock()
	d, _ := s.deliveries.Get(ev.DeliveryID)
	if d != nil && d.x != nil {
		if _, ok := d.x.keys[key]; ok {
			return false, nil
		}
	}
	if then != nil {
		if err := then(ctx, s); err != nil {
			return false, err
		}
	}
	if d == nil {
		d = s.deliveryOf(&ev, nil, now)
	}
	s.append(d, &ev)
	if d.x == nil {
		d.x = &extra{}
	}
	if d.x.keys == nil {
		d.x.keys = make(map[string]struct{}, 1)
	}
	d.x.keys[key] = struct{}{}
	s.evict(now)
	return true, nil
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

// evict drops the oldest notifications whose deliveries are all final while
// the log holds more than MaxNotifications or they are older than
// Retention. One that has a live delivery when its turn comes is taken out
// of order (pinned) and kept; when its deliveries are all final it is
// dropped at once if the log is still too full or it is past Retention,
// and otherwise goes to the back of the order. Each notification is looked
// at once per turn, so a Record does constant work on average. s.logMu is
// held.
func (s *Store) evict(now time.Time) {
	for i, n := range s.unpinned {
		s.unpinned[i] = nil
		switch {
		case n.live > 0: // live again (replayed) in the same Record
			n.pinned = true
			s.pinned++
		case s.held()+len(s.unpinned)-i > s.maxNotifications || s.expired(n, now):
			s.drop(n)
		default:
			s.pushNotification(n)
		}
	}
	s.unpinned = s.unpinned[:0]
	for s.head < len(s.order) {
		n := s.order[s.head]
		if s.held() <= s.maxNotifications && !s.expired(n, now) {
			return
		}
		s.order[s.head] = nil
		s.head++
		if n.live > 0 {
			n.pinned = true
			s.pinned++
		} else {
			s.drop(n)
		}
	}
	s.order, s.head = s.order[:0], 0
}

// held counts the notifications in order or pinned. s.logMu is held.
func (s *Store) held() int { return len(s.order) - s.head + s.pinned }

// now is the time retention is measured by (Config.Retention): zero when
// there is none, as nothing reads it then, sparing Record a clock read.
func (s *Store) now() time.Time {
	if s.retention <= 0 {
		return time.Time{}
	}
	return time.Now()
}

func (s *Store) expired(n *notification, now time.Time) bool {
	return s.retention > 0 && now.Sub(n.first) >= s.retention
}

// drop forgets n and its deliveries, and keeps n as a spare. s.logMu is
// held.
func (s *Store) drop(n *notification) {
	for d := &n.firstDel; d != nil; d = d.next {
		s.deliveries.DeleteAt(d.h, d.hdr.deliveryID)
	}
	s.notifs.DeleteAt(n.h, n.id)
	if len(s.spare) < maxSpare {
		s.spare = append(s.spare, n)
	}
}

// newNotification returns an empty notification: a spare one when there
// is one, cleared, or a new one. s.logMu is held.
func (s *Store) newNotification() *notification {
	k := len(s.spare) - 1
	if k < 0 {
		return new(notification)
	}
	n := s.spare[k]
	s.spare[k] = nil
	s.spare = s.spare[:k]
	*n = notification{}
	return n
}

// State returns where the delivery stands, or an error wrapping
// notify.ErrNotFound. It allocates nothing on success.
func (s *Store) State(_ context.Context, deliveryID string) (notify.DeliveryState, error) {
	s.logMu.RLock()
	d, _ := s.deliveries.Get(deliveryID)
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
func (s *Store) Delivery(_ context.Context, deliveryID string) (notify.DeliveryRecord, error) {
	s.logMu.RLock()
	d, _ := s.deliveries.Get(deliveryID)
	var events []notify.Event
	if d != nil {
		events = d.events()
	}
	s.logMu.RUnlock()
	if d == nil {
		return notify.DeliveryRecord{}, fmt.Errorf("store/memory: delivery %q: %w", deliveryID, notify.ErrNotFound)
	}
	return notify.NewDeliveryRecord(events), nil
}

// Deliveries returns the log of every delivery of the notification, in the
// order they were first recorded, or an error wrapping notify.ErrNotFound
// when none was.
func (s *Store) Deliveries(_ context.Context, notificationID string) ([]notify.DeliveryRecord, error) {
	s.logMu.RLock()
	n, _ := s.notifs.Get(notificationID)
	var all [][]notify.Event
	if n != nil {
		for d := &n.firstDel; d != nil; d = d.next {
			all = append(all, d.events())
		}
	}
	s.logMu.RUnlock()
	if n == nil {
		return nil, fmt.Errorf("store/memory: deliveries of notification %q: %w", notificationID, notify.ErrNotFound)
	}
	out := make([]notify.DeliveryRecord, len(all))
	for i, events := range all {
		out[i] = notify.NewDeliveryRecord(events)
	}
	return out, nil
}
