package memory

import (
	"context"
	"fmt"

	"github.com/gonotify/notify"
)

var _ notify.UserLog = (*Store)(nil)

// UserDeliveries lists the user's deliveries newest first, a page at a
// time. It looks through every delivery the log holds under its read lock:
// an operator's call, not one for a hot path (the log holds at most
// Config.MaxNotifications notifications).
func (s *Store) UserDeliveries(_ context.Context, q notify.UserQuery) (notify.DeliveryPage, error) {
	cur, err := notify.ParsePageCursor(q.Cursor)
	if err != nil {
		return notify.DeliveryPage{}, fmt.Errorf("store/memory: deliveries of user %q: %w", q.UserID, err)
	}
	var all [][]notify.Event
	s.logMu.RLock()
	for d := range s.deliveries.All() {
		if d.hdr.userID == q.UserID {
			all = append(all, d.events())
		}
	}
	s.logMu.RUnlock()
	records := make([]notify.DeliveryRecord, len(all))
	for i, events := range all {
		records[i] = notify.NewDeliveryRecord(events)
	}
	return notify.PageOf(records, cur, q.PageLimit()), nil
}
