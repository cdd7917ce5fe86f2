package notify_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// waitingChannel waits for its context to end and reports what it saw.
type waitingChannel struct{ saw chan attemptSeen }

type attemptSeen struct {
	deadline, ended time.Time
	hasDeadline     bool
	err             error
}

func (c *waitingChannel) Name() string { return notify.ChannelSMS }

func (c *waitingChannel) Send(ctx context.Context, _ *notify.Delivery) (notify.Result, error) {
	dl, ok := ctx.Deadline()
	<-ctx.Done()
	select {
	case c.saw <- attemptSeen{deadline: dl, ended: time.Now(), hasDeadline: ok, err: ctx.Err()}:
	default:
	}
	return notify.Result{}, ctx.Err()
}

// A Channel call's context carries its deadline (Config.SendTimeout after
// the attempt starts) and ends exactly then with
// context.DeadlineExceeded, as a context.WithDeadline would, though no
// timer is made per send.
func TestAttemptContextEndsAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := &waitingChannel{saw: make(chan attemptSeen, 1)}
		h := newHarness(t, func(c *notify.Config) {
			c.Channels = []notify.Channel{ch}
			c.SendTimeout = 3 * time.Second
		})
		stop := h.run(t)
		defer stop()
		start := time.Now()
		_, err := h.d.Send(context.Background(), notify.Notification{
			To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}}, Template: "welcome", Data: map[string]any{"name": "Ana"}})
		require.NoError(t, err)
		seen := <-ch.saw
		assert.True(t, seen.hasDeadline)
		assert.Equal(t, start.Add(3*time.Second), seen.deadline, "the deadline is SendTimeout after the attempt starts")
		assert.Equal(t, seen.deadline, seen.ended, "the context ends at its deadline")
		assert.ErrorIs(t, seen.err, context.DeadlineExceeded)
	})
}

// recordingChannel fails each delivery's first attempt retryably and
// keeps a copy of what each call was given.
type recordingChannel struct {
	mu      sync.Mutex
	seen    []notify.Delivery
	batches int // SendBatch calls
}

func (c *recordingChannel) Name() string { return notify.ChannelSMS }

func (c *recordingChannel) Send(_ context.Context, d *notify.Delivery) (notify.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, *d)
	if d.Attempt == 1 {
		return notify.Result{}, notify.Retryable(errors.New("recorder: first attempt fails"), 0)
	}
	return notify.Result{ProviderID: "ok"}, nil
}

// batchRecorder is a recordingChannel that is a notify.BatchSender.
type batchRecorder struct{ *recordingChannel }

func (c batchRecorder) SendBatch(ctx context.Context, ds []*notify.Delivery) ([]notify.Result, []error) {
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
	results, errs := make([]notify.Result, len(ds)), make([]error, len(ds))
	for i, d := range ds {
		results[i], errs[i] = c.Send(ctx, d)
	}
	return results, errs
}

// leaseWatcher is a Queue that remembers the Deliveries its leases carry.
type leaseWatcher struct {
	notify.Queue
	mu   sync.Mutex
	dels []*notify.Delivery
}

func (q *leaseWatcher) Receive(ctx context.Context, queue string, max int) ([]notify.Lease, error) {
	ls, err := q.Queue.Receive(ctx, queue, max)
	q.mu.Lock()
	for _, l := range ls {
		q.dels = append(q.dels, l.Job.Delivery)
	}
	q.mu.Unlock()
	return ls, err
}

// The memory queue shares the Delivery it stores with every lease of the
// job (see notify.Queue.Receive): the Dispatcher numbers each attempt on
// its own copy and never writes the queue's, whether the delivery is sent
// alone or in a batch.
func TestDispatcherDoesNotWriteTheQueuedDelivery(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rc := &recordingChannel{}
				var ch notify.Channel = rc
				if batch {
					ch = batchRecorder{rc}
				}
				var lw *leaseWatcher
				h := newHarness(t, func(c *notify.Config) {
					c.Channels = []notify.Channel{ch}
					lw = &leaseWatcher{Queue: c.Queue}
					c.Queue = lw
				})
				const n = 3
				var ids []string
				for i := range n {
					r, err := h.d.Send(context.Background(), notify.Notification{
						To:       []notify.Address{{Channel: notify.ChannelSMS, Value: fmt.Sprintf("+1500555000%d", i)}},
						Template: "welcome", Data: map[string]any{"name": "Ana"}})
					require.NoError(t, err)
					ids = append(ids, r.NotificationID)
				}
				h.run(t)
				for _, id := range ids {
					ds := h.settle(t, id)
					require.Len(t, ds, 1)
					assert.Equal(t, notify.StatusSent, ds[0].Status)
				}
				rc.mu.Lock()
				defer rc.mu.Unlock()
				require.Len(t, rc.seen, 2*n)
				attempts := map[string]int{}
				for _, d := range rc.seen {
					attempts[d.ID]++
					assert.Equal(t, attempts[d.ID], d.Attempt, "attempt of %s", d.ID)
				}
				if batch {
					assert.Positive(t, rc.batches, "SendBatch was used")
				}
				lw.mu.Lock()
				defer lw.mu.Unlock()
				require.Len(t, lw.dels, 2*n)
				for _, d := range lw.dels {
					assert.Zero(t, d.Attempt, "the queued Delivery of %s was written to", d.ID)
				}
			})
		})
	}
}
