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

// sent is d's queued event followed by its final "sent".
func sent(n, d string) []notify.Event {
	e := queued(n, d)
	f := e
	f.Status = notify.StatusSent
	return []notify.Event{e, f}
}

func TestMaxNotifications(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 3})
	for i := range 5 {
		n := fmt.Sprint("n", i)
		require.NoError(t, s.Record(ctx, append(sent(n, n+"-a"), sent(n, n+"-b")...)...))
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
	require.NoError(t, s.Record(ctx, sent("n2", "n2-c")...))
	ds, err := s.Deliveries(ctx, "n2")
	require.NoError(t, err)
	assert.Len(t, ds, 3)
}

// TestLiveNotificationsAreKept: a notification with a delivery that is not
// final is never evicted, however far past MaxNotifications the log goes;
// once its deliveries are final it goes, oldest first.
func TestLiveNotificationsAreKept(t *testing.T) {
	ctx := context.Background()
	const max, flood = 200, 1000
	s := memory.New(memory.Config{MaxNotifications: max})
	for i := range flood {
		n := fmt.Sprint("n", i)
		// A delivery on a slow channel still queued, one already sent.
		require.NoError(t, s.Record(ctx, append([]notify.Event{queued(n, n+"-slow")}, sent(n, n+"-fast")...)...))
	}
	for i := range flood {
		st, err := s.State(ctx, fmt.Sprint("n", i, "-slow"))
		require.NoError(t, err, "notification n%d was evicted while its delivery was queued", i)
		assert.Equal(t, notify.StatusQueued, st.Status)
	}

	// Every tenth stays live, in each live status; the others become final.
	live := []notify.Status{notify.StatusRetrying, notify.StatusDeferred, notify.StatusConfig, notify.StatusQueued}
	for i := range flood {
		n := fmt.Sprint("n", i)
		e := queued(n, n+"-slow")
		e.Status = notify.StatusSent
		if i%10 == 0 {
			e.Status = live[i/10%len(live)]
		}
		require.NoError(t, s.Record(ctx, e))
	}
	require.NoError(t, s.Record(ctx, sent("last", "last-a")...))
	_, err := s.Deliveries(ctx, "last")
	require.NoError(t, err)
	var kept []int // final notifications kept
	for i := range flood {
		n := fmt.Sprint("n", i)
		_, err := s.Deliveries(ctx, n)
		if i%10 == 0 {
			assert.NoError(t, err, "notification %s is live", n)
			continue
		}
		if err == nil {
			kept = append(kept, i)
		} else {
			require.ErrorIs(t, err, notify.ErrNotFound)
		}
	}
	// 100 live, "last", and the newest final ones up to MaxNotifications.
	require.Len(t, kept, max-flood/10-1)
	assert.Equal(t, flood-1, kept[len(kept)-1])
	assert.Equal(t, 891, kept[0], "the oldest final notifications went first")
}

// TestReplayedDeliveryIsLive: a dead delivery may be evicted, a replayed
// one is live again and kept.
func TestReplayedDeliveryIsLive(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 1})
	dead := queued("n0", "d0")
	dead.Status = notify.StatusDead
	replayed := dead
	replayed.Status = notify.StatusReplayed
	require.NoError(t, s.Record(ctx, queued("n0", "d0"), dead, replayed))
	require.NoError(t, s.Record(ctx, sent("n1", "d1")...))
	require.NoError(t, s.Record(ctx, sent("n2", "d2")...))
	st, err := s.State(ctx, "d0")
	require.NoError(t, err)
	assert.Equal(t, notify.StatusReplayed, st.Status)
	_, err = s.State(ctx, "d1")
	assert.ErrorIs(t, err, notify.ErrNotFound)
}

func TestRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := memory.New(memory.Config{Retention: time.Hour})
		require.NoError(t, s.Record(ctx, sent("old", "old-a")...))
		require.NoError(t, s.Record(ctx, queued("slow", "slow-a")))
		time.Sleep(59 * time.Minute)
		require.NoError(t, s.Record(ctx, sent("new", "new-a")...))
		_, err := s.State(ctx, "old-a")
		require.NoError(t, err, "kept until Retention")

		time.Sleep(time.Minute)
		require.NoError(t, s.Record(ctx, sent("newer", "newer-a")...))
		_, err = s.State(ctx, "old-a")
		assert.ErrorIs(t, err, notify.ErrNotFound, "dropped after Retention")
		_, err = s.State(ctx, "new-a")
		assert.NoError(t, err)
		_, err = s.State(ctx, "slow-a")
		require.NoError(t, err, "a queued delivery is kept past Retention")

		time.Sleep(time.Hour)
		final := queued("slow", "slow-a")
		final.Status = notify.StatusFailed
		require.NoError(t, s.Record(ctx, final))
		_, err = s.State(ctx, "slow-a")
		assert.ErrorIs(t, err, notify.ErrNotFound, "dropped once final")
		_, err = s.State(ctx, "new-a")
		assert.ErrorIs(t, err, notify.ErrNotFound)
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

// TestFullLogRecordsWithoutAllocating: once the log holds MaxNotifications,
// each new notification takes the place of the one it evicts, so a
// delivery's queued and sent events allocate nothing (the maps are at
// their size by then); the evicted one is gone, the new one is whole.
func TestFullLogRecordsWithoutAllocating(t *testing.T) {
	ctx := context.Background()
	const max = 50
	s := memory.New(memory.Config{MaxNotifications: max})
	ids := make([]string, 400)
	for i := range ids {
		ids[i] = fmt.Sprint("id-", i)
	}
	record := func(id string) {
		e := queued(id, id)
		_ = s.Record(ctx, e)
		e.Status = notify.StatusSent
		_ = s.Record(ctx, e)
	}
	for _, id := range ids[:2*max] {
		record(id)
	}
	i := 2 * max
	allocs := testing.AllocsPerRun(100, func() {
		record(ids[i])
		i++
	})
	assert.Zero(t, allocs, "allocations to record a delivery in a full log")
	_, err := s.Delivery(ctx, ids[i-max-1])
	assert.ErrorIs(t, err, notify.ErrNotFound, "the notification past MaxNotifications is evicted")
	rec, err := s.Delivery(ctx, ids[i-1])
	require.NoError(t, err)
	require.Len(t, rec.Events, 2, "the newest delivery keeps both its events")
	assert.Equal(t, ids[i-1], rec.Events[0].NotificationID)
	assert.Equal(t, notify.StatusSent, rec.Status)
}
