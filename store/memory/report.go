package memory

import (
	"context"

	"github.com/gonotify/notify"
)

var _ notify.Reporter = (*Store)(nil)

// Report counts the deliveries queued in q's range (notify.Tally) over
// every delivery the log holds, under its read lock: the log holds at most
// Config.MaxNotifications notifications.
func (s *Store) Report(_ context.Context, q notify.ReportQuery) ([]notify.ReportRow, error) {
	if err := notify.CheckReportQuery(q); err != nil {
		return nil, err
	}
	var all [][]notify.Event
	s.logMu.RLock()
	for d := range s.deliveries.All() {
		if !d.inline[0].at.After(q.Until) {
			all = append(all, d.events())
		}
	}
	s.logMu.RUnlock()
	records := make([]notify.DeliveryRecord, len(all))
	for i, events := range all {
		records[i] = notify.NewDeliveryRecord(events)
	}
	return notify.Tally(q, records), nil
}
