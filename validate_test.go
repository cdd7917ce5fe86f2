package notify_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// assertNothingStored checks that a rejected Send left no trace.
func assertNothingStored(t *testing.T, h *harness) {
	t.Helper()
	for _, name := range []string{"apns", "fcm", "sms", "email"} {
		st, err := h.queue.Stats(t.Context(), "notify."+name)
		require.NoError(t, err)
		assert.Zero(t, st.Ready+st.Delayed+st.InFlight+st.Dead, name)
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		n     notify.Notification
		field string
	}{
		{"no user and no address", notify.Notification{Template: "welcome"}, "UserID"},
		{"unknown channel", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A"}, Channels: []string{"pigeon"}}, "Channels[0]"},
		{"unknown channel in To", notify.Notification{To: []notify.Address{{Channel: "fax", Value: "1"}}, Content: &notify.Message{Body: "x"}}, "To[0].Channel"},
		{"empty address", notify.Notification{To: []notify.Address{{Channel: "sms"}}, Content: &notify.Message{Body: "x"}}, "To[0].Value"},
		{"unknown template", notify.Notification{UserID: "ana", Template: "nope"}, "Template"},
		{"data does not fit the template", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"nom": "A"}}, "Data"},
		{"no content", notify.Notification{UserID: "ana"}, "Template"},
		{"template and content", notify.Notification{UserID: "ana", Template: "welcome", Content: &notify.Message{Body: "x"}}, "Content"},
		{"empty content", notify.Notification{UserID: "ana", Content: &notify.Message{}}, "Content"},
		{"oversized payload", notify.Notification{UserID: "ana", Content: &notify.Message{Body: strings.Repeat("x", 2<<20)}}, "Content"},
		{"negative TTL", notify.Notification{UserID: "ana", Content: &notify.Message{Body: "x"}, TTL: -time.Second}, "TTL"},
		{"expires before due", notify.Notification{UserID: "ana", Content: &notify.Message{Body: "x"}, SendAt: time.Now().Add(time.Hour), ExpiresAt: time.Now()}, "ExpiresAt"},
		{"options for unknown channel", notify.Notification{UserID: "ana", Content: &notify.Message{Body: "x"}, Options: map[string]any{"fax": 1}}, "Options.fax"},
		{"options that are not JSON", notify.Notification{UserID: "ana", Content: &notify.Message{Body: "x"}, Options: map[string]any{"sms": func() {}}}, "Options.sms"},
		{"long event ID", notify.Notification{EventID: strings.Repeat("e", 300), UserID: "ana", Content: &notify.Message{Body: "x"}}, "EventID"},
		{"bad priority", notify.Notification{UserID: "ana", Content: &notify.Message{Body: "x"}, Priority: 9}, "Priority"},
		{"reserved category", notify.Notification{UserID: "ana", Category: notify.AllCategories, Content: &notify.Message{Body: "x"}}, "Category"},
		{"NUL in user ID", notify.Notification{UserID: "a\x00b", Content: &notify.Message{Body: "x"}}, "UserID"},
		{"data not JSON", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "f": func() {}}}, "Data"},
		{"NaN in data", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": []any{math.NaN()}}}, "Data"},
		{"address too long", notify.Notification{To: []notify.Address{{Channel: "sms", Value: string(make([]byte, 2000))}}, Content: &notify.Message{Body: "x"}}, "To[0].Value"},
		{"address not UTF-8", notify.Notification{To: []notify.Address{{Channel: "sms", Value: "\xff"}}, Content: &notify.Message{Body: "x"}}, "To[0].Value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.contact(t, ana)
			_, err := h.d.Send(t.Context(), tc.n)
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field, "error: %v", err)
			assertNothingStored(t, h)
		})
	}
}

func TestValidationErrorFreesTheEventID(t *testing.T) {
	h := newHarness(t)
	h.contact(t, ana)
	bad := notify.Notification{EventID: "e1", UserID: "ana", Template: "welcome", Data: map[string]any{}}
	_, err := h.d.Send(t.Context(), bad)
	require.Error(t, err)
	r, err := h.d.Send(t.Context(), welcome("e1"))
	require.NoError(t, err)
	assert.False(t, r.Duplicate, "a rejected Send must not claim its event ID")
}

func TestChannelValidatorRejectsAtAcceptTime(t *testing.T) {
	h := newHarness(t)
	small := notifytest.NewChannel("tiny").WithMaxBytes(10)
	cfg := h.cfg
	cfg.Channels = append(cfg.Channels, small)
	d, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "tiny", Value: "x"}}, Content: &notify.Message{Body: "far more than ten bytes"}})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	st, err := h.queue.Stats(t.Context(), "notify.tiny")
	require.NoError(t, err)
	assert.Zero(t, st.Ready)
}

func FuzzSendValidation(f *testing.F) {
	f.Add("e", "ana", "cat", "welcome", "name", "Ana", "sms", "+1555", int64(0), 0)
	f.Add("", "", "", "", "", "", "fax", "", int64(-5), 7)
	f.Add(strings.Repeat("x", 256), "u", "\xff", "welcome", "nom", "A", "email", "a@b", int64(time.Hour), 1)
	f.Fuzz(func(t *testing.T, eventID, userID, category, tmpl, key, val, channel, addr string, ttl int64, prio int) {
		h := newHarness(t)
		h.contact(t, ana)
		n := notify.Notification{EventID: eventID, UserID: userID, Category: category, Template: tmpl,
			Data: map[string]any{key: val}, TTL: time.Duration(ttl), Priority: notify.Priority(prio)}
		if channel != "" {
			n.To = []notify.Address{{Channel: channel, Value: addr}}
		}
		r, err := h.d.Send(t.Context(), n)
		if err != nil {
			var ve *notify.ValidationError
			if errors.As(err, &ve) {
				require.NotEmpty(t, ve.Field)
				assertNothingStored(t, h)
			}
			return
		}
		// Accepted: every delivery it reports is on its queue.
		total := 0
		for _, name := range []string{"apns", "fcm", "sms", "email"} {
			st, err := h.queue.Stats(t.Context(), "notify."+name)
			require.NoError(t, err)
			total += st.Ready + st.Delayed
		}
		assert.Equal(t, len(r.Deliveries), total)
	})
}
