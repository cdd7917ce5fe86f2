package notify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	qmem "github.com/gonotify/notify/queue/memory"
)

// bindFunc is a Tx whose Bind is a function.
type bindFunc func(notify.AcceptBackends) (notify.AcceptBackends, error)

func (f bindFunc) Bind(b notify.AcceptBackends) (notify.AcceptBackends, error) { return f(b) }

// SendTx hands the Dispatcher's backends to Bind and writes through what
// Bind returns, not through the configured ones.
func TestSendTxWritesThroughBind(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.contact(t, ana)
	bound := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = bound.Close() })
	var got notify.AcceptBackends
	r, err := h.d.SendTx(ctx, bindFunc(func(b notify.AcceptBackends) (notify.AcceptBackends, error) {
		got = b
		b.Queue = bound
		return b, nil
	}), notify.Notification{UserID: ana.UserID, Channels: []string{notify.ChannelSMS}, Template: "welcome", Data: map[string]any{"name": "Ana"}})
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 1)

	assert.Same(t, h.queue, got.Queue, "Bind gets the configured Queue")
	assert.Same(t, h.store, got.EventLog, "Bind gets the configured Store as the EventLog")
	assert.Equal(t, h.cfg.Deduper, got.Deduper, "Bind gets the configured Deduper")
	onBound, err := bound.Stats(ctx, h.d.QueueName(notify.ChannelSMS))
	require.NoError(t, err)
	assert.Equal(t, 1, onBound.Ready, "the delivery is on the queue Bind returned")
	onConfigured, err := h.queue.Stats(ctx, h.d.QueueName(notify.ChannelSMS))
	require.NoError(t, err)
	assert.Zero(t, onConfigured.Ready, "the configured queue was written past the Tx")
}

// A Tx that refuses to bind, or binds nothing, stops SendTx before
// anything is written; the error is an ErrNotQueued.
func TestSendTxRefused(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := notify.Notification{EventID: "e1", To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}}, Content: &notify.Message{Body: "hi"}}
	foreign := &notify.ForeignBackendError{Backend: "Queue", Binder: "test binder", Reason: "it is a *memory.Queue"}
	for name, tx := range map[string]notify.Tx{
		"nil Tx": nil,
		"foreign": bindFunc(func(notify.AcceptBackends) (notify.AcceptBackends, error) {
			return notify.AcceptBackends{}, foreign
		}),
		"other error": bindFunc(func(notify.AcceptBackends) (notify.AcceptBackends, error) {
			return notify.AcceptBackends{}, errors.New("no transaction")
		}),
		"bound nothing": bindFunc(func(notify.AcceptBackends) (notify.AcceptBackends, error) {
			return notify.AcceptBackends{}, nil
		}),
	} {
		_, err := h.d.SendTx(ctx, tx, n)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, notify.ErrNotQueued, name)
	}
	_, err := h.d.SendTx(ctx, bindFunc(func(notify.AcceptBackends) (notify.AcceptBackends, error) { return notify.AcceptBackends{}, foreign }), n)
	var fe *notify.ForeignBackendError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "Queue", fe.Backend)
	assert.Contains(t, err.Error(), "the Dispatcher's Queue is not test binder's own (it is a *memory.Queue)")

	st, err := h.queue.Stats(ctx, h.d.QueueName(notify.ChannelSMS))
	require.NoError(t, err)
	assert.Zero(t, st.Ready, "a refused SendTx queued something")
	// The event ID was never claimed: Send queues it, not as a duplicate.
	r, err := h.d.Send(ctx, n)
	require.NoError(t, err)
	assert.False(t, r.Duplicate, "a refused SendTx left its claim")
}
