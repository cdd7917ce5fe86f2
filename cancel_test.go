package notify_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// refIDs returns the delivery IDs of refs.
func refIDs(refs []notify.DeliveryRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func receiptIDs(r notify.Receipt) []string { return refIDs(r.Deliveries) }

// A notification scheduled with SendAt is taken off its queues whole and
// never sent; a second Cancel answers as the first.
func TestCancelScheduled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		n := welcome("digest:ana")
		n.SendAt = time.Now().Add(time.Hour)
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 4)

		res, err := h.d.Cancel(t.Context(), "digest:ana")
		require.NoError(t, err)
		assert.Equal(t, r.NotificationID, res.NotificationID)
		assert.ElementsMatch(t, receiptIDs(r), refIDs(res.Canceled))
		assert.Empty(t, res.TooLate)
		assert.Empty(t, res.Final)
		for _, c := range res.Canceled {
			assert.Equal(t, notify.StatusCanceled, c.Status)
		}

		time.Sleep(2 * time.Hour) // past SendAt
		synctest.Wait()
		for name, ch := range h.ch {
			assert.Empty(t, ch.Calls(), "%s: a canceled delivery reached the channel", name)
		}
		recs, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		for _, rec := range recs {
			assert.Equal(t, notify.StatusCanceled, rec.Status, rec.Channel)
			assert.Equal(t, notify.ReasonCanceled, rec.Reason, rec.Channel)
		}
		for _, name := range []string{"apns", "fcm", "sms", "email"} {
			st, err := h.queue.Stats(t.Context(), h.d.QueueName(name))
			require.NoError(t, err)
			assert.Equal(t, notify.QueueStats{}, st, name)
		}

		again, err := h.d.Cancel(t.Context(), "digest:ana")
		require.NoError(t, err)
		assert.ElementsMatch(t, refIDs(res.Canceled), refIDs(again.Canceled), "a second Cancel answers as the first")
		byID, err := h.d.CancelNotification(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.ElementsMatch(t, refIDs(res.Canceled), refIDs(byID.Canceled), "CancelNotification")
	})
}

// A delivery deferred by its rate limit waits on its queue: Cancel takes it
// back; the one sent before it is too late.
func TestCancelDeferred(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) {
			c.Categories = map[string]notify.CategoryPolicy{"digest": {Limit: notify.Limit{Rate: 1, Per: time.Hour}}}
		})
		h.contact(t, ana)
		h.run(t)
		send := func(event string) notify.Receipt {
			n := welcome(event)
			n.Category, n.Channels = "digest", []string{"sms"}
			r, err := h.d.Send(t.Context(), n)
			require.NoError(t, err)
			return r
		}
		first := send("digest:1")
		h.settle(t, first.NotificationID)
		second := send("digest:2")
		synctest.Wait() // its first attempt has met the limit
		rec, err := h.d.Status(t.Context(), second.NotificationID)
		require.NoError(t, err)
		require.Equal(t, notify.StatusDeferred, rec[0].Status)

		res, err := h.d.Cancel(t.Context(), "digest:2")
		require.NoError(t, err)
		assert.Equal(t, receiptIDs(second), refIDs(res.Canceled))
		assert.Empty(t, res.TooLate)

		res, err = h.d.Cancel(t.Context(), "digest:1")
		require.NoError(t, err)
		assert.Empty(t, res.Canceled)
		require.Len(t, res.TooLate, 1, "a delivery already sent is too late")
		assert.Equal(t, notify.StatusSent, res.TooLate[0].Status)

		time.Sleep(3 * time.Hour) // the limit would have let it through
		synctest.Wait()
		assert.Len(t, h.ch["sms"].Sent(), 1, "only the first was sent")
		assert.Equal(t, 0, h.ch["sms"].CallCount(second.Deliveries[0].ID))
	})
}

// A delivery waiting for a retry's backoff is taken back; one that ended
// without being sent is reported final.
func TestCancelRetryingAndFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) {
			// Retries wait a random time up to MaxDelay ("full jitter"):
			// a long one makes a retry before the checks below unlikely
			// (one in 360,000).
			c.Retry = notify.RetryPolicy{BaseDelay: 100 * time.Hour, MaxDelay: 100 * time.Hour, MaxAge: 200 * time.Hour, MaxAttempts: 5}
		})
		h.contact(t, ana)
		h.ch["sms"].FailFirst(1, notify.Retryable(errors.New("503"), 0))
		h.ch["email"].FailFirst(1, notify.Permanent(errors.New("550 rejected")))
		h.run(t)
		n := welcome("retry:1")
		n.Channels = []string{"sms", "email"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		time.Sleep(time.Second) // both first attempts done; sms waits for its retry
		synctest.Wait()
		recs := byChannel(mustStatus(t, h, r.NotificationID))
		require.Equal(t, notify.StatusRetrying, recs["sms"].Status)
		require.Equal(t, notify.StatusFailed, recs["email"].Status)

		res, err := h.d.Cancel(t.Context(), "retry:1")
		require.NoError(t, err)
		assert.Equal(t, []string{recs["sms"].DeliveryID}, refIDs(res.Canceled))
		assert.Equal(t, []string{recs["email"].DeliveryID}, refIDs(res.Final))
		assert.Equal(t, notify.StatusFailed, res.Final[0].Status)
		time.Sleep(101 * time.Hour) // past any retry delay
		synctest.Wait()
		assert.Equal(t, 1, h.ch["sms"].CallCount(recs["sms"].DeliveryID), "no attempt after Cancel")
	})
}

func mustStatus(t *testing.T, h *harness, nid string) []notify.DeliveryRecord {
	t.Helper()
	recs, err := h.d.Status(t.Context(), nid)
	require.NoError(t, err)
	return recs
}

func TestCancelNotFound(t *testing.T) {
	h := newHarness(t)
	_, err := h.d.Cancel(t.Context(), "never-sent")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	_, err = h.d.CancelNotification(t.Context(), "no-such-notification")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	_, err = h.d.Cancel(t.Context(), "")
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "EventID", ve.Field)
	_, err = h.d.CancelNotification(t.Context(), "")
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "NotificationID", ve.Field)
}

func TestCancelUnsupportedQueue(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Queue = plainQueue{c.Queue} })
	h.contact(t, ana)
	n := welcome("plain:1")
	n.SendAt = time.Now().Add(time.Hour)
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	_, err = h.d.Cancel(t.Context(), "plain:1")
	require.ErrorIs(t, err, errors.ErrUnsupported)
	assert.Contains(t, err.Error(), "notify.Canceler")
	for _, rec := range mustStatus(t, h, r.NotificationID) {
		assert.Equal(t, notify.StatusQueued, rec.Status, "nothing changed")
	}
}

// Cancel racing the workers, 1,000 times on the memory backends.
func TestCancelRacesDelivery(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	q := qmem.New(qmem.Config{Visibility: time.Minute})
	t.Cleanup(func() { _ = q.Close() })
	notifytest.TestCancelRace(t, notify.Config{Queue: q, Store: smem.New(smem.Config{}), Deduper: dmem.New(dmem.Config{})}, n)
}
