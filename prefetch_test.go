package notify_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
)

// Run leases ahead of its free workers: up to one lease per worker and
// min(Workers, ReceiveBatch) more, waiting for a worker. These tests pin
// what happens to a lease while it waits.

// recordingQueue wraps a Queue, hiding its optional interfaces, and
// records when each delivery's job was received and how many leases were
// returned with Nack.
type recordingQueue struct {
	notify.Queue
	mu       sync.Mutex
	received map[string][]time.Time // by delivery ID
	nacks    atomic.Int64
}

func (q *recordingQueue) Receive(ctx context.Context, name string, max int) ([]notify.Lease, error) {
	ls, err := q.Queue.Receive(ctx, name, max)
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.received == nil {
		q.received = map[string][]time.Time{}
	}
	for _, l := range ls {
		if l.Job.Delivery != nil {
			q.received[l.Job.Delivery.ID] = append(q.received[l.Job.Delivery.ID], now)
		}
	}
	return ls, err
}

func (q *recordingQueue) Nack(ctx context.Context, l notify.Lease, delay time.Duration) error {
	q.nacks.Add(1)
	return q.Queue.Nack(ctx, l, delay)
}

func (q *recordingQueue) receipts(deliveryID string) []time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]time.Time(nil), q.received[deliveryID]...)
}

// unwrappingQueue is a recordingQueue whose optional interfaces (a
// LeaseExtender among them) are found by unwrapping it.
type unwrappingQueue struct{ *recordingQueue }

func (q unwrappingQueue) Unwrap() any { return q.recordingQueue.Queue }

// deadlineChannel records how much time each Send's context had left
// when the call started, by delivery ID.
type deadlineChannel struct {
	notify.Channel
	mu   sync.Mutex
	left map[string][]time.Duration
}

func (c *deadlineChannel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	dl, ok := ctx.Deadline()
	c.mu.Lock()
	if c.left == nil {
		c.left = map[string][]time.Duration{}
	}
	if ok {
		c.left[d.ID] = append(c.left[d.ID], time.Until(dl))
	}
	c.mu.Unlock()
	return c.Channel.Send(ctx, d)
}

func (c *deadlineChannel) timeLeft(deliveryID string) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.left[deliveryID]...)
}

// A lease that waited for a worker until it nearly ended is checked again
// before its send: extended back to its length when the queue can, else
// returned to the queue and sent on a fresh lease. One that ended while it waited is
// dropped unhandled, and sent on its next lease. No send starts on the
// aged lease.
func TestLeaseThatWaitedForAWorkerIsCheckedBeforeItsSend(t *testing.T) {
	const vis = 10 * time.Second
	for _, tc := range []struct {
		name   string
		extend bool
		// slow is how long the first send keeps the only worker while the
		// second lease waits. Lease 10s, reserve 2.5s, start margin 0.6s:
		// after 7s of waiting, the second lease has 0.5s before its cutoff.
		slow     time.Duration
		receipts int           // of the job that waited
		nacks    int64         // by Run
		left     time.Duration // time left on the waiting job's send
	}{
		{name: "extended", extend: true, slow: 7 * time.Second, receipts: 1, left: 20 * time.Second},
		// A fresh lease of 10s, less the 2.5s reserve.
		{name: "returned", slow: 7 * time.Second, receipts: 2, nacks: 1, left: vis - vis/4},
		{name: "ended", extend: true, slow: 11 * time.Second, receipts: 2, left: 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mq := qmem.New(qmem.Config{Visibility: vis})
				rq := &recordingQueue{Queue: mq}
				var q notify.Queue = rq
				if tc.extend {
					q = unwrappingQueue{rq}
				}
				fake := notifytest.NewChannel(notify.ChannelSMS)
				ch := &deadlineChannel{Channel: fake}
				var first atomic.Value
				fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
					if first.CompareAndSwap(nil, d.ID) {
						time.Sleep(tc.slow)
					}
					return notify.Result{ProviderID: "ok-" + d.ID}, nil
				})
				h := newHarness(t, func(c *notify.Config) {
					c.Queue = q
					c.Channels = []notify.Channel{ch}
					c.Workers = map[string]int{notify.ChannelSMS: 1}
					c.ReceiveBatch = 1
					c.SendTimeout = 20 * time.Second
				})
				h.queue = mq
				ids := smsUsers(t, h, 2)
				start := time.Now()
				h.run(t)
				var dels []string
				for _, id := range ids {
					ds := h.settle(t, id)
					require.Len(t, ds, 1)
					assert.Equal(t, notify.StatusSent, ds[0].Status)
					assert.Equal(t, 1, ds[0].Attempts, "a lease returned or dropped before its send is no attempt")
					assert.Equal(t, 1, fake.CallCount(ds[0].DeliveryID), "sent once")
					dels = append(dels, ds[0].DeliveryID)
				}
				slowID, _ := first.Load().(string)
				require.NotEmpty(t, slowID)
				var waited string
				for _, id := range dels {
					if id != slowID {
						waited = id
					}
				}
				rs := rq.receipts(waited)
				require.NotEmpty(t, rs)
				assert.Less(t, rs[0].Sub(start), time.Second, "the second job was leased while the only worker was sending the first")
				assert.Len(t, rs, tc.receipts)
				assert.Equal(t, tc.nacks, rq.nacks.Load())
				left := ch.timeLeft(waited)
				require.Len(t, left, 1)
				assert.Equal(t, tc.left, left[0], "the send ran on a fresh or extended lease, not on the aged one")
			})
		})
	}
}

// At shutdown the leases waiting for a worker go back to the queue at
// once, unattempted; the in-flight sends finish within the grace period.
// Run never holds more than one lease per worker plus
// min(Workers, ReceiveBatch).
func TestShutdownReturnsLeasesWaitingForAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		fake := notifytest.NewChannel(notify.ChannelSMS)
		fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
			<-release
			return notify.Result{ProviderID: "ok-" + d.ID}, nil
		})
		h := newHarness(t, func(c *notify.Config) {
			c.Channels = []notify.Channel{fake}
			c.Workers = map[string]int{notify.ChannelSMS: 2}
			c.ReceiveBatch = 8
		})
		ids := smsUsers(t, h, 10)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { assert.NoError(t, h.d.Run(ctx)) })
		synctest.Wait()
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 6, InFlight: 4}, st, "2 sending, 2 waiting for a worker")

		cancel()
		synctest.Wait() // no time passes: the waiting leases are back at once
		st, err = h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 8, InFlight: 2}, st, "only the 2 sends in flight hold their leases")

		close(release)
		wg.Wait()
		sent := 0
		for _, id := range ids {
			ds, err := h.d.Status(t.Context(), id)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			switch ds[0].Status {
			case notify.StatusSent:
				sent++
			case notify.StatusQueued:
				assert.Zero(t, ds[0].Attempts, "a lease returned at shutdown is no attempt")
			default:
				t.Errorf("delivery %s: %s", ds[0].DeliveryID, ds[0].Status)
			}
		}
		assert.Equal(t, 2, sent, "the sends in flight finished within the grace period")
		assert.Len(t, fake.Calls(), 2, "nothing started after ctx ended")
		st, err = h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 8}, st)
	})
}
