package notify_test

import (
	"context"
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
