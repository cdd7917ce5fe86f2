package notifyhttp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// Cancel by event ID and by notification ID through the Client: a scheduled
// notification's deliveries come back canceled, the queue is empty, and a
// second cancel answers as the first; an unknown event is not found, a key
// that may only read is forbidden, and a queue that cannot take jobs back is
// a 501 the Client reports as errors.ErrUnsupported.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006", Email: "ana@example.com"}))
	r, err := e.c.Send(ctx, notify.Notification{EventID: "digest:1", UserID: "ana", Content: &notify.Message{Body: "hi"}, SendAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 2)

	res, err := e.c.Cancel(ctx, "digest:1")
	require.NoError(t, err)
	assert.Equal(t, r.NotificationID, res.NotificationID)
	assert.Len(t, res.Canceled, 2)
	assert.Empty(t, res.TooLate)
	assert.Equal(t, 0, e.stored(t), "the queue holds nothing")
	again, err := e.c.CancelNotification(ctx, r.NotificationID)
	require.NoError(t, err)
	assert.ElementsMatch(t, res.Canceled, again.Canceled)
	recs, err := e.c.Status(ctx, r.NotificationID)
	require.NoError(t, err)
	for _, rec := range recs {
		assert.Equal(t, notify.StatusCanceled, rec.Status)
	}

	_, err = e.c.Cancel(ctx, "never-sent")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	k, s := e.newKey(t, ScopeRead)
	_, err = e.client(t, k.ID, s).Cancel(ctx, "digest:1")
	assert.ErrorIs(t, err, ErrForbidden)
}

// plainQueue hides the memory queue's Canceler.
type plainQueue struct{ notify.Queue }

func TestCancelUnsupported(t *testing.T) {
	e := newEnv(t)
	d, err := notify.New(notify.Config{Queue: plainQueue{e.queue}, Store: e.store, Channels: []notify.Channel{notifytest.NewChannel("sms")}, Logger: e.h.log})
	require.NoError(t, err)
	e.h.cfg.Dispatcher = d
	r, err := d.Send(context.Background(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+15005550006"}}, Content: &notify.Message{Body: "hi"}, SendAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = e.c.CancelNotification(context.Background(), r.NotificationID)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
