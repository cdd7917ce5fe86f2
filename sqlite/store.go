package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var (
	_ notify.Store        = (*Store)(nil)
	_ notify.OnceRecorder = (*Store)(nil)
	_ notify.Pruner       = (*Store)(nil)

	_ notify.PreferenceLister = (*Store)(nil)
)

// Store is a notify.Store in a SQLite file, a Backend's (Backend.Store):
// contacts (with their devices), preferences (user x category x channel)
// and the notification log (one row per event, indexed by delivery and by
// notification). Reads run on the Backend's read connections, writes on
// its write connection, shared with concurrent writes (group commit). It
// is safe for concurrent use.
type Store struct {
	b  *Backend
	bt *boundTx
}

func (s *Store) backend() *Backend { return s.b }

func (s *Store) withTx(bt *boundTx) *Store { return &Store{b: s.b, bt: bt} }

// eventCols are log_events' columns that an event sets.
const eventCols = `delivery_id, notification_id, user_id, category, channel, address, status, reason, attempt, provider_id, maybe_sent, at, template, locale`

const (
	sqlContact    = `SELECT phone, email, locale, time_zone, quiet_start, quiet_end FROM contacts WHERE user_id = ?`
	sqlDevices    = `SELECT platform, token, registered_at, app, locale, last_seen FROM contact_devices WHERE user_id = ? ORDER BY position`
	sqlPutContact = `INSERT INTO contacts (user_id, phone, email, locale, time_zone, quiet_start, quiet_end, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, email = excluded.email,
			locale = excluded.locale, time_zone = excluded.time_zone,
			quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, updated_at = excluded.updated_at`
	sqlDeleteDevices = `DELETE FROM contact_devices WHERE user_id = ?`
	// A token another user holds moves to this one (the unique index
	// contact_devices_token).
	sqlPutDevice = `INSERT INTO contact_devices (user_id, position, platform, token, registered_at, app, locale, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (platform, token) DO UPDATE SET user_id = excluded.user_id, position = excluded.position,
			registered_at = excluded.registered_at, app = excluded.app, locale = excluded.locale, last_seen = excluded.last_seen`
	sqlRemovePhone  = `UPDATE contacts SET phone = '', updated_at = ? WHERE user_id = ? AND phone = ?`
	sqlRemoveEmail  = `UPDATE contacts SET email = '', updated_at = ? WHERE user_id = ? AND email = ?`
	sqlRemoveDevice = `DELETE FROM contact_devices WHERE user_id = ?1 AND platform = ?2 AND token = ?3
		AND (?4 IS NULL OR registered_at IS NULL OR registered_at < ?4)`
	// The (at most four) settings that match; notify.ConsentOf picks the
	// one that decides.
	sqlConsent = `SELECT category, channel, allowed FROM preferences
		WHERE user_id = ? AND category IN (?, '` + notify.AllCategories + `') AND channel IN (?, '` + notify.AllChannels + `')`
	sqlSetPreference = `INSERT INTO preferences (user_id, category, channel, allowed, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, category, channel) DO UPDATE SET allowed = excluded.allowed, updated_at = excluded.updated_at`
	sqlListPreferences = `SELECT category, channel, allowed, updated_at FROM preferences
		WHERE user_id = ? ORDER BY category, channel`
	sqlInsertEvent = `INSERT INTO log_events (` + eventCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlRecordOnce  = `INSERT INTO log_events (` + eventCols + `, report_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (delivery_id, report_key) WHERE report_key IS NOT NULL DO NOTHING`
	sqlStatuses   = `SELECT status FROM log_events WHERE delivery_id = ? ORDER BY seq`
	sqlDelivery   = `SELECT ` + eventCols + ` FROM log_events WHERE delivery_id = ? ORDER BY seq`
	sqlDeliveries = `SELECT ` + eventCols + ` FROM log_events
		WHERE delivery_id IN (SELECT delivery_id FROM log_events WHERE notification_id = ?) ORDER BY seq`
	sqlPruneLog = `DELETE FROM log_events WHERE seq IN (SELECT seq FROM log_events WHERE at < ? LIMIT ?)`
)

// Contact returns the user's contact with its devices in the order they
// were put, or notify.ErrNotFound.
func (s *Store) Contact(ctx context.Context, userID string) (notify.Contact, error) {
	c := notify.Contact{UserID: userID}
	db := s.b.reader(s.bt)
	var quietStart, quietEnd *int16
	err := db.QueryRowContext(ctx, sqlContact, userID).Scan(&c.Phone, &c.Email, &c.Locale, &c.TimeZone, &quietStart, &quietEnd)
	if errors.Is(err, sql.ErrNoRows) {
		return notify.Contact{}, fmt.Errorf("sqlite: contact of user %s: %w", userID, notify.ErrNotFound)
	}
	if err != nil {
		return notify.Contact{}, fmt.Errorf("sqlite: contact of user %s: %w", userID, err)
	}
	c.QuietHours = sqlbackend.QuietHours(quietStart, quietEnd)
	rows, err := db.QueryContext(ctx, sqlDevices, userID)
	if err != nil {
		return notify.Contact{}, fmt.Errorf("sqlite: devices of user %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var dev notify.Device
		var reg, seen sql.NullInt64
		if err := rows.Scan(&dev.Platform, &dev.Token, &reg, &dev.App, &dev.Locale, &seen); err != nil {
			return notify.Contact{}, fmt.Errorf("sqlite: devices of user %s: %w", userID, err)
		}
		dev.RegisteredAt, dev.LastSeen = fromNanos(reg), fromNanos(seen)
		c.Devices = append(c.Devices, dev)
	}
	if err := rows.Err(); err != nil {
		return notify.Contact{}, fmt.Errorf("sqlite: devices of user %s: %w", userID, err)
	}
	return c, nil
}

// PutContact replaces the user's contact and devices, in one transaction.
// A device token c lists twice is kept once, in its first place; a token
// another user holds is taken from them (see notify.DeviceRegistry).
func (s *Store) PutContact(ctx context.Context, c notify.Contact) error {
	if c.UserID == "" {
		return errors.New("sqlite: put contact: UserID is empty")
	}
	quietStart, quietEnd := sqlbackend.QuietColumns(c.QuietHours)
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		if _, err := w.exec(ctx, sqlPutContact, c.UserID, c.Phone, c.Email, c.Locale, c.TimeZone, quietStart, quietEnd, time.Now().UnixNano()); err != nil {
			return err
		}
		if _, err := w.exec(ctx, sqlDeleteDevices, c.UserID); err != nil {
			return err
		}
		listed := make(map[[2]string]bool, len(c.Devices))
		for i, d := range c.Devices {
			k := [2]string{d.Platform, d.Token}
			if listed[k] {
				continue
			}
			listed[k] = true
			if _, err := w.exec(ctx, sqlPutDevice, c.UserID, i, d.Platform, d.Token, nanos(d.RegisteredAt), d.App, d.Locale, nanos(d.LastSeen)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: put contact of user %s: %w", c.UserID, err)
	}
	return nil
}

// RemoveAddress removes address from the user's contact: the phone number
// for "sms", the email address for "email", otherwise the device on that
// platform with that token, when it was registered before
// registeredBefore (or its registration time is unknown, or
// registeredBefore is zero). Removing an address the contact does not
// have is not an error.
func (s *Store) RemoveAddress(ctx context.Context, userID, channel, address string, registeredBefore time.Time) error {
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		var err error
		switch channel {
		case notify.ChannelSMS:
			_, err = w.exec(ctx, sqlRemovePhone, time.Now().UnixNano(), userID, address)
		case notify.ChannelEmail:
			_, err = w.exec(ctx, sqlRemoveEmail, time.Now().UnixNano(), userID, address)
		default:
			_, err = w.exec(ctx, sqlRemoveDevice, userID, channel, address, nanos(registeredBefore))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: remove %s address of user %s: %w", channel, userID, err)
	}
	return nil
}

// Consent returns what the user's settings say about category on channel
// (notify.Consent): one query reads the settings that match, and
// notify.ConsentOf picks the one that decides.
func (s *Store) Consent(ctx context.Context, userID, category, channel string) (notify.Consent, error) {
	ps, err := s.preferences(ctx, sqlConsent, userID, category, channel)
	if err != nil {
		return notify.ConsentUnset, fmt.Errorf("sqlite: preference of user %s for %s on %s: %w", userID, category, channel, err)
	}
	return notify.ConsentOf(ps, category, channel), nil
}

// ListPreferences returns every setting the user has, by category and
// then channel in byte order (notify.PreferenceLister). A setting stored
// before the package recorded times has a zero Updated.
func (s *Store) ListPreferences(ctx context.Context, userID string) ([]notify.Preference, error) {
	ps, err := s.preferences(ctx, sqlListPreferences, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list preferences of user %s: %w", userID, err)
	}
	return ps, nil
}

// preferences runs query, which selects category, channel, allowed and
// optionally updated_at, and returns its rows.
func (s *Store) preferences(ctx context.Context, query string, args ...any) ([]notify.Preference, error) {
	rows, err := s.b.reader(s.bt).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	ps := []notify.Preference{}
	for rows.Next() {
		var p notify.Preference
		var updated sql.NullInt64
		dest := []any{&p.Category, &p.Channel, &p.Allowed, &updated}
		if err := rows.Scan(dest[:len(cols)]...); err != nil {
			return nil, err
		}
		if updated.Int64 != 0 {
			p.Updated = fromNanos(updated)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// SetPreference stores whether the user allows category on channel
// (either may be the wildcard "*").
func (s *Store) SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error {
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		_, err := w.exec(ctx, sqlSetPreference, userID, category, channel, allowed, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set preference of user %s for %s on %s: %w", userID, category, channel, err)
	}
	return nil
}

// insertEvents appends events to the log in w's transaction, in order.
func insertEvents(ctx context.Context, w *wtx, events []notify.Event) error {
	for _, e := range events {
		if _, err := w.exec(ctx, sqlInsertEvent, e.DeliveryID, e.NotificationID, e.UserID, e.Category, e.Channel, e.Address,
			string(e.Status), e.Reason, e.Attempt, e.ProviderID, e.MaybeSent, nanos(e.At), e.Template, e.Locale); err != nil {
			return fmt.Errorf("insert event of delivery %s: %w", e.DeliveryID, err)
		}
	}
	return nil
}

// Record appends events to the log, in order, in one transaction shared
// with concurrent writes.
func (s *Store) Record(ctx context.Context, events ...notify.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := checkEvents(events); err != nil {
		return err
	}
	if s.bt == nil {
		// The writer may run the write after this call has returned (its
		// ctx ended): it gets its own copy, as Record keeps no argument.
		events = slices.Clone(events)
	}
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error { return insertEvents(ctx, w, events) })
	if err != nil {
		return fmt.Errorf("sqlite: record %d events: %w", len(events), err)
	}
	return nil
}

// RecordOnce records ev unless the log holds an event for ev.DeliveryID
// recorded under key (a unique index decides, and every write runs on the
// one write connection, so of concurrent calls exactly one records), and
// reports whether it recorded. then, when not nil and ev is new, runs in
// ev's transaction (a savepoint of it), on a Store whose writes go through
// it: when it returns an error ev and then's writes are undone, key is
// free again, and RecordOnce returns the error. then holds the write
// connection: keep it to a write or two (Feedback's is one), and do not
// use the Backend's values other than the Store it is given. Keys are kept
// as long as their event (see Prune).
func (s *Store) RecordOnce(ctx context.Context, ev notify.Event, key string, then func(context.Context, notify.Store) error) (bool, error) {
	if ev.DeliveryID == "" {
		return false, errors.New("sqlite: record once: the event's DeliveryID is empty")
	}
	if key == "" {
		return false, errors.New("sqlite: record once: empty key; give each distinct event its own key")
	}
	var recorded bool
	// Isolated: then is the caller's code, run once unless another write
	// of the transaction fails (then the batch runs again, and so does it).
	err := s.b.writeIsolated(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		recorded = false
		res, err := w.exec(ctx, sqlRecordOnce, ev.DeliveryID, ev.NotificationID, ev.UserID, ev.Category, ev.Channel, ev.Address,
			string(ev.Status), ev.Reason, ev.Attempt, ev.ProviderID, ev.MaybeSent, nanos(ev.At), ev.Template, ev.Locale, key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		if then != nil {
			if err := then(ctx, &Store{b: s.b, bt: &boundTx{tx: w.tx, w: w}}); err != nil {
				return err
			}
		}
		recorded = true
		return nil
	}, true)
	if err != nil {
		return false, fmt.Errorf("sqlite: record %s event of delivery %s once: %w", ev.Status, ev.DeliveryID, err)
	}
	return recorded, nil
}

// State returns where a delivery stands (its events folded with
// notify.DeliveryState.Apply), or notify.ErrNotFound.
func (s *Store) State(ctx context.Context, deliveryID string) (notify.DeliveryState, error) {
	rows, err := s.b.reader(s.bt).QueryContext(ctx, sqlStatuses, deliveryID)
	if err != nil {
		return notify.DeliveryState{}, fmt.Errorf("sqlite: state of delivery %s: %w", deliveryID, err)
	}
	defer rows.Close()
	var st notify.DeliveryState
	found := false
	for rows.Next() {
		var status string
		if err := rows.Scan(&status); err != nil {
			return notify.DeliveryState{}, fmt.Errorf("sqlite: state of delivery %s: %w", deliveryID, err)
		}
		found = true
		st.Apply(notify.Event{Status: notify.Status(status)})
	}
	if err := rows.Err(); err != nil {
		return notify.DeliveryState{}, fmt.Errorf("sqlite: state of delivery %s: %w", deliveryID, err)
	}
	if !found {
		return notify.DeliveryState{}, fmt.Errorf("sqlite: state of delivery %s: %w", deliveryID, notify.ErrNotFound)
	}
	return st, nil
}

func scanEvents(rows *sql.Rows) ([]notify.Event, error) {
	defer rows.Close()
	var out []notify.Event
	for rows.Next() {
		var e notify.Event
		var status string
		var at sql.NullInt64
		if err := rows.Scan(&e.DeliveryID, &e.NotificationID, &e.UserID, &e.Category, &e.Channel, &e.Address,
			&status, &e.Reason, &e.Attempt, &e.ProviderID, &e.MaybeSent, &at, &e.Template, &e.Locale); err != nil {
			return nil, err
		}
		e.Status, e.At = notify.Status(status), fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Delivery returns one delivery's log, or notify.ErrNotFound.
func (s *Store) Delivery(ctx context.Context, deliveryID string) (notify.DeliveryRecord, error) {
	rows, err := s.b.reader(s.bt).QueryContext(ctx, sqlDelivery, deliveryID)
	if err != nil {
		return notify.DeliveryRecord{}, fmt.Errorf("sqlite: log of delivery %s: %w", deliveryID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return notify.DeliveryRecord{}, fmt.Errorf("sqlite: log of delivery %s: %w", deliveryID, err)
	}
	if len(events) == 0 {
		return notify.DeliveryRecord{}, fmt.Errorf("sqlite: log of delivery %s: %w", deliveryID, notify.ErrNotFound)
	}
	return notify.NewDeliveryRecord(events), nil
}

// Deliveries returns the log of every delivery of a notification, in the
// order their first events were recorded, or notify.ErrNotFound.
func (s *Store) Deliveries(ctx context.Context, notificationID string) ([]notify.DeliveryRecord, error) {
	rows, err := s.b.reader(s.bt).QueryContext(ctx, sqlDeliveries, notificationID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: log of notification %s: %w", notificationID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: log of notification %s: %w", notificationID, err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("sqlite: log of notification %s: %w", notificationID, notify.ErrNotFound)
	}
	return notify.GroupRecords(events), nil
}

// Prune deletes log events older than Config.Retention, in transactions
// of up to 10,000 rows, and returns how many it deleted. Dispatcher.Run
// calls it every notify.Config.PruneEvery. A delivery still retried past
// Retention loses its oldest events; keep Retention well above
// RetryPolicy.MaxAge.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	if s.b.cfg.Retention < 0 {
		return 0, nil
	}
	return s.b.pruneRows(ctx, s.bt, "the log", sqlPruneLog, time.Now().Add(-s.b.cfg.Retention).UnixNano())
}
