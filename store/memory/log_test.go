package memory_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventsRoundTrip: the log keeps what a delivery's events share once,
// but every read returns each event exactly as it was recorded, including
// events whose shared fields differ from the delivery's first, statuses
// the notify package does not define, and attempts past an int32.
func TestEventsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{})
	at := time.Now()
	first := notify.Event{DeliveryID: "d", NotificationID: "n", UserID: "u", Category: "c", Channel: "sms",
		Address: "+15550100", Template: "t", Locale: "fr", Status: notify.StatusQueued, At: at}
	var want []notify.Event
	add := func(change func(e *notify.Event)) {
		e := first
		e.Status = notify.StatusRetrying
		e.At = at.Add(time.Duration(len(want)) * time.Second)
		e.Attempt = len(want)
		change(&e)
		want = append(want, e)
	}
	add(func(e *notify.Event) { *e = first })
	add(func(e *notify.Event) { e.Reason, e.MaybeSent = "timeout", true })
	add(func(e *notify.Event) { e.NotificationID = "other" })
	add(func(e *notify.Event) { e.UserID = "u2" })
	add(func(e *notify.Event) { e.Category = "c2" })
	add(func(e *notify.Event) { e.Channel = "email" })
	add(func(e *notify.Event) { e.Address = "+15550199" })
	add(func(e *notify.Event) { e.Template = "t2" })
	add(func(e *notify.Event) { e.Locale = "" })
	add(func(e *notify.Event) { e.Status = "custom" })
	add(func(e *notify.Event) { e.Attempt = math.MaxInt32 + 1 })
	add(func(e *notify.Event) { e.Attempt = math.MinInt32 - 1 })
	add(func(e *notify.Event) { e.Status, e.ProviderID = notify.StatusSent, "p-1" })
	// Record some in one call, some alone, and one through RecordOnce.
	require.NoError(t, s.Record(ctx, want[:3]...))
	for _, e := range want[3 : len(want)-1] {
		require.NoError(t, s.Record(ctx, e))
	}
	ok, err := s.RecordOnce(ctx, want[len(want)-1], "k", nil)
	require.NoError(t, err)
	require.True(t, ok)

	rec, err := s.Delivery(ctx, "d")
	require.NoError(t, err)
	assert.Equal(t, want, rec.Events)
	assert.Equal(t, notify.NewDeliveryRecord(want), rec)
	recs, err := s.Deliveries(ctx, "n")
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, want, recs[0].Events)
	_, err = s.Deliveries(ctx, "other")
	assert.ErrorIs(t, err, notify.ErrNotFound, "a delivery belongs to the notification of its first event")
	page, err := s.UserDeliveries(ctx, notify.UserQuery{UserID: "u"})
	require.NoError(t, err)
	require.Len(t, page.Records, 1)
	assert.Equal(t, want, page.Records[0].Events)

	// A first event whose status the notify package does not define.
	odd := notify.Event{DeliveryID: "d2", NotificationID: "n", Channel: "sms", Status: "custom", At: at}
	next := odd
	next.Status = notify.StatusSent
	require.NoError(t, s.Record(ctx, odd, next))
	rec, err = s.Delivery(ctx, "d2")
	require.NoError(t, err)
	assert.Equal(t, []notify.Event{odd, next}, rec.Events)
}

// TestEveryStatusRoundTrips records an event in each status.
func TestEveryStatusRoundTrips(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{})
	statuses := []notify.Status{notify.StatusQueued, notify.StatusSent, notify.StatusRetrying, notify.StatusDeferred,
		notify.StatusFailed, notify.StatusDead, notify.StatusSkipped, notify.StatusExpired, notify.StatusInvalid,
		notify.StatusOptedOut, notify.StatusConfig, notify.StatusReplayed, notify.StatusCanceled, notify.StatusOpened,
		notify.StatusClicked, notify.StatusComplained, notify.StatusConverted, notify.StatusDelivered,
		notify.StatusUndelivered, "", "other"}
	var want []notify.Event
	for i, st := range statuses {
		want = append(want, notify.Event{DeliveryID: "d", NotificationID: "n", Channel: "sms", Status: st,
			Attempt: i, At: time.Unix(int64(i), 0)})
	}
	require.NoError(t, s.Record(ctx, want...))
	rec, err := s.Delivery(ctx, "d")
	require.NoError(t, err)
	assert.Equal(t, want, rec.Events)
}

// TestNotificationOfManyDeliveries: a notification's deliveries come back
// in the order they were first recorded, whether recorded in one call or
// several, and go together when it is evicted.
func TestNotificationOfManyDeliveries(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 1})
	ids := []string{"d0", "d1", "d2", "d3", "d4"}
	var evs []notify.Event
	for _, id := range ids[:3] {
		evs = append(evs, sent("n", id)...)
	}
	require.NoError(t, s.Record(ctx, evs...))
	for _, id := range ids[3:] {
		require.NoError(t, s.Record(ctx, sent("n", id)...))
	}
	recs, err := s.Deliveries(ctx, "n")
	require.NoError(t, err)
	require.Len(t, recs, len(ids))
	for i, r := range recs {
		assert.Equal(t, ids[i], r.DeliveryID)
		assert.Equal(t, notify.StatusSent, r.Status)
		assert.Len(t, r.Events, 2)
	}
	require.NoError(t, s.Record(ctx, sent("m", "e0")...))
	for _, id := range ids {
		_, err := s.State(ctx, id)
		assert.ErrorIs(t, err, notify.ErrNotFound, "delivery %s goes with its notification", id)
	}
}
