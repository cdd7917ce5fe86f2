package notifytest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func delivery(id string) *notify.Delivery {
	return &notify.Delivery{ID: id, Channel: "sms", Address: "+15550100", Message: notify.Message{Body: "hi"}}
}

func TestChannelSucceedsByDefault(t *testing.T) {
	ctx := context.Background()
	c := notifytest.NewChannel("sms")
	assert.Equal(t, "sms", c.Name())
	res, err := c.Send(ctx, delivery("d1"))
	require.NoError(t, err)
	assert.Equal(t, "sms-1", res.ProviderID)
	res, err = c.Send(ctx, delivery("d2"))
	require.NoError(t, err)
	assert.Equal(t, "sms-2", res.ProviderID)

	sent := c.Sent()
	require.Len(t, sent, 2)
	assert.Equal(t, "d1", sent[0].ID)
	assert.Equal(t, "d2", sent[1].ID)
	assert.Equal(t, 1, c.SentCount("d1"))
	assert.Equal(t, 0, c.SentCount("nope"))
	assert.Empty(t, c.Duplicates())

	// Sent returns copies.
	sent[0].ID = "changed"
	assert.Equal(t, "d1", c.Sent()[0].ID)

	_, _ = c.Send(ctx, delivery("d1"))
	assert.Equal(t, []string{"d1"}, c.Duplicates())
	c.Reset()
	assert.Empty(t, c.Sent())
	assert.Empty(t, c.Calls())
}

func TestChannelFailFirst(t *testing.T) {
	ctx := context.Background()
	c := notifytest.NewChannel("apns").FailFirst(2, nil)
	for attempt := 1; attempt <= 3; attempt++ {
		d := delivery("d1")
		d.Attempt = attempt
		_, err := c.Send(ctx, d)
		if attempt <= 2 {
			require.Error(t, err, "attempt %d", attempt)
			assert.ErrorIs(t, err, notifytest.ErrScripted)
			assert.Equal(t, notify.OutcomeRetry, notify.Classify(err).Outcome)
		} else {
			assert.NoError(t, err, "attempt 3 after FailFirst(2)")
		}
	}
	// Per delivery ID: another delivery fails its own first two.
	_, err := c.Send(ctx, delivery("d2"))
	assert.Error(t, err)
	assert.Equal(t, 3, c.CallCount("d1"))
	assert.Equal(t, 1, c.SentCount("d1"))

	calls := c.Calls()
	require.Len(t, calls, 4)
	assert.Equal(t, 2, calls[1].Delivery.Attempt)
	assert.Error(t, calls[0].Err)
	assert.NoError(t, calls[2].Err)

	perm := notify.Permanent(errors.New("bad token"))
	c = notifytest.NewChannel("apns").FailFirst(1, perm)
	_, err = c.Send(ctx, delivery("d1"))
	assert.Equal(t, notify.OutcomePermanent, notify.Classify(err).Outcome)
}

func TestChannelFailRate(t *testing.T) {
	ctx := context.Background()
	count := func(seed uint64) (failed int) {
		c := notifytest.NewChannel("fcm").Seed(seed).FailRate(0.3, nil)
		for i := range 1000 {
			if _, err := c.Send(ctx, delivery(fmt.Sprint(i))); err != nil {
				failed++
			}
		}
		assert.Equal(t, 1000-failed, len(c.Sent()))
		return failed
	}
	a := count(7)
	assert.InDelta(t, 300, a, 60, "30%% of 1000 sends should fail")
	assert.Equal(t, a, count(7), "the same seed gives the same failures")
}

func TestChannelOnSend(t *testing.T) {
	ctx := context.Background()
	c := notifytest.NewChannel("email").FailFirst(5, nil).OnSend(func(d *notify.Delivery) (notify.Result, error) {
		if d.Address == "gone@example.com" {
			return notify.Result{}, notify.InvalidRecipient(errors.New("mailbox does not exist"))
		}
		return notify.Result{ProviderID: "ses-" + d.ID}, nil
	})
	d := delivery("d1")
	res, err := c.Send(ctx, d)
	require.NoError(t, err, "OnSend replaces FailFirst")
	assert.Equal(t, "ses-d1", res.ProviderID)
	d = delivery("d2")
	d.Address = "gone@example.com"
	_, err = c.Send(ctx, d)
	assert.Equal(t, notify.OutcomeInvalidRecipient, notify.Classify(err).Outcome)
	assert.Len(t, c.Sent(), 1)
	assert.Equal(t, "ses-d1", c.Calls()[0].Result.ProviderID)
}

func TestChannelLatencyAndWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := notifytest.NewChannel("sms").Latency(time.Second)
		start := time.Now()
		_, err := c.Send(context.Background(), delivery("d1"))
		require.NoError(t, err)
		assert.Equal(t, time.Second, time.Since(start))

		// A done context ends the send with an uncertain outcome.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = c.Send(ctx, delivery("d2"))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		oe := notify.Classify(err)
		assert.True(t, oe.MaybeSent, "a canceled send may have reached the provider")

		// WaitSent wakes as sends arrive.
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() { _, _ = c.Send(context.Background(), delivery(fmt.Sprint("w", i))) })
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer wcancel()
		require.NoError(t, c.WaitSent(wctx, 6))
		assert.Equal(t, time.Second, time.Since(start)-100*time.Millisecond-time.Second,
			"the five sends ran concurrently")
		wg.Wait()

		err = c.WaitSent(wctx, 7)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "WaitSent for more than will come")
	})
}

func TestValidatingChannel(t *testing.T) {
	c := notifytest.NewChannel("sms")
	v := c.WithMaxBytes(10)
	var _ notify.Validator = v
	var _ notify.Channel = v
	assert.NoError(t, v.Validate(delivery("d1")))
	big := delivery("d2")
	big.Message.Data = map[string]string{"key": "12345678"}
	assert.ErrorContains(t, v.Validate(big), "13 bytes")
	noAddr := delivery("d3")
	noAddr.Address = ""
	assert.Error(t, v.Validate(noAddr))

	_, err := v.Send(context.Background(), delivery("d1"))
	require.NoError(t, err)
	assert.Len(t, c.Sent(), 1, "sends through the view are recorded in the channel")
}

func TestBatchingChannel(t *testing.T) {
	c := notifytest.NewChannel("fcm").FailFirst(1, nil)
	b := c.Batching()
	var _ notify.BatchSender = b
	res, errs := b.SendBatch(context.Background(), []*notify.Delivery{delivery("a"), delivery("b")})
	require.Len(t, res, 2)
	require.Len(t, errs, 2)
	assert.Error(t, errs[0])
	assert.Error(t, errs[1])
	res, errs = b.SendBatch(context.Background(), []*notify.Delivery{delivery("a")})
	assert.NoError(t, errs[0])
	assert.NotEmpty(t, res[0].ProviderID)
	assert.Equal(t, []int{2, 1}, b.Batches())
	assert.Equal(t, 1, c.SentCount("a"))
}

func TestChannelConcurrent(t *testing.T) {
	c := notifytest.NewChannel("sms").FailRate(0.5, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				for {
					if _, err := c.Send(context.Background(), delivery(id)); err == nil {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, c.Sent(), 1600)
	assert.Empty(t, c.Duplicates())
	assert.Greater(t, len(c.Calls()), 1600)
}

func TestFeedbackRecorder(t *testing.T) {
	var r notifytest.FeedbackRecorder
	require.NoError(t, r.Feedback(context.Background(), notify.Feedback{DeliveryID: "a"}))
	r.Fail(notify.ErrNotFound)
	assert.ErrorIs(t, r.Feedback(context.Background(), notify.Feedback{DeliveryID: "b"}), notify.ErrNotFound)
	got := r.Reports()
	require.Len(t, got, 2)
	assert.Equal(t, "a", got[0].DeliveryID)
	assert.Equal(t, "b", got[1].DeliveryID)
}
