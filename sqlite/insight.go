package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gonotify/notify"
)

var (
	_ notify.UserLog     = (*Store)(nil)
	_ notify.Reporter    = (*Store)(nil)
	_ notify.ClaimHolder = (*Deduper)(nil)
)

const (
	sqlUserEvents = `SELECT ` + eventCols + ` FROM log_events
		WHERE delivery_id IN (SELECT delivery_id FROM log_events WHERE user_id = ?) ORDER BY seq`
	sqlReportEvents = `SELECT ` + eventCols + ` FROM log_events
		WHERE delivery_id IN (SELECT delivery_id FROM log_events WHERE status = 'queued' AND at >= ? AND at < ?) ORDER BY seq`
	sqlHolderLive = `SELECT owner FROM dedup_claims WHERE key = ? AND expires_at > ?`
)

// UserDeliveries lists the user's deliveries newest first (by each one's
// first event), a page at a time, with their events: the user's events are
// found through the log_events_user index and paged here.
func (s *Store) UserDeliveries(ctx context.Context, q notify.UserQuery) (notify.DeliveryPage, error) {
	cur, err := notify.ParsePageCursor(q.Cursor)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("sqlite: deliveries of user %s: %w", q.UserID, err)
	}
	rows, err := s.b.reader(s.bt).QueryContext(ctx, sqlUserEvents, q.UserID)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("sqlite: deliveries of user %s: %w", q.UserID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("sqlite: deliveries of user %s: %w", q.UserID, err)
	}
	return notify.PageOf(notify.GroupRecords(events), cur, q.PageLimit()), nil
}

// Report counts the deliveries queued in q's range (notify.Tally) over
// their events, read in one query (the log_events_at index finds the
// queued events in the range).
func (s *Store) Report(ctx context.Context, q notify.ReportQuery) ([]notify.ReportRow, error) {
	if err := notify.CheckReportQuery(q); err != nil {
		return nil, err
	}
	rows, err := s.b.reader(s.bt).QueryContext(ctx, sqlReportEvents, q.Since.UnixNano(), q.Until.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: report: %w", err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: report: %w", err)
	}
	return notify.Tally(q, notify.GroupRecords(events)), nil
}

// Holder returns the owner holding key, or an error wrapping
// notify.ErrNotFound when the key is free: never claimed, released or
// expired. It claims nothing.
func (d *Deduper) Holder(ctx context.Context, key string) (string, error) {
	var owner string
	err := d.b.reader(d.bt).QueryRowContext(ctx, sqlHolderLive, key, time.Now().UnixNano()).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("sqlite: holder of %s: %w", key, notify.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("sqlite: holder of %s: %w", key, err)
	}
	return owner, nil
}
