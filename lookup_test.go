package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// plainDeduper hides dedup/memory's ClaimHolder.
type plainDeduper struct{ notify.Deduper }

// wrappedDeduper keeps it, through Unwrap.
type wrappedDeduper struct{ notify.Deduper }

func (w wrappedDeduper) Unwrap() any { return w.Deduper }

func TestStatusByEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(notify.Deduper) notify.Deduper
	}{
		{"ClaimHolder", func(d notify.Deduper) notify.Deduper { return d }},
		{"ClaimHolder behind Unwrap", func(d notify.Deduper) notify.Deduper { return wrappedDeduper{d} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *notify.Config) { c.Deduper = tc.wrap(c.Deduper) })
			ctx := context.Background()
			require.NoError(t, h.store.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))

			_, _, err := h.d.StatusByEvent(ctx, "never-sent")
			assert.ErrorIs(t, err, notify.ErrNotFound)
			// The lookup claimed nothing: the event can be sent.
			r, err := h.d.Send(ctx, notify.Notification{EventID: "never-sent", UserID: "ana", Template: "welcome", Data: map[string]any{"name": "Ana"}})
			require.NoError(t, err)
			assert.False(t, r.Duplicate, "a lookup of an unsent event must not claim it")

			nid, recs, err := h.d.StatusByEvent(ctx, "never-sent")
			require.NoError(t, err)
			assert.Equal(t, r.NotificationID, nid)
			require.Len(t, recs, 1)
			assert.Equal(t, r.Deliveries[0].ID, recs[0].DeliveryID)
			assert.Equal(t, notify.StatusQueued, recs[0].Status)

			_, _, err = h.d.StatusByEvent(ctx, "")
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, "EventID", ve.Field)
		})
	}
	t.Run("no ClaimHolder", func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.Deduper = plainDeduper{c.Deduper} })
		_, _, err := h.d.StatusByEvent(context.Background(), "e1")
		assert.ErrorIs(t, err, errors.ErrUnsupported)
	})
	t.Run("no deduper", func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.Deduper = nil })
		_, _, err := h.d.StatusByEvent(context.Background(), "e1")
		require.Error(t, err)
		assert.False(t, errors.Is(err, notify.ErrNotFound))
		assert.Contains(t, err.Error(), "Deduper")
	})
}

func TestDispatcherContactAndPreferences(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.d.Contact(ctx, "nobody")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	reg := time.Now().Add(-time.Hour)
	require.NoError(t, h.d.PutContact(ctx, notify.Contact{UserID: "ana", Devices: []notify.Device{{Platform: "apns", Token: "t1", RegisteredAt: reg}, {Platform: "fcm", Token: "t2"}}}))
	require.NoError(t, h.d.RemoveDevice(ctx, "ana", "apns", "t1"))
	c, err := h.d.Contact(ctx, "ana")
	require.NoError(t, err)
	assert.Equal(t, []notify.Device{{Platform: "fcm", Token: "t2"}}, c.Devices)

	ok, err := h.d.Allowed(ctx, "ana", "marketing", "sms")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, h.d.SetPreference(ctx, "ana", "marketing", "sms", false))
	ok, err = h.d.Allowed(ctx, "ana", "marketing", "sms")
	require.NoError(t, err)
	assert.False(t, ok)
	var ve *notify.ValidationError
	require.ErrorAs(t, h.d.SetPreference(ctx, "ana", "", "sms", false), &ve)
	assert.Equal(t, "Category", ve.Field)
}
