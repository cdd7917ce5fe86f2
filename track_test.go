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

		// The open shows in the report: one push sent, one opened.
		rows, err := h.d.Report(t.Context(), notify.ReportQuery{
			Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), GroupBy: []string{notify.ByTemplate, notify.ByChannel},
		})
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.Equal(t, notify.ReportRow{Template: "welcome", Channel: "apns", Deliveries: 1, Sent: 1, Opened: 1, OpenRate: 1}, rows[0])

		var ve *notify.ValidationError
		require.True(t, errors.As(h.d.Track(t.Context(), id, notify.StatusSent), &ve), "a kind that is not tracking")
		assert.Equal(t, "kind", ve.Field)
		assert.ErrorIs(t, h.d.Track(t.Context(), "no-such-delivery", notify.StatusOpened), notify.ErrNotFound)
	})
}

// A Store that cannot compute reports makes Report say so; a bad query is
// refused before the Store is asked.
func TestReportErrors(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Store = struct{ notify.Store }{c.Store} })
	now := time.Now()
	_, err := h.d.Report(t.Context(), notify.ReportQuery{Since: now.Add(-time.Hour), Until: now})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = h.d.Report(t.Context(), notify.ReportQuery{Since: now, Until: now.Add(-time.Hour)})
	var ve *notify.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, "Until", ve.Field)
}
