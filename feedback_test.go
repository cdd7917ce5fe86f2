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

// sentSMS sends welcome to ana by SMS and waits until it is sent.
func sentSMS(t *testing.T, h *harness, event string) notify.Receipt {
	t.Helper()
	n := welcome(event)
	n.Channels, n.Category = []string{"sms"}, "news"
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	require.Equal(t, notify.StatusSent, h.settle(t, r.NotificationID)[0].Status)
	return r
}

func TestFeedbackDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-ok")
		id := r.Deliveries[0].ID
		fb := notify.Feedback{DeliveryID: id, ProviderID: "SM1"}
		require.NoError(t, h.d.Feedback(t.Context(), fb))
		require.NoError(t, h.d.Feedback(t.Context(), fb), "a repeated report")
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusDelivered, st[0].Status)
		assert.Equal(t, 1, st[0].Attempts, "a report is not an attempt")
		assert.Len(t, st[0].Events, 3, "queued, sent, delivered: the repeat is recorded once")
	})
}

func TestFeedbackInvalidRecipientRemovesTheNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-dead")
		err := h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: r.Deliveries[0].ID,
			Err: notify.InvalidRecipient(errors.New("30005 unknown destination handset"))})
		require.NoError(t, err)
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusUndelivered, st[0].Status)
		assert.Contains(t, st[0].Reason, "30005")
		c, err := h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		assert.Empty(t, c.Phone, "the dead number is removed")
		assert.Equal(t, ana.Email, c.Email, "the rest of the contact stays")
	})
}

func TestFeedbackOptOutSkipsTheNextSMS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-stop")
		err := h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: r.Deliveries[0].ID,
			Err: notify.OptedOut(errors.New("21610 unsubscribed recipient"))})
		require.NoError(t, err)
		ok, err := h.d.Allowed(t.Context(), "ana", "news", "sms")
		require.NoError(t, err)
		assert.False(t, ok, "the opt-out is stored for the delivery's category")
		n := welcome("fb-after")
		n.Channels, n.Category = []string{"sms"}, "news"
		r2, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Empty(t, r2.Deliveries, "the next SMS in the category is not queued")
		require.Len(t, r2.Skipped, 1)
		assert.Equal(t, "sms", r2.Skipped[0].Channel)
	})
}

// A provider's report can reach the log before the send's own outcome
// (the send timed out after the provider took it): the report stands.
func TestFeedbackBeforeSentKeepsTheReport(t *testing.T) {
	now := time.Now()
	for _, late := range []notify.Status{notify.StatusSent, notify.StatusRetrying, notify.StatusDead} {
		for _, report := range []notify.Status{notify.StatusDelivered, notify.StatusUndelivered} {
			events := []notify.Event{{Status: notify.StatusQueued, At: now}, {Status: report, Reason: "the report", At: now},
				{Status: late, At: now}}
			var s notify.DeliveryState
			for _, e := range events {
				s.Apply(e)
			}
			assert.Equal(t, report, s.Status, "a late %s does not hide the report", late)
			assert.Equal(t, 1, s.Attempts, "the late %s is still an attempt", late)
			ds := notify.NewDeliveryRecord(events)
			assert.Equal(t, report, ds.Status)
			assert.Equal(t, "the report", ds.Reason, "a late %s keeps the report's reason", late)
		}
	}
	var s notify.DeliveryState
	for _, st := range []notify.Status{notify.StatusQueued, notify.StatusDead, notify.StatusReplayed} {
		s.Apply(notify.Event{Status: st, At: now})
	}
	assert.Equal(t, notify.StatusReplayed, s.Status, "Replay of a dead delivery still starts over")
	assert.Zero(t, s.Attempts)
}

// A report repeated after the user added the number back neither records
// nor removes anything again.
func TestFeedbackRepeatDoesNotActAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-repeat")
		fb := notify.Feedback{DeliveryID: r.Deliveries[0].ID, ProviderID: "SM9",
			Err: notify.InvalidRecipient(errors.New("30005 unknown destination handset"))}
		require.NoError(t, h.d.Feedback(t.Context(), fb))
		c, err := h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		require.Empty(t, c.Phone)
		h.contact(t, ana) // the user adds the number back
		require.NoError(t, h.d.Feedback(t.Context(), fb))
		c, err = h.store.Contact(t.Context(), "ana")
		require.NoError(t, err)
		assert.Equal(t, ana.Phone, c.Phone, "a repeated report does not remove the number again")
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Len(t, st[0].Events, 3, "queued, sent, undelivered")
	})
}

// A spam complaint stores the opt-out and leaves the delivery delivered.
func TestFeedbackComplaint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-complaint")
		id := r.Deliveries[0].ID
		require.NoError(t, h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: id}))
		require.NoError(t, h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: id, Engagement: notify.StatusComplained,
			Err: notify.OptedOut(errors.New("complaint: abuse"))}))
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusDelivered, st[0].Status)
		assert.Equal(t, notify.StatusComplained, st[0].Events[len(st[0].Events)-1].Status)
		ok, err := h.d.Allowed(t.Context(), "ana", "news", "sms")
		require.NoError(t, err)
		assert.False(t, ok, "the complaint is stored as an opt-out")
	})
}

func TestFeedbackUnknownDelivery(t *testing.T) {
	h := newHarness(t)
	err := h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: "nope"})
	assert.ErrorIs(t, err, notify.ErrNotFound)
	var ve *notify.ValidationError
	require.ErrorAs(t, h.d.Feedback(t.Context(), notify.Feedback{}), &ve)
	assert.Equal(t, "DeliveryID", ve.Field)
}

func TestFeedbackEngagementKeepsTheStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		defer h.run(t)()
		r := sentSMS(t, h, "fb-click")
		id := r.Deliveries[0].ID
		require.NoError(t, h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: id}))
		require.NoError(t, h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: id, Engagement: notify.StatusClicked, Detail: "https://example.com/x"}))
		st, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusDelivered, st[0].Status, "a click does not change where the delivery stands")
		last := st[0].Events[len(st[0].Events)-1]
		assert.Equal(t, notify.StatusClicked, last.Status)
		assert.Equal(t, "https://example.com/x", last.Reason)
		var ve *notify.ValidationError
		require.ErrorAs(t, h.d.Feedback(t.Context(), notify.Feedback{DeliveryID: id, Engagement: notify.StatusSent}), &ve)
		assert.Equal(t, "Engagement", ve.Field)
	})
}

// Two Replays of one dead delivery both record "replayed"; the loser's can
// land after the winner's job was sent. It must not hide the "sent".
func TestLateLosingReplayKeepsTheOutcome(t *testing.T) {
	var s notify.DeliveryState
	now := time.Now()
	for _, st := range []notify.Status{notify.StatusQueued, notify.StatusDead, notify.StatusReplayed, notify.StatusReplayed, notify.StatusSent, notify.StatusReplayed} {
		s.Apply(notify.Event{Status: st, At: now})
	}
	assert.Equal(t, notify.StatusSent, s.Status)
	assert.Equal(t, 1, s.Attempts, "the winner's replay reset the count once; the send counted")
}
