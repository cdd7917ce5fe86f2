package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var _ notify.PreferenceLister = (*Store)(nil)

// Store is a notify.Store on PostgreSQL, a Backend's (Backend.Store):
// contacts (with their devices), preferences (user x category x channel)
// and the notification log (one row per event, indexed by delivery and by
// notification). It is safe for concurrent use, and many processes may
// share one schema.
type Store struct {
	core *storeCore
	db   dbtx // the pool, or a caller's transaction (Backend.Tx)
}

type storeCore struct {
	records batcher[*recordReq]
	states  batcher[*stateReq]

	pool  *pgxpool.Pool
	fresh []any // see freshPlans
	cfg   Config
	sql   storeSQL
}

type storeSQL struct {
	contact, putContact, deleteDevices, putDevices, removePhone, removeEmail, removeDevice string
	lockContact, takeToken, updateDevice, insertDevice, upsertDevice, pruneDevices         string
	consent, setPreference, listPreferences                                                string
	record, recordOnce, states, delivery, deliveries, userDeliveries, prune                string
	summarize, pruneIndex                                                                  string
}

// eventCols are log_events' columns that an event sets.
const eventCols = `delivery_id, notification_id, user_id, category, channel, address, status, reason, attempt, provider_id, maybe_sent, at, template, locale`

// insertEvents appends the events given as column arrays $1 to $14 (see
// eventArrays), in order. Queue's logged statements embed it in a CTE.
const insertEvents = insertEventsFrom + `
			ORDER BY ord`

// insertEventsFrom is insertEvents without its ORDER BY, for a statement
// that adds a WHERE on u's columns (cancelLogged).
const insertEventsFrom = `INSERT INTO {{schema}}.log_events (` + eventCols + `)
			SELECT ` + eventCols + ` FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::text[], $8::text[], $9::int4[], $10::text[], $11::bool[], $12::timestamptz[], $13::text[], $14::text[])
				WITH ORDINALITY AS u(` + eventCols + `, ord)`

// newStore returns the Store of cfg (with its defaults) on pool.
func newStore(pool *pgxpool.Pool, cfg Config) *Store {
	s := cfg.Schema
	c := &storeCore{pool: pool, fresh: freshPlans(pool), cfg: cfg, sql: storeSQL{
		contact: sqlFor(s, `SELECT c.phone, c.email, c.locale, c.time_zone, c.quiet_start, c.quiet_end,
				coalesce(array_agg(d.platform ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}'),
				coalesce(array_agg(d.token ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}'),
				coalesce(array_agg(d.registered_at ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}'),
				coalesce(array_agg(d.app ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}'),
				coalesce(array_agg(d.locale ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}'),
				coalesce(array_agg(d.last_seen ORDER BY d.position) FILTER (WHERE d.user_id IS NOT NULL), '{}')
			FROM {{schema}}.contacts c LEFT JOIN {{schema}}.contact_devices d ON d.user_id = c.user_id
			WHERE c.user_id = $1 GROUP BY c.user_id`),
		putContact: sqlFor(s, `INSERT INTO {{schema}}.contacts (user_id, phone, email, locale, time_zone, quiet_start, quiet_end, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, now())
			ON CONFLICT (user_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email,
				locale = EXCLUDED.locale, time_zone = EXCLUDED.time_zone,
				quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end, updated_at = now()`),
		deleteDevices: sqlFor(s, `DELETE FROM {{schema}}.contact_devices WHERE user_id = $1`),
		// A token another user holds moves to this one (the unique index
		// contact_devices_token; the caller lists each token once).
		putDevices: sqlFor(s, `INSERT INTO {{schema}}.contact_devices (user_id, position, platform, token, registered_at, app, locale, last_seen)
			SELECT $1, u.ord, u.platform, u.token, u.reg, u.app, u.locale, u.seen
			FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::timestamptz[])
				WITH ORDINALITY AS u(platform, token, reg, app, locale, seen, ord)
			ON CONFLICT (platform, token) DO UPDATE SET user_id = EXCLUDED.user_id, position = EXCLUDED.position,
				registered_at = EXCLUDED.registered_at, app = EXCLUDED.app, locale = EXCLUDED.locale, last_seen = EXCLUDED.last_seen`),
		// The registry's statements run in a transaction that first
		// creates or locks the user's contact row (lockContact), so that
		// one user's registrations run one at a time and take positions
		// that do not collide; PutContact's upsert of that row locks it
		// too.
		lockContact: sqlFor(s, `INSERT INTO {{schema}}.contacts (user_id, updated_at) VALUES ($1, now())
			ON CONFLICT (user_id) DO UPDATE SET updated_at = now()`),
		takeToken: sqlFor(s, `DELETE FROM {{schema}}.contact_devices WHERE platform = $2 AND token = $3 AND user_id <> $1 RETURNING user_id`),
		updateDevice: sqlFor(s, `UPDATE {{schema}}.contact_devices SET app = $4, locale = $5, registered_at = $6, last_seen = $7
			WHERE user_id = $1 AND platform = $2 AND token = $3`),
		insertDevice: sqlFor(s, `INSERT INTO {{schema}}.contact_devices (user_id, position, platform, token, app, locale, registered_at, last_seen)
			SELECT $1, coalesce(max(position), 0) + 1, $2, $3, $4, $5, $6, $7 FROM {{schema}}.contact_devices WHERE user_id = $1
			ON CONFLICT (platform, token) DO NOTHING`),
		// RefreshDevice's new token: at position $4 (the old token's, or
		// after the user's last), keeping App and Locale ($5, $6) unless
		// the user had the new token already; taken from any other owner.
		upsertDevice: sqlFor(s, `INSERT INTO {{schema}}.contact_devices (user_id, position, platform, token, app, locale, registered_at, last_seen)
			SELECT $1, coalesce($4::int4, max(position) + 1, 1), $2, $3, $5, $6, now(), now() FROM {{schema}}.contact_devices WHERE user_id = $1
			ON CONFLICT (platform, token) DO UPDATE SET user_id = EXCLUDED.user_id,
				position = CASE WHEN contact_devices.user_id = EXCLUDED.user_id AND $4::int4 IS NULL THEN contact_devices.position ELSE EXCLUDED.position END,
				app = CASE WHEN contact_devices.user_id = EXCLUDED.user_id AND $4::int4 IS NULL THEN contact_devices.app ELSE EXCLUDED.app END,
				locale = CASE WHEN contact_devices.user_id = EXCLUDED.user_id AND $4::int4 IS NULL THEN contact_devices.locale ELSE EXCLUDED.locale END,
				registered_at = now(), last_seen = now()`),
		pruneDevices: sqlFor(s, `DELETE FROM {{schema}}.contact_devices WHERE coalesce(last_seen, registered_at) < $1`),
		removePhone:  sqlFor(s, `UPDATE {{schema}}.contacts SET phone = '', updated_at = now() WHERE user_id = $1 AND phone = $2`),
		removeEmail:  sqlFor(s, `UPDATE {{schema}}.contacts SET email = '', updated_at = now() WHERE user_id = $1 AND email = $2`),
		removeDevice: sqlFor(s, `DELETE FROM {{schema}}.contact_devices
			WHERE user_id = $1 AND platform = $2 AND token = $3
			AND ($4::timestamptz IS NULL OR registered_at IS NULL OR registered_at < $4)`),
		// The (at most four) settings that match; notify.ConsentOf
		// picks the one that decides.
		consent: sqlFor(s, `SELECT category, channel, allowed FROM {{schema}}.preferences
			WHERE user_id = $1 AND category IN ($2, '`+notify.AllCategories+`') AND channel IN ($3, '`+notify.AllChannels+`')`),
		setPreference: sqlFor(s, `INSERT INTO {{schema}}.preferences (user_id, category, channel, allowed, updated_at) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (user_id, category, channel) DO UPDATE SET allowed = EXCLUDED.allowed, updated_at = EXCLUDED.updated_at`),
		listPreferences: sqlFor(s, `SELECT category, channel, allowed, updated_at FROM {{schema}}.preferences
			WHERE user_id = $1 ORDER BY category COLLATE "C", channel COLLATE "C"`),
		record: sqlFor(s, insertEvents),
		// The partial unique index on (delivery_id, report_key) makes a
		// concurrent insert of the same key wait for this one's
		// transaction and then do nothing.
		recordOnce: sqlFor(s, `INSERT INTO {{schema}}.log_events (`+eventCols+`, report_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (delivery_id, report_key) WHERE report_key IS NOT NULL DO NOTHING`),
		// States, Delivery and Deliveries read through functions of
		// migration 0008, whose planner settings keep them on the primary
		// key and log_events_notification whatever the log's statistics
		// say (a hash join over the whole log otherwise).
		states: sqlFor(s, `SELECT delivery_id, status FROM {{schema}}.log_states($1) WITH ORDINALITY AS s(delivery_id, status, ord)
			ORDER BY ord`),
		delivery:   sqlFor(s, `SELECT `+eventCols+` FROM {{schema}}.log_delivery($1) ORDER BY seq`),
		deliveries: sqlFor(s, `SELECT `+eventCols+` FROM {{schema}}.log_notification($1) ORDER BY seq`),
		// A user's deliveries (index log_events_user), newest first by
		// their first event, after the cursor ($2, $3), $4 of them; then
		// their events.
		userDeliveries: sqlFor(s, `WITH d AS MATERIALIZED (
				SELECT DISTINCT ON (delivery_id) delivery_id, at AS first_at FROM {{schema}}.log_events
				WHERE user_id = $1 ORDER BY delivery_id, seq),
			page AS MATERIALIZED (
				SELECT delivery_id FROM d WHERE $2::timestamptz IS NULL OR (first_at, delivery_id) < ($2, $3)
				ORDER BY first_at DESC, delivery_id DESC LIMIT $4),
			e AS MATERIALIZED (
				SELECT seq, `+eventCols+` FROM {{schema}}.log_events WHERE delivery_id IN (SELECT delivery_id FROM page))
			SELECT `+eventCols+` FROM e ORDER BY seq`),
		// A batch of the prune (migration 0008): old rows found through
		// the BRIN index log_events_at, summarized first.
		summarize:  `SELECT ` + pgx.Identifier{s}.Sanitize() + `.brin_summarize($1::regclass)`,
		prune:      sqlFor(s, `SELECT {{schema}}.log_prune($1, $2)`),
		pruneIndex: pgx.Identifier{s, "log_events_at"}.Sanitize(),
	}}
	c.records.run = c.runRecords
	c.states.run = c.runStates
	return &Store{core: c, db: pool}
}

// withTx returns a copy of s whose reads and writes go through tx.
func (s *Store) withTx(tx pgx.Tx) *Store { return &Store{core: s.core, db: tx} }

// Contact returns the user's contact with its devices in the order they were
// put, or ErrNotFound.
func (s *Store) Contact(ctx context.Context, userID string) (notify.Contact, error) {
	c := notify.Contact{UserID: userID}
	var platforms, tokens []string
	var apps, locales []string
	var regs, seen []pgtype.Timestamptz
	var quietStart, quietEnd *int16
	err := s.db.QueryRow(ctx, s.core.sql.contact, userID).Scan(&c.Phone, &c.Email, &c.Locale, &c.TimeZone, &quietStart, &quietEnd,
		&platforms, &tokens, &regs, &apps, &locales, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Contact{}, fmt.Errorf("postgres: contact of user %s: %w", userID, notify.ErrNotFound)
	}
	if err != nil {
		return notify.Contact{}, fmt.Errorf("postgres: contact of user %s: %w", userID, err)
	}
	c.QuietHours = sqlbackend.QuietHours(quietStart, quietEnd)
	for i := range platforms {
		dev := notify.Device{Platform: platforms[i], Token: tokens[i], App: apps[i], Locale: locales[i]}
		if regs[i].Valid {
			dev.RegisteredAt = regs[i].Time
		}
		if seen[i].Valid {
			dev.LastSeen = seen[i].Time
		}
		c.Devices = append(c.Devices, dev)
	}
	return c, nil
}

// PutContact replaces the user's contact and devices, in one transaction.
// A device token c lists twice is kept once, in its first place; a token
// another user holds is taken from them (see notify.DeviceRegistry).
func (s *Store) PutContact(ctx context.Context, c notify.Contact) error {
	if c.UserID == "" {
		return errors.New("postgres: put contact: UserID is empty")
	}
	n := len(c.Devices)
	platforms, tokens := make([]string, 0, n), make([]string, 0, n)
	apps, locales := make([]string, 0, n), make([]string, 0, n)
	regs, seen := make([]pgtype.Timestamptz, 0, n), make([]pgtype.Timestamptz, 0, n)
	listed := make(map[[2]string]bool, n)
	for _, d := range c.Devices {
		if k := [2]string{d.Platform, d.Token}; !listed[k] {
			listed[k] = true
			platforms, tokens = append(platforms, d.Platform), append(tokens, d.Token)
			apps, locales = append(apps, d.App), append(locales, d.Locale)
			regs, seen = append(regs, timestamptz(d.RegisteredAt)), append(seen, timestamptz(d.LastSeen))
		}
	}
	quietStart, quietEnd := sqlbackend.QuietColumns(c.QuietHours)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.core.sql.putContact, c.UserID, c.Phone, c.Email, c.Locale, c.TimeZone, quietStart, quietEnd); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.core.sql.deleteDevices, c.UserID); err != nil {
			return err
		}
		if len(c.Devices) > 0 {
			if _, err := tx.Exec(ctx, s.core.sql.putDevices, c.UserID, platforms, tokens, regs, apps, locales, seen); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: put contact of user %s: %w", c.UserID, err)
	}
	return nil
}

// RemoveAddress removes address from the user's contact: the phone number
// for "sms", the email address for "email", otherwise the device on that
// platform with that token, when it was registered before registeredBefore
// (or its registration time is unknown, or registeredBefore is zero).
// Removing an address the contact does not have is not an error.
func (s *Store) RemoveAddress(ctx context.Context, userID, channel, address string, registeredBefore time.Time) error {
	var err error
	switch channel {
	case notify.ChannelSMS:
		_, err = s.db.Exec(ctx, s.core.sql.removePhone, userID, address)
	case notify.ChannelEmail:
		_, err = s.db.Exec(ctx, s.core.sql.removeEmail, userID, address)
	default:
		var before pgtype.Timestamptz
		if !registeredBefore.IsZero() {
			before = pgtype.Timestamptz{Time: registeredBefore, Valid: true}
		}
		_, err = s.db.Exec(ctx, s.core.sql.removeDevice, userID, channel, address, before)
	}
	if err != nil {
		return fmt.Errorf("postgres: remove %s address of user %s: %w", channel, userID, err)
	}
	return nil
}

// Consent returns what the user's settings say about category on channel
// (notify.Consent): one query reads the settings that match, and
// notify.ConsentOf picks the one that decides.
func (s *Store) Consent(ctx context.Context, userID, category, channel string) (notify.Consent, error) {
	rows, err := s.db.Query(ctx, s.core.sql.consent, userID, category, channel)
	if err != nil {
		return notify.ConsentUnset, fmt.Errorf("postgres: preference of user %s for %s on %s: %w", userID, category, channel, err)
	}
	match, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notify.Preference, error) {
		var p notify.Preference
		err := row.Scan(&p.Category, &p.Channel, &p.Allowed)
		return p, err
	})
	if err != nil {
		return notify.ConsentUnset, fmt.Errorf("postgres: preference of user %s for %s on %s: %w", userID, category, channel, err)
	}
	return notify.ConsentOf(match, category, channel), nil
}

// ListPreferences returns every setting the user has, by category and
// then channel in byte order (notify.PreferenceLister).
func (s *Store) ListPreferences(ctx context.Context, userID string) ([]notify.Preference, error) {
	rows, err := s.db.Query(ctx, s.core.sql.listPreferences, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list preferences of user %s: %w", userID, err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (notify.Preference, error) {
		var p notify.Preference
		err := row.Scan(&p.Category, &p.Channel, &p.Allowed, &p.Updated)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list preferences of user %s: %w", userID, err)
	}
	return ps, nil
}

// SetPreference stores whether the user allows category on channel.
func (s *Store) SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error {
	if _, err := s.db.Exec(ctx, s.core.sql.setPreference, userID, category, channel, allowed); err != nil {
		return fmt.Errorf("postgres: set preference of user %s for %s on %s: %w", userID, category, channel, err)
	}
	return nil
}

// Record appends events to the log in one statement, in order. Concurrent
// Records on one Store share one statement.
func (s *Store) Record(ctx context.Context, events ...notify.Event) error {
	if len(events) == 0 {
		return nil
	}
	for i, e := range events {
		if e.DeliveryID == "" {
			return fmt.Errorf("postgres: record event %d: DeliveryID is empty", i)
		}
	}
	var err error
	if _, ok := s.db.(pgx.Tx); ok {
		err = s.recordNow(ctx, s.db, events)
	} else {
		// A combined statement may run after this call has returned (its
		// ctx ended): it gets its own copy, as Record keeps no argument.
		err = s.core.records.do(ctx, &recordReq{events: slices.Clone(events)})
	}
	if err != nil {
		return fmt.Errorf("postgres: record %d events: %w", len(events), err)
	}
	return nil
}

var _ notify.OnceRecorder = (*Store)(nil)

// RecordOnce records ev unless the log holds an event for ev.DeliveryID
// recorded under key (a unique index decides, so of concurrent calls
// exactly one records), and reports whether it recorded. then, when not
// nil and ev is new, runs in ev's transaction, on a Store whose writes go
// through it: when it returns an error the transaction rolls back, key is
// free again, and RecordOnce returns the error. A concurrent RecordOnce
// with the same key waits for that transaction. Keys are kept as long as
// their event (see Prune).
func (s *Store) RecordOnce(ctx context.Context, ev notify.Event, key string, then func(context.Context, notify.Store) error) (bool, error) {
	if ev.DeliveryID == "" {
		return false, errors.New("postgres: record once: the event's DeliveryID is empty")
	}
	if key == "" {
		return false, errors.New("postgres: record once: empty key; give each distinct event its own key")
	}
	var recorded bool
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, s.core.sql.recordOnce, ev.DeliveryID, ev.NotificationID, ev.UserID, ev.Category,
			ev.Channel, ev.Address, string(ev.Status), ev.Reason, int32(ev.Attempt), ev.ProviderID, ev.MaybeSent, ev.At,
			ev.Template, ev.Locale, key)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if then != nil {
			if err := then(ctx, s.withTx(tx)); err != nil {
				return err
			}
		}
		recorded = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("postgres: record %s event of delivery %s once: %w", ev.Status, ev.DeliveryID, err)
	}
	return recorded, nil
}

type recordReq struct{ events []notify.Event }

func (c *storeCore) runRecords(ctx context.Context, reqs []*recordReq) error {
	var all []notify.Event
	for _, r := range reqs {
		all = append(all, r.events...)
	}
	return (&Store{core: c, db: c.pool}).recordNow(ctx, c.pool, all)
}

func (s *Store) recordNow(ctx context.Context, db dbtx, events []notify.Event) error {
	_, err := db.Exec(ctx, s.core.sql.record, eventArrays(events)...)
	return err
}

// eventArrays encodes events as the fourteen column arrays ($1 to $14) of
// the log_events insert.
func eventArrays(events []notify.Event) []any {
	n := len(events)
	var (
		did, nid, uid, cat, ch, addr = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		status, reason, provider     = make([]string, n), make([]string, n), make([]string, n)
		template, locale             = make([]string, n), make([]string, n)
		attempt                      = make([]int32, n)
		maybe                        = make([]bool, n)
		at                           = make([]time.Time, n)
	)
	for i, e := range events {
		did[i], nid[i], uid[i], cat[i], ch[i], addr[i] = e.DeliveryID, e.NotificationID, e.UserID, e.Category, e.Channel, e.Address
		status[i], reason[i], provider[i] = string(e.Status), e.Reason, e.ProviderID
		attempt[i], maybe[i], at[i] = int32(e.Attempt), e.MaybeSent, e.At
		template[i], locale[i] = e.Template, e.Locale
	}
	return []any{did, nid, uid, cat, ch, addr, status, reason, attempt, provider, maybe, at, template, locale}
}

// State returns where a delivery stands (its events folded with
// notify.DeliveryState.Apply), or ErrNotFound. Concurrent States on one
// Store share one query.
func (s *Store) State(ctx context.Context, deliveryID string) (notify.DeliveryState, error) {
	r := &stateReq{id: deliveryID}
	var err error
	if _, ok := s.db.(pgx.Tx); ok {
		err = s.core.statesNow(ctx, s.db, []*stateReq{r})
	} else {
		err = s.core.states.do(ctx, r)
	}
	if err != nil {
		return notify.DeliveryState{}, fmt.Errorf("postgres: state of delivery %s: %w", deliveryID, err)
	}
	if !r.found {
		return notify.DeliveryState{}, fmt.Errorf("postgres: state of delivery %s: %w", deliveryID, notify.ErrNotFound)
	}
	return r.st, nil
}

type stateReq struct {
	id    string
	st    notify.DeliveryState
	found bool
}

func (c *storeCore) runStates(ctx context.Context, reqs []*stateReq) error {
	return c.statesNow(ctx, c.pool, reqs)
}

func (c *storeCore) statesNow(ctx context.Context, db dbtx, reqs []*stateReq) error {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.id
	}
	rows, err := db.Query(ctx, c.sql.states, args(c.fresh, ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	st := make(map[string]*notify.DeliveryState, len(reqs))
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return err
		}
		s := st[id]
		if s == nil {
			s = &notify.DeliveryState{}
			st[id] = s
		}
		s.Apply(notify.Event{Status: notify.Status(status)})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range reqs {
		if s := st[r.id]; s != nil {
			r.st, r.found = *s, true
		}
	}
	return nil
}

func scanEvents(rows pgx.Rows) ([]notify.Event, error) {
	defer rows.Close()
	var out []notify.Event
	for rows.Next() {
		var e notify.Event
		var status string
		var attempt int32
		if err := rows.Scan(&e.DeliveryID, &e.NotificationID, &e.UserID, &e.Category, &e.Channel, &e.Address,
			&status, &e.Reason, &attempt, &e.ProviderID, &e.MaybeSent, &e.At, &e.Template, &e.Locale); err != nil {
			return nil, err
		}
		e.Status, e.Attempt = notify.Status(status), int(attempt)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Delivery returns one delivery's log, or ErrNotFound.
func (s *Store) Delivery(ctx context.Context, deliveryID string) (notify.DeliveryRecord, error) {
	rows, err := s.db.Query(ctx, s.core.sql.delivery, args(s.core.fresh, deliveryID)...)
	if err != nil {
		return notify.DeliveryRecord{}, fmt.Errorf("postgres: log of delivery %s: %w", deliveryID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return notify.DeliveryRecord{}, fmt.Errorf("postgres: log of delivery %s: %w", deliveryID, err)
	}
	if len(events) == 0 {
		return notify.DeliveryRecord{}, fmt.Errorf("postgres: log of delivery %s: %w", deliveryID, notify.ErrNotFound)
	}
	return notify.NewDeliveryRecord(events), nil
}

// Deliveries returns the log of every delivery of a notification, in the
// order their first events were recorded, or ErrNotFound.
func (s *Store) Deliveries(ctx context.Context, notificationID string) ([]notify.DeliveryRecord, error) {
	rows, err := s.db.Query(ctx, s.core.sql.deliveries, args(s.core.fresh, notificationID)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: log of notification %s: %w", notificationID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: log of notification %s: %w", notificationID, err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("postgres: log of notification %s: %w", notificationID, notify.ErrNotFound)
	}
	return notify.GroupRecords(events), nil
}

// Prune deletes log events older than Config.Retention, in batches of
// pruneBatch (each its own statement, so no transaction holds many locks
// for long), and returns how many it deleted. The old rows are found
// through the BRIN index on the events' time, not by reading the whole log.
// Dispatcher.Run calls it every notify.Config.PruneEvery; it is safe from
// one process or many. A delivery still retried past Retention loses its
// oldest events; keep Retention well above RetryPolicy.MaxAge.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	if s.core.cfg.Retention < 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-s.core.cfg.Retention)
	n, err := pruneBatches(ctx, s.db, s.core.sql.summarize, s.core.sql.pruneIndex, func() (string, []any) {
		return s.core.sql.prune, []any{cutoff, pruneBatch}
	})
	if err != nil {
		return n, fmt.Errorf("postgres: prune the log: %w", err)
	}
	return n, nil
}
