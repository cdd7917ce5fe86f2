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

// scribblingChannel fails each delivery's first attempt retryably, after
// writing over the Delivery it was lent, and keeps a copy of what each call
// was given.
type scribblingChannel struct {
	mu      sync.Mutex
	seen    []notify.Delivery
	batches int // SendBatch calls
}

func (c *scribblingChannel) Name() string { return notify.ChannelSMS }

func (c *scribblingChannel) Send(_ context.Context, d *notify.Delivery) (notify.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, *d)
	first := d.Attempt == 1
	d.Address, d.Message.Body, d.Attempt, d.Recheck = "scribbled", "scribbled", 99, false
	if first {
		return notify.Result{}, notify.Retryable(errors.New("scribbler: first attempt fails"), 0)
	}
	return notify.Result{ProviderID: "ok"}, nil
}

// batchScribbler is a scribblingChannel that is a notify.BatchSender.
type batchScribbler struct{ *scribblingChannel }

func (c batchScribbler) SendBatch(ctx context.Context, ds []*notify.Delivery) ([]notify.Result, []error) {
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
	results, errs := make([]notify.Result, len(ds)), make([]error, len(ds))
	for i, d := range ds {
		results[i], errs[i] = c.Send(ctx, d)
	}
	return results, errs
}

// A Channel may write over the Delivery it is lent (the memory queue
// shares its own with every lease of the job): the next attempt still
// gets the Delivery as it was queued, numbered by the Dispatcher, whether
// it is sent alone or in a batch.
func TestChannelWritesDoNotReachTheQueue(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scribblingChannel{}
				var ch notify.Channel = sc
				if batch {
					ch = batchScribbler{sc}
				}
				h := newHarness(t, func(c *notify.Config) { c.Channels = []notify.Channel{ch} })
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
				sc.mu.Lock()
				defer sc.mu.Unlock()
				require.Len(t, sc.seen, 2*n)
				if batch {
					assert.Positive(t, sc.batches, "SendBatch was used")
				}
				attempts := map[string]int{}
				for _, d := range sc.seen {
					attempts[d.ID]++
					assert.Equal(t, attempts[d.ID], d.Attempt, "attempt of %s", d.ID)
					assert.NotEqual(t, "scribbled", d.Address)
					assert.Equal(t, "Welcome, Ana!", d.Message.Body)
				}
			})
		})
	}
}
