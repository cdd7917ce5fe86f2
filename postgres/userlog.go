package postgres

import (
	"context"
	"fmt"

	"github.com/gonotify/notify"
)

var _ notify.UserLog = (*Store)(nil)

// UserDeliveries lists the user's deliveries newest first (by each one's
// first event), a page at a time, with their events: one statement, served
// by the log_events_user index.
func (s *Store) UserDeliveries(ctx context.Context, q notify.UserQuery) (notify.DeliveryPage, error) {
	cur, err := notify.ParsePageCursor(q.Cursor)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("postgres: deliveries of user %s: %w", q.UserID, err)
	}
	limit := q.PageLimit()
	rows, err := s.db.Query(ctx, s.core.sql.userDeliveries, args(s.core.fresh, q.UserID, nullTime(cur.At), cur.ID, limit+1)...)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("postgres: deliveries of user %s: %w", q.UserID, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("postgres: deliveries of user %s: %w", q.UserID, err)
	}
	// The statement has applied the cursor; PageOf sorts and trims to limit.
	return notify.PageOf(notify.GroupRecords(events), notify.PageCursor{}, limit), nil
}
