package notify_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

func TestOneDeliveryPerAddress(t *testing.T) {
	h := newHarness(t)
	c := ana
	c.Devices = append(c.Devices, notify.Device{Platform: "apns", Token: "apns-token-1"}) // registered twice
	h.contact(t, c)
	n := welcome("dups")
	n.Channels = []string{"sms", "sms", "apns"}
	n.To = []notify.Address{{Channel: "sms", Value: ana.Phone}, {Channel: "sms", Value: "+15005550099"}}
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	var got []string
	for _, d := range r.Deliveries {
		got = append(got, d.Channel+" "+d.Address)
	}
	assert.ElementsMatch(t, []string{"sms +15005550006", "sms +15005550099", "apns apns-token-1"}, got)
}

func TestMoreBadInput(t *testing.T) {
	h := newHarness(t)
	h.contact(t, ana)
	for name, tc := range map[string]struct {
		n     notify.Notification
		field string
	}{
		"reserved category": {notify.Notification{UserID: "ana", Category: notify.AllCategories, Content: &notify.Message{Body: "x"}}, "Category"},
		"NUL in user ID":    {notify.Notification{UserID: "a\x00b", Content: &notify.Message{Body: "x"}}, "UserID"},
		"data not JSON":     {notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "f": func() {}}}, "Data"},
		"NaN in data":       {notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": []any{math.NaN()}}}, "Data"},
		"address too long":  {notify.Notification{To: []notify.Address{{Channel: "sms", Value: string(make([]byte, 2000))}}, Content: &notify.Message{Body: "x"}}, "To[0].Value"},
		"address not UTF-8": {notify.Notification{To: []notify.Address{{Channel: "sms", Value: "\xff"}}, Content: &notify.Message{Body: "x"}}, "To[0].Value"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.d.Send(t.Context(), tc.n)
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assertNothingStored(t, h)
		})
	}
}

// failingLog makes Record fail.
type failingLog struct{ notify.Store }

func (failingLog) Record(context.Context, ...notify.Event) error { return errors.New("log down") }

func TestSendBatchReportsEveryFailure(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Store = failingLog{h.store}
	d, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = d.SendBatch(t.Context(), []notify.Notification{
		{UserID: "ana"}, // invalid
		{To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}},
	})
	var be *notify.BatchError
	require.ErrorAs(t, err, &be)
	var ve *notify.ValidationError
	assert.ErrorAs(t, be.Errs[0], &ve)
	assert.ErrorContains(t, be.Errs[1], "log down")
}

func TestRepeatInsideOneBatch(t *testing.T) {
	h := newHarness(t)
	n := notify.Notification{EventID: "same", To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}}
	rs, err := h.d.SendBatch(t.Context(), []notify.Notification{n, n})
	require.NoError(t, err)
	assert.False(t, rs[0].Duplicate)
	assert.True(t, rs[1].Duplicate)
	assert.Equal(t, rs[0].NotificationID, rs[1].NotificationID)
	assert.Equal(t, rs[0].Deliveries, rs[1].Deliveries)
	st, err := h.queue.Stats(t.Context(), "notify.sms")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Ready)
}

func TestClaimedButNotLoggedIsInProgress(t *testing.T) {
	h := newHarness(t)
	// Another Send (or one that died) holds the claim and logged nothing.
	ok, _, err := h.cfg.Deduper.Claim(t.Context(), "held", "some-other-notification", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = h.d.Send(t.Context(), notify.Notification{EventID: "held", To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}})
	require.ErrorIs(t, err, notify.ErrInProgress, "never a silent duplicate of nothing")
}

// lossyDeduper claims, then reports a timeout: the claim was written but
// the caller does not know.
type lossyDeduper struct {
	notify.Deduper
	lose bool
}

func (l *lossyDeduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	ok, holder, err := l.Deduper.Claim(ctx, key, owner, ttl)
	if l.lose {
		return false, "", context.DeadlineExceeded
	}
	return ok, holder, err
}

func TestClaimErrorReleasesTheClaim(t *testing.T) {
	h := newHarness(t)
	ld := &lossyDeduper{Deduper: h.cfg.Deduper, lose: true}
	cfg := h.cfg
	cfg.Deduper = ld
	d, err := notify.New(cfg)
	require.NoError(t, err)
	n := notify.Notification{EventID: "lost-reply", To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}}
	_, err = d.Send(t.Context(), n)
	require.Error(t, err)
	ld.lose = false
	r, err := d.Send(t.Context(), n)
	require.NoError(t, err, "the retry is not taken for a duplicate")
	assert.False(t, r.Duplicate)
	assert.Len(t, r.Deliveries, 1)
}

func TestMaxAgeCountsFromSendAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) {
			c.Retry = notify.RetryPolicy{MaxAge: time.Hour, MaxAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Second}
		})
		h.ch["sms"].FailFirst(2, nil)
		h.run(t)
		n := notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"},
			SendAt: time.Now().Add(25 * time.Hour)}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSent, ds[0].Status, "scheduled a day ahead, yet retried: MaxAge starts at SendAt")
		assert.Equal(t, 3, ds[0].Attempts)
	})
}

func TestConcurrentReplaysQueueOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.ch["sms"].FailFirst(5, nil)
		h.run(t)
		r, err := h.d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}})
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		require.Equal(t, notify.StatusDead, ds[0].Status)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = h.d.Replay(context.Background(), ds[0].DeliveryID) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				assert.ErrorIs(t, err, notify.ErrNotDead)
			}
		}
		assert.Equal(t, 1, ok)
		ds = h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSent, ds[0].Status, "the log never says dead for a delivery that was sent")
		assert.Equal(t, 1, h.ch["sms"].SentCount(ds[0].DeliveryID))
	})
}

// uuidV7At makes a version 7 UUID stamped at (what a Send claimed with).
func uuidV7At(at time.Time) string {
	var u uuid.UUID
	ms := at.UnixMilli()
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6], u[8] = 0x70, 0x80
	return u.String()
}
