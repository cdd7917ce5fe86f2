package notify_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// Track records each kind once per delivery, shows in Status, and leaves
// where the delivery stands as it was.
func TestTrack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		n := welcome("track")
		n.Channels = []string{"apns"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		id := ds[0].DeliveryID

		require.NoError(t, h.d.Track(t.Context(), id, notify.StatusOpened))
		require.NoError(t, h.d.Track(t.Context(), id, notify.StatusOpened), "a repeated open")
		require.NoError(t, h.d.Track(t.Context(), id, notify.StatusConverted))
		ds, err = h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		count := map[notify.Status]int{}
		for _, e := range ds[0].Events {
			count[e.Status]++
		}
		assert.Equal(t, 1, count[notify.StatusOpened], "opened once")
		assert.Equal(t, 1, count[notify.StatusConverted], "converted once")
		assert.Equal(t, notify.StatusSent, ds[0].Status, "tracking does not change where the delivery stands")
		// Every event names the template, so reports can group by it.
		assert.Equal(t, "welcome", ds[0].Template)
		for _, e := range ds[0].Events {
			assert.Equal(t, "welcome", e.Template, "template of the %s event", e.Status)
		}

		var ve *notify.ValidationError
		require.True(t, errors.As(h.d.Track(t.Context(), id, notify.StatusSent), &ve), "a kind that is not tracking")
		assert.Equal(t, "kind", ve.Field)
		assert.ErrorIs(t, h.d.Track(t.Context(), "no-such-delivery", notify.StatusOpened), notify.ErrNotFound)
	})
}
