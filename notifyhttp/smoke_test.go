package notifyhttp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

func TestSendAndStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))
	n := notify.Notification{EventID: "e1", UserID: "ana", Content: &notify.Message{Body: "hi"}}
	r, err := e.c.Send(ctx, n)
	require.NoError(t, err)
	assert.False(t, r.Duplicate)
	require.Len(t, r.Deliveries, 1)
	again, err := e.c.Send(ctx, n)
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, r.NotificationID, again.NotificationID)

	st, err := e.c.Status(ctx, r.NotificationID)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, notify.StatusQueued, st[0].Status)
	nid, st2, err := e.c.StatusByEvent(ctx, "e1")
	require.NoError(t, err)
	assert.Equal(t, r.NotificationID, nid)
	assert.Equal(t, st[0].DeliveryID, st2[0].DeliveryID)
	_, err = e.c.Status(ctx, "nope")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	_, _, err = e.c.StatusByEvent(ctx, "nope")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	assert.Equal(t, 1, e.stored(t))
}
