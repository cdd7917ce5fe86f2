package notify_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// optIn makes category "newsletter" opt-in.
func optIn(c *notify.Config) {
	c.Categories = map[string]notify.CategoryPolicy{"newsletter": {OptIn: true}}
}

func newsletter(eventID string) notify.Notification {
	n := welcome(eventID)
	n.Category = "newsletter"
	return n
}

// An opt-in category is skipped (not_opted_in) on every channel until the
// user allows it, then sent where allowed and only there.
func TestOptInCategorySkippedUntilAllowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, optIn)
		h.contact(t, ana)
		h.run(t)
		r, err := h.d.Send(t.Context(), newsletter("n1"))
		require.NoError(t, err)
		assert.Empty(t, r.Deliveries, "nothing of an opt-in category before consent")
		assert.ElementsMatch(t, []notify.Skip{
			{Channel: "apns", Reason: notify.ReasonNotOptedIn}, {Channel: "fcm", Reason: notify.ReasonNotOptedIn},
			{Channel: "sms", Reason: notify.ReasonNotOptedIn}, {Channel: "email", Reason: notify.ReasonNotOptedIn},
		}, r.Skipped)
		for _, d := range h.settle(t, r.NotificationID) {
			assert.Equal(t, notify.StatusSkipped, d.Status)
			assert.Equal(t, notify.ReasonNotOptedIn, d.Reason, "the log says why")
		}
		ok, err := h.d.Allowed(t.Context(), "ana", "newsletter", "email")
		require.NoError(t, err)
		assert.False(t, ok, "Dispatcher.Allowed applies the policy")

		// An allow of every category is no consent to an opt-in one.
		require.NoError(t, h.d.SetPreference(t.Context(), "ana", notify.AllCategories, notify.AllChannels, true))
		r, err = h.d.Send(t.Context(), newsletter("n2"))
		require.NoError(t, err)
		assert.Empty(t, r.Deliveries, "an allow of every category is not consent")

		require.NoError(t, h.d.SetPreference(t.Context(), "ana", "newsletter", "email", true))
		r, err = h.d.Send(t.Context(), newsletter("n3"))
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1, "sent where the user allowed it")
		ds := byChannel(h.settle(t, r.NotificationID))
		assert.Equal(t, notify.StatusSent, ds["email"].Status)
		assert.Equal(t, notify.ReasonNotOptedIn, ds["sms"].Reason)
		assert.Len(t, h.ch["email"].Sent(), 1)
		assert.Empty(t, h.ch["sms"].Sent())

		// A category that is not opt-in is sent without consent.
		r, err = h.d.Send(t.Context(), welcome("w1"))
		require.NoError(t, err)
		assert.Len(t, r.Deliveries, 4)
	})
}

// Delivery time applies the opt-in too: a delivery accepted by a
// Dispatcher whose category was not opt-in, run by one where it is, is
// skipped (not_opted_in); one whose consent is withdrawn after accept is
// skipped as opted out.
func TestOptInCheckedAtDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		n := newsletter("before-opt-in")
		n.Channels = []string{"email"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)

		cfg := h.cfg
		optIn(&cfg)
		d2, err := notify.New(cfg)
		require.NoError(t, err)
		h.d = d2
		h.run(t)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSkipped, ds[0].Status)
		assert.Equal(t, notify.ReasonNotOptedIn, ds[0].Reason)
		assert.Empty(t, h.ch["email"].Calls())
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, optIn)
		h.contact(t, ana)
		require.NoError(t, h.d.SetPreference(t.Context(), "ana", "newsletter", notify.AllChannels, true))
		n := newsletter("withdrawn")
		n.Channels = []string{"email"}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		require.NoError(t, h.d.SetPreference(t.Context(), "ana", "newsletter", "email", false))
		h.run(t)
		ds := h.settle(t, r.NotificationID)
		assert.Equal(t, notify.StatusSkipped, ds[0].Status)
		assert.Equal(t, notify.ReasonOptedOut, ds[0].Reason)
		assert.Empty(t, h.ch["email"].Calls())
	})
}

// An opt-in category refuses what cannot carry consent: no user, or a
// critical notification.
func TestOptInRefusesCriticalAndAnonymous(t *testing.T) {
	h := newHarness(t, optIn)
	var ve *notify.ValidationError
	n := newsletter("critical")
	n.Critical = true
	_, err := h.d.Send(t.Context(), n)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Critical", ve.Field)

	n = newsletter("anonymous")
	n.UserID, n.To = "", []notify.Address{{Channel: "email", Value: "ana@example.com"}}
	_, err = h.d.Send(t.Context(), n)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "UserID", ve.Field)
}

// AllChannels opts out of a category everywhere; an explicit allow on one
// channel wins there.
func TestAllChannelsOptOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.contact(t, ana)
		h.run(t)
		require.NoError(t, h.d.SetPreference(t.Context(), "ana", "marketing", notify.AllChannels, false))
		n := welcome("promo-1")
		n.Category = "marketing"
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Empty(t, r.Deliveries)
		assert.Len(t, r.Skipped, 4)
		for _, s := range r.Skipped {
			assert.Equal(t, notify.ReasonOptedOut, s.Reason, s.Channel)
		}

		require.NoError(t, h.d.SetPreference(t.Context(), "ana", "marketing", "email", true))
		n.EventID = "promo-2"
		r, err = h.d.Send(t.Context(), n)
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		ds := byChannel(h.settle(t, r.NotificationID))
		assert.Equal(t, notify.StatusSent, ds["email"].Status)
		assert.Len(t, h.ch["email"].Sent(), 1)

		n.EventID, n.Critical = "promo-3", true
		r, err = h.d.Send(t.Context(), n)
		require.NoError(t, err)
		assert.Len(t, r.Deliveries, 4, "critical bypasses an opt-out of every channel")
	})
}

func TestDispatcherPreferences(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	ps, err := h.d.Preferences(ctx, "ana")
	require.NoError(t, err)
	assert.Empty(t, ps)
	require.NoError(t, h.d.SetPreference(ctx, "ana", "marketing", notify.AllChannels, false))
	require.NoError(t, h.d.SetPreference(ctx, "ana", "marketing", "email", true))
	ps, err = h.d.Preferences(ctx, "ana")
	require.NoError(t, err)
	require.Len(t, ps, 2)
	assert.Equal(t, notify.AllChannels, ps[0].Channel)
	assert.False(t, ps[0].Allowed)
	assert.Equal(t, "email", ps[1].Channel)
	assert.True(t, ps[1].Allowed)
	assert.False(t, ps[1].Updated.IsZero())

	var ve *notify.ValidationError
	_, err = h.d.Preferences(ctx, "")
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "UserID", ve.Field)

	// A Store that cannot list.
	h2 := newHarness(t, func(c *notify.Config) { c.Store = plainStore{c.Store} })
	_, err = h2.d.Preferences(ctx, "ana")
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}

func TestSetPreferenceValidates(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	long := strings.Repeat("x", 256)
	for _, tc := range []struct {
		user, category, channel, field string
	}{
		{"", "marketing", "sms", "UserID"},
		{long, "marketing", "sms", "UserID"},
		{"ana", "", "sms", "Category"},
		{"ana", long, "sms", "Category"},
		{"ana", "market\x00ing", "sms", "Category"},
		{"ana", "marketing", "", "Channel"},
		{"ana", "marketing", "\xff", "Channel"},
	} {
		var ve *notify.ValidationError
		require.ErrorAs(t, h.d.SetPreference(ctx, tc.user, tc.category, tc.channel, false), &ve, "%+v", tc)
		assert.Equal(t, tc.field, ve.Field)
	}
	ps, err := h.store.ListPreferences(ctx, "ana")
	require.NoError(t, err)
	assert.Empty(t, ps, "nothing stored")
	require.NoError(t, h.d.SetPreference(ctx, "ana", notify.AllCategories, notify.AllChannels, false))
}

func TestNewRefusesChannelNamedAllChannels(t *testing.T) {
	_, err := notify.New(notify.Config{
		Queue: newHarness(t).queue, Store: newHarness(t).store,
		Channels: []notify.Channel{notifytest.NewChannel(notify.AllChannels)},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AllChannels")
}

func TestConsentOf(t *testing.T) {
	p := func(cat, ch string, allowed bool) notify.Preference {
		return notify.Preference{Category: cat, Channel: ch, Allowed: allowed}
	}
	all, star := notify.AllCategories, notify.AllChannels
	tests := []struct {
		name string
		set  []notify.Preference
		want notify.Consent
	}{
		{"nothing", nil, notify.ConsentUnset},
		{"other settings", []notify.Preference{p("news", "email", false), p("marketing", "sms", false)}, notify.ConsentUnset},
		{"exact allow", []notify.Preference{p("marketing", "email", true)}, notify.ConsentAllowed},
		{"exact opt-out", []notify.Preference{p("marketing", "email", false)}, notify.ConsentOptedOut},
		{"category on every channel", []notify.Preference{p("marketing", star, false)}, notify.ConsentOptedOut},
		{"channel beats every channel", []notify.Preference{p("marketing", star, false), p("marketing", "email", true)}, notify.ConsentAllowed},
		{"channel beats every channel, the other way", []notify.Preference{p("marketing", "email", false), p("marketing", star, true)}, notify.ConsentOptedOut},
		{"every category opt-out beats the category's allow", []notify.Preference{p(all, "email", false), p("marketing", "email", true)}, notify.ConsentOptedOut},
		{"every category everywhere", []notify.Preference{p(all, star, false), p("marketing", "email", true)}, notify.ConsentOptedOut},
		{"every category on the channel allowed again", []notify.Preference{p(all, star, false), p(all, "email", true), p("marketing", "email", true)}, notify.ConsentAllowed},
		{"an allow of every category is no consent", []notify.Preference{p(all, "email", true), p(all, star, true)}, notify.ConsentUnset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, notify.ConsentOf(tc.set, "marketing", "email"))
		})
	}
	assert.True(t, notify.ConsentUnset.Allows(false))
	assert.False(t, notify.ConsentUnset.Allows(true))
	assert.True(t, notify.ConsentAllowed.Allows(true))
	assert.False(t, notify.ConsentOptedOut.Allows(false))
}
