package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// wrappedStore and wrappedDeduper are wrappers as a host writes them (to
// count calls, say): they embed the interface and say what they wrap.
type wrappedStore struct{ notify.Store }

func (w wrappedStore) Unwrap() any { return w.Store }

type wrappedDeduper struct{ notify.Deduper }

func (w wrappedDeduper) Unwrap() any { return w.Deduper }

// opaqueStore does not say what it wraps.
type opaqueStore struct{ notify.Store }

// The Queue writes the log of a Store behind a wrapper with Unwrap in its
// own statements, as it does the Store's; one without Unwrap is refused.
func TestQueueWritesThroughUnwrap(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pg := newPG(t, pool, postgres.Config{Schema: schema})
	q, s, d := pg.Queue(), pg.Store(), pg.Deduper()

	del := &notify.Delivery{ID: "d1", NotificationID: "n1", Channel: "sms", Address: "+15550100"}
	ev := notify.Event{DeliveryID: "d1", NotificationID: "n1", Channel: "sms", Status: notify.StatusQueued, At: time.Now()}
	require.NoError(t, q.EnqueueLogged(ctx, wrappedStore{s}, []notify.Event{ev}, []notify.Job{{ID: "d1", Queue: "q", Delivery: del}}),
		"EnqueueLogged to a wrapped Store")
	ds, err := s.Delivery(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, notify.StatusQueued, ds.Status)

	assert.ErrorIs(t, q.EnqueueLogged(ctx, opaqueStore{s}, nil, nil), errors.ErrUnsupported, "a wrapper without Unwrap")
	_, err = q.Accept(ctx, wrappedStore{s}, wrappedDeduper{d}, nil)
	assert.NoError(t, err, "Accept with a wrapped Store and Deduper")
	_, err = q.Accept(ctx, opaqueStore{s}, d, nil)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "Accept with a wrapper without Unwrap")

	ls, err := q.Receive(ctx, "q", 1)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	ev.Status, ev.Attempt = notify.StatusSent, 1
	require.NoError(t, q.AckLogged(ctx, wrappedStore{s}, ls[0], ev), "AckLogged to a wrapped Store")
	ds, err = s.Delivery(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, notify.StatusSent, ds.Status)
	st, err := q.Stats(ctx, "q")
	require.NoError(t, err)
	assert.Zero(t, st.Ready+st.InFlight, "acked")
}
