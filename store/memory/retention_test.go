package memory_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func queued(n, d string) notify.Event {
	return notify.Event{DeliveryID: d, NotificationID: n, Channel: "sms", Status: notify.StatusQueued, At: time.Now()}
}

func TestMaxNotifications(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 3})
	for i := range 5 {
		n := fmt.Sprint("n", i)
		require.NoError(t, s.Record(ctx, queued(n, n+"-a"), queued(n, n+"-b")))
	}
	for i := range 2 {
		_, err := s.Deliveries(ctx, fmt.Sprint("n", i))
		assert.ErrorIs(t, err, notify.ErrNotFound, "notification n%d is past MaxNotifications", i)
		_, err = s.State(ctx, fmt.Sprint("n", i, "-a"))
		assert.ErrorIs(t, err, notify.ErrNotFound, "its deliveries go with it")
	}
	for i := 2; i < 5; i++ {
		ds, err := s.Deliveries(ctx, fmt.Sprint("n", i))
		require.NoError(t, err)
		assert.Len(t, ds, 2)
	}
	// More events for a kept notification do not make it newer or evict it.
	require.NoError(t, s.Record(ctx, queued("n2", "n2-c")))
	ds, err := s.Deliveries(ctx, "n2")
	require.NoError(t, err)
	assert.Len(t, ds, 3)
}

func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := memory.New(memory.Config{Retention: time.Hour})
		require.NoError(t, s.Record(ctx, queued("old", "old-a")))
		time.Sleep(59 * time.Minute)
		require.NoError(t, s.Record(ctx, queued("new", "new-a")))
		_, err := s.State(ctx, "old-a")
		require.NoError(t, err, "kept until Retention")

		time.Sleep(time.Minute)
		require.NoError(t, s.Record(ctx, queued("newer", "newer-a")))
		_, err = s.State(ctx, "old-a")
		assert.ErrorIs(t, err, notify.ErrNotFound, "dropped after Retention")
		_, err = s.State(ctx, "new-a")
		assert.NoError(t, err)
	})
}

func TestReturnedLogIsACopy(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{})
	require.NoError(t, s.Record(ctx, queued("n", "d")))
	ds, err := s.Delivery(ctx, "d")
	require.NoError(t, err)
	ds.Events[0].Status = notify.StatusSent
	all, err := s.Deliveries(ctx, "n")
	require.NoError(t, err)
	all[0].Events[0].Reason = "changed"
	again, err := s.Delivery(ctx, "d")
	require.NoError(t, err)
	assert.Equal(t, notify.StatusQueued, again.Events[0].Status)
	assert.Empty(t, again.Events[0].Reason)
}

func TestRecordRejectsEmptyDeliveryID(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{})
	err := s.Record(ctx, queued("n", "d"), notify.Event{NotificationID: "n", Status: notify.StatusSent})
	require.Error(t, err)
	_, err = s.State(ctx, "d")
	assert.ErrorIs(t, err, notify.ErrNotFound, "a rejected batch records nothing")
}

func TestPutContactNeedsUserID(t *testing.T) {
	assert.Error(t, memory.New(memory.Config{}).PutContact(context.Background(), notify.Contact{Phone: "+15550100"}))
}

// TestHotPathAllocations pins the log's hot path: State allocates nothing,
// and a delivery's queued and sent events cost a handful of allocations.
func TestHotPathAllocations(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 1 << 20})
	require.NoError(t, s.Record(ctx, queued("n", "d")))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.State(ctx, "d"); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "State allocations")

	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprint("id-", i)
	}
	i := 0
	allocs = testing.AllocsPerRun(100, func() {
		e := queued(ids[i], ids[i])
		i++
		_ = s.Record(ctx, e)
		e.Status = notify.StatusSent
		_ = s.Record(ctx, e)
	})
	assert.LessOrEqual(t, allocs, 2.0, "allocations to record a delivery's queued and sent events")
}
