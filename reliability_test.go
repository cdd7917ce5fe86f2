package notify_test

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// sendMany sends n single-channel notifications in batches and returns
// every delivery ID.
func sendMany(t *testing.T, h *harness, n int, channel string) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 500 {
		batch := make([]notify.Notification, 0, 500)
		for i := start; i < min(n, start+500); i++ {
			batch = append(batch, notify.Notification{EventID: "ev-" + strconv.Itoa(i),
				To: []notify.Address{{Channel: channel, Value: "addr-" + strconv.Itoa(i)}}, Content: &notify.Message{Body: "hi"}})
		}
		rs, err := h.d.SendBatch(t.Context(), batch)
		require.NoError(t, err)
		for _, r := range rs {
			require.Len(t, r.Deliveries, 1)
			ids = append(ids, r.Deliveries[0].ID)
		}
	}
	return ids
}

// TestTenThousandExactlyOnce: 10,000 deliveries, 8 workers per channel,
// with no faults and with 30% injected retryable faults: every delivery
// reaches the channel exactly once, and the log counts every attempt.
func TestTenThousandExactlyOnce(t *testing.T) {
	for _, faults := range []float64{0, 0.3} {
		t.Run("faults="+strconv.FormatFloat(faults, 'f', 1, 64), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *notify.Config) {
					c.DefaultWorkers = 8
					c.Retry = notify.RetryPolicy{MaxAttempts: 50, BaseDelay: time.Millisecond, MaxDelay: time.Second}
				})
				sms := h.ch["sms"]
				if faults > 0 {
					sms.FailRate(faults, nil)
				}
				ids := sendMany(t, h, 10_000, "sms")
				h.run(t)
				for {
					synctest.Wait()
					if len(sms.Sent()) >= len(ids) {
						break
					}
					time.Sleep(time.Second)
				}
				synctest.Wait()
				assert.Len(t, sms.Sent(), 10_000)
				assert.Empty(t, sms.Duplicates(), "sent twice")
				failedCalls := len(sms.Calls()) - len(sms.Sent())
				attempts := 0
				for _, id := range ids {
					require.Equal(t, 1, sms.SentCount(id), "delivery %s", id)
					ds, err := h.store.Delivery(t.Context(), id)
					require.NoError(t, err)
					require.Equal(t, notify.StatusSent, ds.Status)
					attempts += ds.Attempts
				}
				assert.Equal(t, len(sms.Calls()), attempts, "every call is an attempt in the log")
				if faults > 0 {
					assert.InDelta(t, faults/(1-faults)*10_000, failedCalls, 1_000, "about 30%% of calls failed")
				} else {
					assert.Zero(t, failedCalls)
				}
				st, err := h.queue.Stats(t.Context(), "notify.sms")
				require.NoError(t, err)
				assert.Equal(t, notify.QueueStats{}, st)
			})
		})
	}
}

// TestRunCanceledMidwayLosesNothing stops Run while sends are in flight and
// starts it again on the same queue: every delivery arrives, none twice.
func TestRunCanceledMidwayLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.ShutdownGrace = 50 * time.Millisecond })
		sms := h.ch["sms"].Latency(20 * time.Millisecond)
		ids := sendMany(t, h, 500, "sms")
		for round := 0; len(sms.Sent()) < len(ids); round++ {
			require.Less(t, round, 100)
			stop := h.run(t)
			time.Sleep(30 * time.Millisecond) // part of the way
			stop()
			// Nothing is left leased: unfinished work went back to the queue.
			st, err := h.queue.Stats(t.Context(), "notify.sms")
			require.NoError(t, err)
			assert.Zero(t, st.InFlight, "round %d", round)
		}
		assert.Len(t, sms.Sent(), len(ids))
		assert.Empty(t, sms.Duplicates())
	})
}

// TestShutdownCancelsSendsPastGrace: a send that outlives the grace period
// is canceled and its job returns to the queue; Run returns.
func TestShutdownCancelsSendsPastGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.ShutdownGrace = time.Second })
		h.ch["sms"].Latency(time.Hour)
		ids := sendMany(t, h, 3, "sms")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = h.d.Run(ctx); close(done) }()
		synctest.Wait()
		start := time.Now()
		cancel()
		<-done
		assert.Equal(t, time.Second, time.Since(start), "Run returns at the end of the grace period")
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, 3, st.Ready, "the interrupted jobs are back on the queue")
		ds, err := h.store.Delivery(t.Context(), ids[0])
		require.NoError(t, err)
		assert.Equal(t, notify.StatusRetrying, ds.Status)
		assert.True(t, ds.Events[len(ds.Events)-1].MaybeSent, "the provider may have it: recorded")
	})
}

// TestLeaseExpiryRedeliversToAnotherDispatcher: a worker that dies holding a
// lease (here: a Dispatcher whose Run is never told) loses it after the
// visibility timeout, and the job is delivered by the survivor.
func TestLeaseExpiryRedelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		ids := sendMany(t, h, 1, "sms")
		// A crashed worker: it leased the job and vanished.
		leases, err := h.queue.Receive(t.Context(), "notify.sms", 1)
		require.NoError(t, err)
		require.Len(t, leases, 1)
		h.run(t)
		synctest.Wait()
		assert.Empty(t, h.ch["sms"].Sent(), "leased by someone else")
		time.Sleep(time.Minute) // the harness queue's visibility timeout
		synctest.Wait()
		require.Len(t, h.ch["sms"].Sent(), 1)
		assert.Equal(t, ids[0], h.ch["sms"].Sent()[0].ID)
		assert.ErrorIs(t, h.queue.Ack(t.Context(), leases[0]), notify.ErrLeaseLost, "the dead worker's ack is refused")
	})
}
