package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gonotify/notify"
)

var _ notify.DeviceRegistry = (*Store)(nil)

const (
	// sqlTouchContact creates the user's contact if it has none.
	sqlTouchContact = `INSERT INTO contacts (user_id, updated_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`
	sqlTakeToken    = `DELETE FROM contact_devices WHERE platform = ?2 AND token = ?3 AND user_id <> ?1 RETURNING user_id`
	sqlUpdateDevice = `UPDATE contact_devices SET app = ?4, locale = ?5, registered_at = ?6, last_seen = ?7
		WHERE user_id = ?1 AND platform = ?2 AND token = ?3`
	sqlAppendDevice = `INSERT INTO contact_devices (user_id, position, platform, token, app, locale, registered_at, last_seen)
		SELECT ?1, coalesce(max(position), -1) + 1, ?2, ?3, ?4, ?5, ?6, ?7 FROM contact_devices WHERE user_id = ?1`
	sqlOldDevice = `DELETE FROM contact_devices WHERE user_id = ?1 AND platform = ?2 AND token = ?3 RETURNING position, app, locale`
	// sqlNewToken: RefreshDevice's new token at position ?4 (the old
	// token's, or after the user's last), keeping App and Locale (?5, ?6)
	// unless the user had the new token already; taken from any other
	// owner.
	sqlNewToken = `INSERT INTO contact_devices (user_id, position, platform, token, app, locale, registered_at, last_seen)
		SELECT ?1, coalesce(?4, max(position) + 1, 0), ?2, ?3, ?5, ?6, ?7, ?7 FROM contact_devices WHERE user_id = ?1
		ON CONFLICT (platform, token) DO UPDATE SET user_id = excluded.user_id,
			position = CASE WHEN contact_devices.user_id = excluded.user_id AND ?4 IS NULL THEN contact_devices.position ELSE excluded.position END,
			app = CASE WHEN contact_devices.user_id = excluded.user_id AND ?4 IS NULL THEN contact_devices.app ELSE excluded.app END,
			locale = CASE WHEN contact_devices.user_id = excluded.user_id AND ?4 IS NULL THEN contact_devices.locale ELSE excluded.locale END,
			registered_at = excluded.registered_at, last_seen = excluded.last_seen`
	sqlPruneDevices = `DELETE FROM contact_devices WHERE coalesce(last_seen, registered_at) < ?`
)

// RegisterDevice adds d to the user's contact, or updates the user's
// device with its token in place, taking the token from any other user
// who held it, in one transaction; see notify.DeviceRegistry. Writes run
// one at a time, so two users registering one token leave one owner.
func (s *Store) RegisterDevice(ctx context.Context, userID string, d notify.Device) (notify.DeviceRegistration, error) {
	if userID == "" || d.Platform == "" || d.Token == "" {
		return notify.DeviceRegistration{}, errors.New("sqlite: register device: empty user ID, platform or token")
	}
	now := time.Now()
	if d.RegisteredAt.IsZero() {
		d.RegisteredAt = now
	}
	if d.LastSeen.IsZero() {
		d.LastSeen = now
	}
	var reg notify.DeviceRegistration
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		reg = notify.DeviceRegistration{Device: d}
		if _, err := w.exec(ctx, sqlTouchContact, userID, now.UnixNano()); err != nil {
			return err
		}
		err := w.queryRow(ctx, sqlTakeToken, userID, d.Platform, d.Token).Scan(&reg.MovedFrom)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		args := []any{userID, d.Platform, d.Token, d.App, d.Locale, nanos(d.RegisteredAt), nanos(d.LastSeen)}
		res, err := w.exec(ctx, sqlUpdateDevice, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		reg.Created = true
		_, err = w.exec(ctx, sqlAppendDevice, args...)
		return err
	})
	if err != nil {
		return notify.DeviceRegistration{}, fmt.Errorf("sqlite: register a %s device of user %s: %w", d.Platform, userID, err)
	}
	return reg, nil
}

// UnregisterDevice removes the user's device with token on platform; see
// notify.DeviceRegistry.
func (s *Store) UnregisterDevice(ctx context.Context, userID, platform, token string) error {
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		_, err := w.exec(ctx, sqlRemoveDevice, userID, platform, token, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: unregister a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// RefreshDevice replaces the user's oldToken on platform with newToken,
// in one transaction; see notify.DeviceRegistry.
func (s *Store) RefreshDevice(ctx context.Context, userID, platform, oldToken, newToken string) error {
	if userID == "" || platform == "" || oldToken == "" || newToken == "" {
		return errors.New("sqlite: refresh device: empty user ID, platform or token")
	}
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		now := time.Now().UnixNano()
		if _, err := w.exec(ctx, sqlTouchContact, userID, now); err != nil {
			return err
		}
		var pos sql.NullInt64
		var app, locale string
		err := w.queryRow(ctx, sqlOldDevice, userID, platform, oldToken).Scan(&pos, &app, &locale)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var at any
		if pos.Valid {
			at = pos.Int64
		}
		_, err = w.exec(ctx, sqlNewToken, userID, platform, newToken, at, app, locale, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: refresh a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// PruneDevices removes every device last seen before notSeenSince; see
// notify.DeviceRegistry.
func (s *Store) PruneDevices(ctx context.Context, notSeenSince time.Time) (int64, error) {
	var n int64
	err := s.b.write(ctx, s.bt, func(ctx context.Context, w *wtx) error {
		res, err := w.exec(ctx, sqlPruneDevices, notSeenSince.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune devices: %w", err)
	}
	return n, nil
}
