package notify_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	smem "github.com/gonotify/notify/store/memory"
)

// watchedStore is a memory Store that counts RemoveAddress calls, can fail
// the next ones, and can hold Delivery reads at a barrier until n callers
// have read: every concurrent Feedback then reads the log before any of
// them writes, the interleaving a read-then-write check cannot survive.
type watchedStore struct {
	*smem.Store
	removes  atomic.Int32
	failNext atomic.Int32

	mu      sync.Mutex
	waiting int           // readers still to arrive at the barrier
	gate    chan struct{} // closed when they have
}

func (s *watchedStore) RemoveAddress(ctx context.Context, userID, channel, address string, before time.Time) error {
	s.removes.Add(1)
	if s.failNext.Add(-1) >= 0 {
		return errors.New("store unavailable")
	}
	return s.Store.RemoveAddress(ctx, userID, channel, address, before)
}

// RecordOnce hands then this Store, so that its RemoveAddress is counted.
func (s *watchedStore) RecordOnce(ctx context.Context, ev notify.Event, key string, then func(context.Context, notify.Store) error) (bool, error) {
	if then == nil {
		return s.Store.RecordOnce(ctx, ev, key, nil)
	}
	return s.Store.RecordOnce(ctx, ev, key, func(ctx context.Context, _ notify.Store) error { return then(ctx, s) })
}

func (s *watchedStore) barrier(n int) {
	s.mu.Lock()
	s.waiting, s.gate = n, make(chan struct{})
	s.mu.Unlock()
}

func (s *watchedStore) Delivery(ctx context.Context, id string) (notify.DeliveryRecord, error) {
	ds, err := s.Store.Delivery(ctx, id)
	s.mu.Lock()
	gate := s.gate
	if gate != nil {
		if s.waiting--; s.waiting == 0 {
			close(gate)
			s.gate = nil
		}
	}
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return ds, err
}

func watchedHarness(t *testing.T) (*harness, *watchedStore) {
	ws := &watchedStore{Store: smem.New(smem.Config{})}
	ws.failNext.Store(-1 << 30)
	h := newHarness(t, func(c *notify.Config) { c.Store = ws })
	h.store = ws.Store
	return h, ws
}

// TestFeedbackConcurrentRepeatsActOnce: 20 copies of one report arriving at
// once are recorded once and acted on once.
func TestFeedbackConcurrentRepeatsActOnce(t *testing.T) {
	const copies = 20
	synctest.Test(t, func(t *testing.T) {
		h, ws := watchedHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-concurrent")
		id := r.Deliveries[0].ID

		report := func(fb notify.Feedback) {
			ws.barrier(copies)
			var wg sync.WaitGroup
			for range copies {
				wg.Go(func() { assert.NoError(t, h.d.Feedback(t.Context(), fb)) })
			}
			wg.Wait()
		}
		report(notify.Feedback{DeliveryID: id, ProviderID: "SM1", At: time.Now()})
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusDelivered, st[0].Status)
		assert.Equal(t, 3, len(st[0].Events), "queued, sent and one delivered")

		report(notify.Feedback{DeliveryID: id, ProviderID: "SM1",
			Err: notify.InvalidRecipient(errors.New("30005 unknown destination handset"))})
		assert.EqualValues(t, 1, ws.removes.Load(), "RemoveAddress calls")
		st, err = h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, 4, len(st[0].Events), "queued, sent, delivered and one undelivered")
		c, err := h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		assert.Empty(t, c.Phone)
	})
}

// TestFeedbackFailedActionRecordsNothing: when the action fails, the report
// is not recorded and Feedback fails, so the provider's retry does both.
func TestFeedbackFailedActionRecordsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, ws := watchedHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-fail")
		fb := notify.Feedback{DeliveryID: r.Deliveries[0].ID,
			Err: notify.InvalidRecipient(errors.New("30005 unknown destination handset"))}

		ws.failNext.Store(1)
		require.Error(t, h.d.Feedback(t.Context(), fb))
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusSent, st[0].Status, "nothing recorded")

		require.NoError(t, h.d.Feedback(t.Context(), fb), "the provider's retry")
		st, err = h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusUndelivered, st[0].Status)
		assert.NotContains(t, st[0].Reason, "failed")
		c, err := h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		assert.Empty(t, c.Phone, "the retry removed the number")
	})
}

// plainStore hides the memory Store's RecordOnce: Feedback falls back to
// reading the log before recording.
type plainStore struct{ notify.Store }

// TestFeedbackWithoutOnceRecorder: with a Store that is not a
// notify.OnceRecorder a report repeated later is still recorded and acted
// on once.
func TestFeedbackWithoutOnceRecorder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ws := &watchedStore{Store: smem.New(smem.Config{})}
		ws.failNext.Store(-1 << 30)
		h := newHarness(t, func(c *notify.Config) { c.Store = plainStore{ws} })
		h.store = ws.Store
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-plain")
		fb := notify.Feedback{DeliveryID: r.Deliveries[0].ID,
			Err: notify.InvalidRecipient(errors.New("30005 unknown destination handset"))}
		require.NoError(t, h.d.Feedback(t.Context(), fb))
		require.NoError(t, h.d.Feedback(t.Context(), fb))
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Len(t, st[0].Events, 3, "queued, sent, undelivered")
		assert.EqualValues(t, 1, ws.removes.Load(), "RemoveAddress calls")
	})
}
