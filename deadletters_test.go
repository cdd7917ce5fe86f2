package notify_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// Dead lists a channel's dead deliveries newest first, and ReplayDead
// replays those a filter selects, each as Replay does.
func TestDeadAndReplayDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		var broken atomic.Bool
		broken.Store(true)
		h.ch["sms"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			if broken.Load() {
				return notify.Result{}, notify.Retryable(errors.New("provider down"), 0)
			}
			return notify.Result{ProviderID: "SM1"}, nil
		})
		h.run(t)
		var nids []string
		for _, ev := range []string{"dl-1", "dl-2", "dl-3"} {
			n := welcome(ev)
			n.Channels = []string{"sms"}
			r, err := h.d.Send(t.Context(), n)
			require.NoError(t, err)
			ds := h.settle(t, r.NotificationID)
			require.Equal(t, notify.StatusDead, ds[0].Status)
			nids = append(nids, r.NotificationID)
			time.Sleep(time.Minute)
		}

		p, err := h.d.Dead(t.Context(), "sms", notify.DeadQuery{Limit: 2})
		require.NoError(t, err)
		require.Len(t, p.Jobs, 2)
		assert.Equal(t, nids[2], p.Jobs[0].Job.Delivery.NotificationID, "newest first")
		assert.Equal(t, nids[1], p.Jobs[1].Job.Delivery.NotificationID)
		assert.Equal(t, 5, p.Jobs[0].Attempts)
		assert.NotEmpty(t, p.Jobs[0].Reason)
		require.NotEmpty(t, p.Next)
		p, err = h.d.Dead(t.Context(), "sms", notify.DeadQuery{Limit: 2, Cursor: p.Next})
		require.NoError(t, err)
		require.Len(t, p.Jobs, 1)
		assert.Equal(t, nids[0], p.Jobs[0].Job.Delivery.NotificationID)
		assert.Empty(t, p.Next)

		empty, err := h.d.Dead(t.Context(), "email", notify.DeadQuery{})
		require.NoError(t, err)
		assert.Empty(t, empty.Jobs, "another channel's dead deliveries")
		_, err = h.d.Dead(t.Context(), "pigeon", notify.DeadQuery{})
		var ve *notify.ValidationError
		require.True(t, errors.As(err, &ve), "an unknown channel: %v", err)
		assert.Equal(t, "Channel", ve.Field)

		broken.Store(false)
		// Replay the two newest (buried in the last two minutes), page by page.
		since := time.Now().Add(-2*time.Minute - time.Second)
		n, err := h.d.ReplayDead(t.Context(), "sms", notify.DeadQuery{Since: since, Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		for i, nid := range nids {
			ds := h.settle(t, nid)
			want := notify.StatusSent
			if i == 0 {
				want = notify.StatusDead
			}
			if !assert.Equal(t, want, ds[0].Status, "notification %d after ReplayDead", i) {
				for _, e := range ds[0].Events {
					t.Logf("%s %s %d %s", e.At, e.Status, e.Attempt, e.Reason)
				}
			}
		}
		n, err = h.d.ReplayDead(t.Context(), "sms", notify.DeadQuery{Reason: "no such reason"})
		require.NoError(t, err)
		assert.Zero(t, n, "a filter that selects nothing")
	})
}

// A Queue that cannot list dead jobs makes Dead and ReplayDead say so.
func TestDeadUnsupported(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Queue = opaqueQueue{c.Queue} })
	_, err := h.d.Dead(t.Context(), "sms", notify.DeadQuery{})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = h.d.ReplayDead(t.Context(), "sms", notify.DeadQuery{})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}

// opaqueQueue hides its Queue's optional methods.
type opaqueQueue struct{ notify.Queue }
