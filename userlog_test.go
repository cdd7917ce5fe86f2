package notify_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// UserDeliveries lists a user's deliveries newest first, skipped ones
// included, with their events.
func TestUserDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		first, err := h.d.Send(t.Context(), welcome("u-1"))
		require.NoError(t, err)
		h.settle(t, first.NotificationID)
		time.Sleep(time.Minute)
		n := welcome("u-2")
		n.Channels = []string{"sms"}
		second, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		h.settle(t, second.NotificationID)

		p, err := h.d.UserDeliveries(t.Context(), notify.UserQuery{UserID: ana.UserID, Limit: 1})
		require.NoError(t, err)
		require.Len(t, p.Records, 1)
		assert.Equal(t, second.NotificationID, p.Records[0].NotificationID, "newest first")
		assert.Equal(t, notify.StatusSent, p.Records[0].Status)
		require.NotEmpty(t, p.Next)
		p, err = h.d.UserDeliveries(t.Context(), notify.UserQuery{UserID: ana.UserID, Cursor: p.Next})
		require.NoError(t, err)
		assert.Len(t, p.Records, len(first.Deliveries), "the first notification's deliveries")
		for _, r := range p.Records {
			assert.Equal(t, first.NotificationID, r.NotificationID)
		}

		_, err = h.d.UserDeliveries(t.Context(), notify.UserQuery{})
		var ve *notify.ValidationError
		require.True(t, errors.As(err, &ve))
		assert.Equal(t, "UserID", ve.Field)
	})
}

// A Store that cannot list a user's deliveries makes UserDeliveries say so.
func TestUserDeliveriesUnsupported(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Store = struct{ notify.Store }{c.Store} })
	_, err := h.d.UserDeliveries(t.Context(), notify.UserQuery{UserID: "ana"})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
