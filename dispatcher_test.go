package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// Every test here runs in a synctest bubble: backoff, TTLs, rate windows and
// lease expiry run on the bubble's fake clock, and "wait until settled" means
// "until every goroutine is blocked", not a sleep on the wall clock.

func byChannel(ds []notify.DeliveryRecord) map[string]notify.DeliveryRecord {
	m := map[string]notify.DeliveryRecord{}
	for _, d := range ds {
		m[d.Channel] = d
	}
	return m
}

func TestSendDeliversOnEveryChannel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		r, err := h.d.Send(t.Context(), welcome("signup:ana"))
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 4)
		assert.False(t, r.Duplicate)
		assert.Equal(t, "signup:ana", r.EventID)

		ds := byChannel(h.settle(t, r.NotificationID))
		for _, name := range []string{"apns", "fcm", "sms", "email"} {
			assert.Equal(t, notify.StatusSent, ds[name].Status, name)
			assert.Equal(t, 1, ds[name].Attempts, name)
			assert.NotEmpty(t, ds[name].ProviderID, name)
			require.Len(t, h.ch[name].Sent(), 1, name)
		}
		// Rendered per channel and locale: pt-BR falls back to pt for push,
		// to the default for the channels pt has no variant for.
		assert.Equal(t, "Bem-vindo, Ana", h.ch["apns"].Sent()[0].Message.Title)
		assert.Equal(t, "Welcome, Ana!", h.ch["sms"].Sent()[0].Message.Body)
		assert.Equal(t, "<p>Hi Ana.</p>", h.ch["email"].Sent()[0].Message.HTML)
		assert.Equal(t, "+15005550006", h.ch["sms"].Sent()[0].Address)
	})
}

func TestSendSameEventTwiceDeliversOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		n := welcome("order:7:shipped")
		n.Channels = []string{"sms"}
		first, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		h.settle(t, first.NotificationID)
		second, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.True(t, second.Duplicate)
		assert.Equal(t, first.NotificationID, second.NotificationID)
		require.Len(t, second.Deliveries, 1)
		assert.Equal(t, first.Deliveries[0].ID, second.Deliveries[0].ID)
		assert.Equal(t, notify.StatusSent, second.Deliveries[0].Status)
		synctest.Wait()
		assert.Len(t, h.ch["sms"].Sent(), 1)
	})
}

func TestConcurrentDuplicateSendsQueueOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		results := make(chan notify.Receipt, 20)
		for range 20 {
			go func() {
				r, err := h.d.Send(context.Background(), welcome("race"))
				assert.NoError(t, err)
				results <- r
			}()
		}
		dups := 0
		var id string
		for range 20 {
			r := <-results
			if r.Duplicate {
				dups++
			}
			if id == "" {
				id = r.NotificationID
			}
			assert.Equal(t, id, r.NotificationID)
		}
		assert.Equal(t, 19, dups)
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, 1, st.Ready)
	})
}

func TestEmptyEventIDIsGenerated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		n := welcome("")
		n.Channels = []string{"sms"}
		a, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		b, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.NotEmpty(t, a.EventID)
		assert.NotEqual(t, a.EventID, b.EventID, "no event ID: no dedup")
		assert.False(t, b.Duplicate)
	})
}

func TestOptedOutChannelIsSkippedCriticalBypasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		require.NoError(t, h.store.SetPreference(t.Context(), "ana", "marketing", "sms", false))
		h.run(t)

		n := welcome("promo")
		n.Category = "marketing"
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Len(t, r.Deliveries, 3)
		assert.Contains(t, r.Skipped, notify.Skip{Channel: "sms", Reason: notify.ReasonOptedOut})
		ds := byChannel(h.settle(t, r.NotificationID))
		assert.Equal(t, notify.StatusSkipped, ds["sms"].Status, "the skip is in the log")

		n = welcome("reset")
		n.Category, n.Critical = "marketing", true
		r, err = h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Len(t, r.Deliveries, 4)
		h.settle(t, r.NotificationID)
		assert.Len(t, h.ch["sms"].Sent(), 1, "only the critical one went by SMS")
	})
}

func TestOptOutAfterAcceptIsRechecked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		n := welcome("late-opt-out")
		n.Channels, n.Category = []string{"email"}, "news"
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		require.NoError(t, h.store.SetPreference(t.Context(), "ana", "news", "email", false))
		h.run(t)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSkipped, ds[0].Status)
		assert.Equal(t, notify.ReasonOptedOut, ds[0].Reason)
		assert.Empty(t, h.ch["email"].Calls())
	})
}

func TestScheduledSendWaitsForSendAt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		n := welcome("later")
		n.Channels = []string{"sms"}
		n.SendAt = time.Now().Add(time.Hour)
		_, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		assert.Empty(t, h.ch["sms"].Calls(), "sent before SendAt")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.Len(t, h.ch["sms"].Sent(), 1)
	})
}

func TestExpiredDeliveryIsNotSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		n := welcome("otp")
		n.Channels, n.TTL = []string{"sms"}, 5*time.Minute
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		time.Sleep(6 * time.Minute) // nobody was running
		h.run(t)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusExpired, ds[0].Status)
		assert.Empty(t, h.ch["sms"].Calls())
	})
}

func TestOutcomes(t *testing.T) {
	cause := errors.New("provider said no")
	tests := []struct {
		name   string
		err    error
		status notify.Status
		check  func(t *testing.T, h *harness)
	}{
		{"permanent", notify.Permanent(cause), notify.StatusFailed, nil},
		{"invalid recipient removes the address", notify.InvalidRecipient(cause), notify.StatusInvalid, func(t *testing.T, h *harness) {
			c, err := h.store.Contact(t.Context(), "ana")
			require.NoError(t, err)
			assert.Empty(t, c.Phone)
		}},
		{"opted out is stored", notify.OptedOut(cause), notify.StatusOptedOut, func(t *testing.T, h *harness) {
			ok, err := h.d.Allowed(t.Context(), "ana", "default", "sms")
			require.NoError(t, err)
			assert.False(t, ok)
			ok, err = h.d.Allowed(t.Context(), "ana", "default", "email")
			require.NoError(t, err)
			assert.True(t, ok, "only that channel")
		}},
		{"retries exhausted go dead", notify.Retryable(cause, 0), notify.StatusDead, func(t *testing.T, h *harness) {
			st, err := h.queue.Stats(t.Context(), "notify.sms")
			require.NoError(t, err)
			assert.Equal(t, 1, st.Dead)
			assert.Equal(t, 5, h.ch["sms"].CallCount(h.ch["sms"].Calls()[0].Delivery.ID))
		}},
		{"unclassified errors are retried", cause, notify.StatusDead, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.contact(t, ana)
				h.ch["sms"].OnSend(func(*notify.Delivery) (notify.Result, error) { return notify.Result{}, tc.err })
				h.run(t)
				n := welcome("e")
				n.Channels = []string{"sms"}
				r, err := h.d.Send(t.Context(), n)
				require.NoError(t, err)
				ds := h.settle(t, r.NotificationID)
				assert.Equal(t, tc.status, ds[0].Status)
				assert.Contains(t, ds[0].Reason, "provider said no")
				if tc.check != nil {
					tc.check(t, h)
				}
			})
		})
	}
}

func TestRetryThenDeliveredHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.ch["sms"].FailFirst(2, notify.Retryable(errors.New("503"), time.Minute))
		h.run(t)
		n := welcome("flaky")
		n.Channels = []string{"sms"}
		start := time.Now()
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSent, ds[0].Status)
		assert.Equal(t, 3, ds[0].Attempts)
		calls := h.ch["sms"].Calls()
		require.Len(t, calls, 3)
		assert.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Minute, "Retry-After honoured")
		assert.GreaterOrEqual(t, calls[2].At.Sub(start), 2*time.Minute)
		var statuses []notify.Status
		for _, e := range ds[0].Events {
			statuses = append(statuses, e.Status)
		}
		assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusRetrying, notify.StatusRetrying, notify.StatusSent}, statuses)
	})
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

func TestConfigErrorKeepsDeliveryQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.ConfigErrorDelay = time.Hour })
		h.contact(t, ana)
		broken := true
		h.ch["sms"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			if broken {
				return notify.Result{}, notify.ConfigError(errors.New("bad credentials"))
			}
			return notify.Result{ProviderID: "SM1"}, nil
		})
		h.run(t)
		n := welcome("cfg")
		n.Channels = []string{"sms"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		for range 10 { // ten hours of a broken configuration: never dead
			time.Sleep(time.Hour)
			synctest.Wait()
		}
		ds, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusConfig, ds[0].Status)
		assert.Equal(t, 0, ds[0].Attempts, "configuration errors are not attempts")
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, 1, st.Delayed)
		h.ch["sms"].OnSend(nil)
		broken = false
		time.Sleep(time.Hour)
		ds = h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSent, ds[0].Status)
	})
}

func TestDeadThenReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.ch["sms"].FailFirst(5, nil)
		h.run(t)
		n := welcome("dead")
		n.Channels = []string{"sms"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		require.Equal(t, notify.StatusDead, ds[0].Status)
		assert.Equal(t, 5, ds[0].Attempts)

		require.ErrorIs(t, h.d.Replay(t.Context(), "no-such-delivery"), notify.ErrNotFound)
		require.NoError(t, h.d.Replay(t.Context(), ds[0].DeliveryID))
		ds = h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSent, ds[0].Status)
		assert.Equal(t, 1, ds[0].Attempts, "replay resets attempts")
		assert.ErrorIs(t, h.d.Replay(t.Context(), ds[0].DeliveryID), notify.ErrNotDead)
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

func TestRateLimitDeferAndDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) {
			c.Categories = map[string]notify.CategoryPolicy{
				"chat":      {Limit: notify.Limit{Rate: 3, Per: time.Minute}, OverLimit: notify.OverLimitDefer},
				"marketing": {Limit: notify.Limit{Rate: 2, Per: time.Hour}, OverLimit: notify.OverLimitDrop},
			}
		})
		h.contact(t, ana)
		h.run(t)
		send := func(cat string, i int) {
			n := welcome(cat + string(rune('a'+i)))
			n.Channels, n.Category = []string{"sms"}, cat
			_, err := h.d.Send(t.Context(), n)
			require.NoError(t, err)
		}
		for i := range 5 {
			send("marketing", i)
		}
		synctest.Wait()
		assert.Len(t, h.ch["sms"].Sent(), 2, "drop: two of five")

		h.ch["sms"].Reset()
		for i := range 6 {
			send("chat", i)
		}
		synctest.Wait()
		assert.Len(t, h.ch["sms"].Sent(), 3, "defer: the burst first")
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.Len(t, h.ch["sms"].Sent(), 6, "defer: the rest once the limiter allows")
	})
}

func TestInvalidRecipientKeepsReRegisteredToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		c := ana
		c.Devices = []notify.Device{{Platform: "apns", Token: "tok", RegisteredAt: time.Now()}}
		h.contact(t, c)
		verdict := time.Now().Add(-time.Hour) // the provider saw the token die before it was registered again
		h.ch["apns"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			return notify.Result{}, notify.InvalidRecipientAt(errors.New("410 Unregistered"), verdict)
		})
		h.run(t)
		n := welcome("410")
		n.Channels = []string{"apns"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		h.settle(t, r.NotificationID)
		got, err := h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		assert.Len(t, got.Devices, 1, "registered after the 410's timestamp: kept")
	})
}

func TestBatchChannelGetsSendBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		batcher := h.ch["fcm"].Batching()
		cfg := h.cfg
		cfg.Channels = []notify.Channel{batcher}
		d, err := notify.New(cfg)
		require.NoError(t, err)
		var ns []notify.Notification
		for i := range 50 {
			ns = append(ns, notify.Notification{To: []notify.Address{{Channel: "fcm", Value: "t" + string(rune('A'+i))}},
				Content: &notify.Message{Title: "hi", Body: "there"}})
		}
		rs, err := d.SendBatch(t.Context(), ns)
		require.NoError(t, err)
		require.Len(t, rs, 50)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = d.Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		assert.Len(t, h.ch["fcm"].Sent(), 50)
		total := 0
		for _, b := range batcher.Batches() {
			total += b
		}
		assert.Equal(t, 50, total)
		assert.Greater(t, total, len(batcher.Batches()), "several deliveries per call")
	})
}

func TestOptedOutEverywhereCoversEveryCategory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.ch["sms"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			return notify.Result{}, notify.OptedOutEverywhere(errors.New("21610 STOP"))
		})
		h.run(t)
		n := welcome("stop")
		n.Channels, n.Category = []string{"sms"}, "news"
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusOptedOut, h.settle(t, r.NotificationID)[0].Status)

		n = welcome("other")
		n.Channels, n.Category = []string{"sms", "email"}, "billing"
		r, err = h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Equal(t, []notify.Skip{{Channel: "sms", Reason: notify.ReasonOptedOut}}, r.Skipped)
		require.Len(t, r.Deliveries, 1)
		assert.Equal(t, "email", r.Deliveries[0].Channel)
	})
}
