package notifytest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// consentOf returns a function reading s's Consent, failing t on error.
func consentOf(ctx context.Context, t *testing.T, s notify.Store) func(user, category, channel string) notify.Consent {
	return func(user, category, channel string) notify.Consent {
		t.Helper()
		c, err := s.Consent(ctx, user, category, channel)
		require.NoError(t, err, "Consent(%s, %s, %s)", user, category, channel)
		return c
	}
}

func testPreferences(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	other := id + "-other"
	consent := consentOf(ctx, t, s)
	assert.Equal(t, notify.ConsentUnset, consent(id, "marketing", "sms"), "nothing set")

	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", false))
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"), "after opting out")
	assert.Equal(t, notify.ConsentUnset, consent(id, "marketing", "email"), "another channel of the category")
	assert.Equal(t, notify.ConsentUnset, consent(id, "security", "sms"), "another category on the channel")
	assert.Equal(t, notify.ConsentUnset, consent(other, "marketing", "sms"), "another user")

	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", false), "setting the same preference twice")
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"))
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "sms"), "after opting in again: an explicit allow, not unset")

	// An opt-out of every category (an SMS STOP) answers for each category
	// on that channel, as the Dispatcher would act on it.
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, "sms", false))
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"), "after opting out of every category on the channel")
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "security", "sms"), "after opting out of every category on the channel")
	assert.Equal(t, notify.ConsentUnset, consent(id, "marketing", "email"), "another channel after an opt-out of every category")
	assert.Equal(t, notify.ConsentUnset, consent(other, "marketing", "sms"), "another user after an opt-out of every category")
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", true))
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"), "a category's allow does not lift an opt-out of every category")
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, "sms", true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "sms"), "after opting in to every category again, the category's own allow")
	assert.Equal(t, notify.ConsentUnset, consent(id, "security", "sms"), "an allow of every category is no consent to one")
}

// testPreferencesAllChannels checks the channel wildcard: an opt-out of a
// category on AllChannels holds on every channel, and a setting of the
// category on one channel wins over it there.
func testPreferencesAllChannels(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	consent := consentOf(ctx, t, s)
	require.NoError(t, s.SetPreference(ctx, id, "marketing", notify.AllChannels, false))
	for _, ch := range []string{"sms", "email", "apns", "fcm"} {
		assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", ch), "an opt-out of marketing on every channel, on %s", ch)
		assert.Equal(t, notify.ConsentUnset, consent(id, "security", ch), "another category on %s", ch)
	}
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "email", true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "email"), "an explicit allow on one channel wins over the category's opt-out on every channel")
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"), "and only on that channel")

	require.NoError(t, s.SetPreference(ctx, id, "marketing", notify.AllChannels, true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "sms"), "an allow on every channel is consent on each")
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", false))
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", "sms"), "an opt-out on one channel wins over the allow on every channel")
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "fcm"))

	// Every category on every channel: one switch for everything.
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, notify.AllChannels, false))
	for _, ch := range []string{"sms", "email", "fcm"} {
		assert.Equal(t, notify.ConsentOptedOut, consent(id, "marketing", ch), "an opt-out of every category on every channel, on %s", ch)
		assert.Equal(t, notify.ConsentOptedOut, consent(id, "security", ch), "an opt-out of every category on every channel, on %s", ch)
	}
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, "email", true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "marketing", "email"), "every category allowed on email again: marketing's own allow holds")
	assert.Equal(t, notify.ConsentUnset, consent(id, "security", "email"), "every category allowed on email again: nothing set for security")
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "security", "sms"), "still opted out of everything elsewhere")
}

// testPreferencesConsent checks that unset and allowed are told apart:
// what an opt-in category needs.
func testPreferencesConsent(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	consent := consentOf(ctx, t, s)
	assert.Equal(t, notify.ConsentUnset, consent(id, "newsletter", "email"))
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, "email", true))
	assert.Equal(t, notify.ConsentUnset, consent(id, "newsletter", "email"), "an allow of every category is no consent to one")
	require.NoError(t, s.SetPreference(ctx, id, "newsletter", "email", true))
	assert.Equal(t, notify.ConsentAllowed, consent(id, "newsletter", "email"))
	assert.Equal(t, notify.ConsentUnset, consent(id, "newsletter", "sms"), "consent on one channel is not consent on another")
	require.NoError(t, s.SetPreference(ctx, id, "newsletter", "email", false))
	assert.Equal(t, notify.ConsentOptedOut, consent(id, "newsletter", "email"), "consent withdrawn")
}

// testPreferencesPrecedence sets every combination of the four settings
// that can match ("marketing" or AllCategories, "email" or AllChannels;
// each unset, allowed or opted out: 81 cases, one user each) and checks
// the store's Consent against notify.ConsentOf on the same settings.
func testPreferencesPrecedence(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 60*time.Second)
	consent := consentOf(ctx, t, s)
	keys := [4][2]string{{"marketing", "email"}, {"marketing", notify.AllChannels}, {notify.AllCategories, "email"}, {notify.AllCategories, notify.AllChannels}}
	for n := range 81 {
		user := fmt.Sprintf("%s-%d", id, n)
		var set []notify.Preference
		v := n
		for _, k := range keys {
			switch v % 3 {
			case 1:
				set = append(set, notify.Preference{Category: k[0], Channel: k[1], Allowed: true})
			case 2:
				set = append(set, notify.Preference{Category: k[0], Channel: k[1], Allowed: false})
			}
			v /= 3
		}
		for _, p := range set {
			require.NoError(t, s.SetPreference(ctx, user, p.Category, p.Channel, p.Allowed))
		}
		// Settings that must not matter: another category, another channel.
		require.NoError(t, s.SetPreference(ctx, user, "security", "email", n%2 == 0))
		require.NoError(t, s.SetPreference(ctx, user, "marketing", "sms", n%2 == 1))
		assert.Equal(t, notify.ConsentOf(set, "marketing", "email"), consent(user, "marketing", "email"), "settings %+v", set)
	}
}

// testPreferenceLister checks a notify.PreferenceLister's list.
func testPreferenceLister(t *testing.T, s notify.Store, id string) {
	l, ok := notify.As[notify.PreferenceLister](s)
	if !ok {
		t.Skip("the store is not a notify.PreferenceLister")
	}
	ctx := timeout(t, 20*time.Second)
	got, err := l.ListPreferences(ctx, id)
	require.NoError(t, err, "ListPreferences of a user with none")
	assert.Empty(t, got, "a user with no settings")

	before := time.Now().Add(-time.Second)
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", false))
	require.NoError(t, s.SetPreference(ctx, id, "marketing", notify.AllChannels, false))
	require.NoError(t, s.SetPreference(ctx, id, notify.AllCategories, "email", false))
	require.NoError(t, s.SetPreference(ctx, id, "alerts", "fcm", true))
	require.NoError(t, s.SetPreference(ctx, id, "marketing", "sms", true)) // replaces the first
	require.NoError(t, s.SetPreference(ctx, id+"-other", "marketing", "sms", false))
	after := time.Now().Add(time.Second)

	got, err = l.ListPreferences(ctx, id)
	require.NoError(t, err)
	want := []notify.Preference{
		{Category: notify.AllCategories, Channel: "email", Allowed: false},
		{Category: "alerts", Channel: "fcm", Allowed: true},
		{Category: "marketing", Channel: notify.AllChannels, Allowed: false},
		{Category: "marketing", Channel: "sms", Allowed: true},
	}
	require.Len(t, got, len(want), "every setting once: %+v", got)
	for i, p := range got {
		assert.Equal(t, want[i].Category, p.Category, "setting %d", i)
		assert.Equal(t, want[i].Channel, p.Channel, "setting %d", i)
		assert.Equal(t, want[i].Allowed, p.Allowed, "setting %d (%s on %s)", i, p.Category, p.Channel)
		assert.True(t, p.Updated.After(before) && p.Updated.Before(after), "setting %d's Updated %s, set between %s and %s", i, p.Updated, before, after)
	}
}
