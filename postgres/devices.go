package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gonotify/notify"
)

var _ notify.DeviceRegistry = (*Store)(nil)

// timestamptz is t as a nullable timestamptz: NULL when t is zero.
func timestamptz(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// registerTries bounds RegisterDevice's attempts: one more than needed
// when another user's registration of the token commits between its
// statements.
const registerTries = 4

// RegisterDevice adds d to the user's contact, or updates the user's
// device with its token in place, taking the token from any other user
// who held it, in one transaction; see notify.DeviceRegistry. The unique
// index on (platform, token) leaves one owner when two users register a
// token at once: the later registration waits for the earlier to commit,
// then takes the token from it and says so.
func (s *Store) RegisterDevice(ctx context.Context, userID string, d notify.Device) (notify.DeviceRegistration, error) {
	if userID == "" || d.Platform == "" || d.Token == "" {
		return notify.DeviceRegistration{}, errors.New("postgres: register device: empty user ID, platform or token")
	}
	now := time.Now()
	if d.RegisteredAt.IsZero() {
		d.RegisteredAt = now
	}
	if d.LastSeen.IsZero() {
		d.LastSeen = now
	}
	// What PostgreSQL keeps, so that the result reads back equal.
	d.RegisteredAt, d.LastSeen = d.RegisteredAt.Truncate(time.Microsecond), d.LastSeen.Truncate(time.Microsecond)
	var reg notify.DeviceRegistration
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.core.sql.lockContact, userID); err != nil {
			return err
		}
		for range registerTries {
			// The READ COMMITTED statements each see what committed before
			// them: a registration of the token by another user that
			// commits between them is found by the next try's DELETE.
			var prev string
			err := tx.QueryRow(ctx, s.core.sql.takeToken, userID, d.Platform, d.Token).Scan(&prev)
			switch {
			case err == nil:
				reg.MovedFrom = prev
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			args := []any{userID, d.Platform, d.Token, d.App, d.Locale, d.RegisteredAt, d.LastSeen}
			tag, err := tx.Exec(ctx, s.core.sql.updateDevice, args...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				reg.Device = d
				return nil
			}
			tag, err = tx.Exec(ctx, s.core.sql.insertDevice, args...)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				reg.Device, reg.Created = d, true
				return nil
			}
		}
		return fmt.Errorf("the token changed hands %d times during the registration; try again", registerTries)
	})
	if err != nil {
		return notify.DeviceRegistration{}, fmt.Errorf("postgres: register a %s device of user %s: %w", d.Platform, userID, err)
	}
	return reg, nil
}

// UnregisterDevice removes the user's device with token on platform; see
// notify.DeviceRegistry.
func (s *Store) UnregisterDevice(ctx context.Context, userID, platform, token string) error {
	if _, err := s.db.Exec(ctx, s.core.sql.removeDevice, userID, platform, token, pgtype.Timestamptz{}); err != nil {
		return fmt.Errorf("postgres: unregister a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// RefreshDevice replaces the user's oldToken on platform with newToken,
// in one transaction; see notify.DeviceRegistry.
func (s *Store) RefreshDevice(ctx context.Context, userID, platform, oldToken, newToken string) error {
	if userID == "" || platform == "" || oldToken == "" || newToken == "" {
		return errors.New("postgres: refresh device: empty user ID, platform or token")
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.core.sql.lockContact, userID); err != nil {
			return err
		}
		var pos pgtype.Int4
		var app, locale string
		err := tx.QueryRow(ctx, s.core.sql.removeDevice+` RETURNING position, app, locale`,
			userID, platform, oldToken, pgtype.Timestamptz{}).Scan(&pos, &app, &locale)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(ctx, s.core.sql.upsertDevice, userID, platform, newToken, pos, app, locale)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: refresh a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// PruneDevices removes every device last seen before notSeenSince, in one
// statement; see notify.DeviceRegistry.
func (s *Store) PruneDevices(ctx context.Context, notSeenSince time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, s.core.sql.pruneDevices, notSeenSince)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune devices: %w", err)
	}
	return tag.RowsAffected(), nil
}
