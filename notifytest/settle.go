package notifytest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// Settled waits until the notification has deliveries and every one of
// them is in a final state (sent, delivered, dead, skipped, canceled...),
// and returns them. It polls d.Status every few milliseconds and fails t
// when timeout passes first, or when Status fails. d must be running (its
// Run started) for deliveries to settle.
func Settled(t testing.TB, d *notify.Dispatcher, notificationID string, timeout time.Duration) []notify.DeliveryRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs, err := d.Status(context.Background(), notificationID)
		require.NoError(t, err)
		done := len(recs) > 0
		for _, r := range recs {
			done = done && r.Status.Final()
		}
		if done {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %s did not settle in %s: %+v", notificationID, timeout, recs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
