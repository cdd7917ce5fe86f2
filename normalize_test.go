package notify_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// normalizingChannel is a channel whose addresses have several written
// forms, as channel/sms's and channel/email's do: its AddressNormalizer
// drops spaces, dashes and parentheses, writes a national "0…" number as
// "+44…" and lower-cases the rest; it refuses addresses holding "bad",
// and its Validator refuses what does not start with "+" or hold an "@"
// (so a Validator that sees an address before normalization rejects it).
// It counts NormalizeAddress calls.
type normalizingChannel struct {
	*notifytest.Channel
	calls atomic.Int64
}

func (c *normalizingChannel) NormalizeAddress(a string) (string, error) {
	c.calls.Add(1)
	if strings.Contains(a, "bad") {
		return "", errors.New("not an address: it says bad")
	}
	a = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -()", r) {
			return -1
		}
		return r
	}, strings.ToLower(a))
	if strings.HasPrefix(a, "0") {
		a = "+44" + a[1:]
	}
	if a == "" {
		return "", &notify.ValidationError{Field: notify.FieldAddress, Reason: "empty once normalized"}
	}
	return a, nil
}

func (c *normalizingChannel) Validate(d *notify.Delivery) error {
	if !strings.HasPrefix(d.Address, "+") && !strings.Contains(d.Address, "@") && d.Channel != notify.ChannelFCM {
		return &notify.ValidationError{Field: notify.FieldAddress, Reason: fmt.Sprintf("%q is not normalized", d.Address)}
	}
	return nil
}

// withNormalizing puts a normalizingChannel in place of the harness's SMS,
// email and FCM channels and returns them by name.
func withNormalizing(chans map[string]*normalizingChannel) func(*notify.Config) {
	return func(c *notify.Config) {
		for i, ch := range c.Channels {
			switch ch.Name() {
			case notify.ChannelSMS, notify.ChannelEmail, notify.ChannelFCM:
				nc := &normalizingChannel{Channel: ch.(*notifytest.Channel)}
				chans[ch.Name()] = nc
				c.Channels[i] = nc
			}
		}
	}
}

func TestPutContactStoresNormalizedAddresses(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	in := notify.Contact{
		UserID: "ana", Phone: "020 7946-0000", Email: "Ana@Example.COM",
		Devices: []notify.Device{{Platform: notify.ChannelAPNs, Token: "APNS TOKEN"}, {Platform: notify.ChannelFCM, Token: "FCM TOKEN"}},
	}
	want := notify.Contact{
		UserID: "ana", Phone: "+442079460000", Email: "ana@example.com",
		Devices: []notify.Device{{Platform: notify.ChannelAPNs, Token: "APNS TOKEN"}, {Platform: notify.ChannelFCM, Token: "fcmtoken"}},
	}

	got, err := h.d.NormalizeContact(in)
	require.NoError(t, err)
	assert.Equal(t, want, got, "APNs has no normalizer: its token is kept as it is")
	assert.Equal(t, "FCM TOKEN", in.Devices[1].Token, "the caller's Devices are not modified")
	_, err = h.store.Contact(t.Context(), "ana")
	require.ErrorIs(t, err, notify.ErrNotFound, "NormalizeContact stores nothing")

	require.NoError(t, h.d.PutContact(t.Context(), in))
	stored, err := h.store.Contact(t.Context(), "ana")
	require.NoError(t, err)
	assert.Equal(t, want.Phone, stored.Phone)
	assert.Equal(t, want.Email, stored.Email)
	require.Len(t, stored.Devices, 2)
	assert.Equal(t, "fcmtoken", stored.Devices[1].Token)
	assert.Equal(t, "FCM TOKEN", in.Devices[1].Token, "the caller's Devices are not modified")

	again, err := h.d.NormalizeContact(stored)
	require.NoError(t, err)
	assert.Equal(t, stored, again, "a normalized contact is its own normal form")
}

func TestPutContactRejectsWhatTheNormalizerRejects(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	for _, tc := range []struct {
		name  string
		edit  func(c *notify.Contact)
		field string
	}{
		{"phone", func(c *notify.Contact) { c.Phone = "bad number" }, "Phone"},
		{"email", func(c *notify.Contact) { c.Email = "bad@example.com" }, "Email"},
		{"empty once normalized", func(c *notify.Contact) { c.Phone = " - " }, "Phone"},
		{"device token", func(c *notify.Contact) {
			c.Devices = []notify.Device{{Platform: notify.ChannelAPNs, Token: "ok"}, {Platform: notify.ChannelFCM, Token: "bad"}}
		}, "Devices[1].Token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := notify.Contact{UserID: "u-" + tc.name, Phone: "+15005550006", Email: "a@example.com"}
			tc.edit(&c)
			err := h.d.PutContact(t.Context(), c)
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
			_, err = h.store.Contact(t.Context(), c.UserID)
			require.ErrorIs(t, err, notify.ErrNotFound, "nothing stored")
		})
	}
}

func TestDeviceRegistrationNormalizesTokens(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	reg, err := h.d.RegisterDevice(t.Context(), "ana", notify.Device{Platform: notify.ChannelFCM, Token: "Tok-1"})
	require.NoError(t, err)
	assert.Equal(t, "tok1", reg.Device.Token)

	_, err = h.d.RegisterDevice(t.Context(), "ana", notify.Device{Platform: notify.ChannelFCM, Token: "bad"})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Token", ve.Field)

	require.ErrorAs(t, h.d.RefreshDevice(t.Context(), "ana", notify.ChannelFCM, "tok1", "bad"), &ve)
	assert.Equal(t, "NewToken", ve.Field)

	// The old token is found in any written form; the new one is stored normalized.
	require.NoError(t, h.d.RefreshDevice(t.Context(), "ana", notify.ChannelFCM, "TOK-1", "Tok 2"))
	c, err := h.store.Contact(t.Context(), "ana")
	require.NoError(t, err)
	require.Len(t, c.Devices, 1)
	assert.Equal(t, "tok2", c.Devices[0].Token)

	require.NoError(t, h.d.UnregisterDevice(t.Context(), "ana", notify.ChannelFCM, "TOK 2"))
	c, err = h.store.Contact(t.Context(), "ana")
	require.NoError(t, err)
	assert.Empty(t, c.Devices)
}

func TestSendNormalizesToAndStoredAddresses(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	// Written straight to the Store, bypassing PutContact: not normalized.
	h.contact(t, notify.Contact{UserID: "ana", Phone: "020 7946 0000", Email: "ANA@example.com"})

	r, err := h.d.Send(t.Context(), notify.Notification{
		UserID: "ana", Channels: []string{notify.ChannelSMS, notify.ChannelEmail},
		To: []notify.Address{
			{Channel: notify.ChannelSMS, Value: "+44 (20) 7946-0000"}, // the stored number, written otherwise
			{Channel: notify.ChannelEmail, Value: "Bob@Example.com"},
		},
		Content: &notify.Message{Body: "x", Subject: "x", Text: "x"},
	})
	require.NoError(t, err)
	var got []string
	for _, d := range r.Deliveries {
		got = append(got, d.Channel+" "+d.Address)
	}
	assert.ElementsMatch(t, []string{"sms +442079460000", "email ana@example.com", "email bob@example.com"}, got,
		"one delivery per normalized address: the stored number and its other form in To are one")

	stop := h.run(t)
	h.settle(t, r.NotificationID)
	stop()
	var sent []string
	for _, name := range []string{notify.ChannelSMS, notify.ChannelEmail} {
		for _, d := range chans[name].Sent() {
			sent = append(sent, d.Address)
		}
	}
	assert.ElementsMatch(t, []string{"+442079460000", "ana@example.com", "bob@example.com"}, sent, "channels send to the normal form")
}

func TestSendRejectsABadToAndSkipsABadStoredAddress(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	h.contact(t, notify.Contact{UserID: "ana", Phone: "bad phone", Email: "ana@example.com",
		Devices: []notify.Device{{Platform: notify.ChannelAPNs, Token: "apns-1"}}})

	_, err := h.d.Send(t.Context(), notify.Notification{
		To: []notify.Address{
			{Channel: notify.ChannelEmail, Value: "a@example.com"},
			{Channel: notify.ChannelSMS, Value: "+15005550006"},
			{Channel: notify.ChannelSMS, Value: "bad"},
		},
		Content: &notify.Message{Body: "x", Subject: "x", Text: "x"},
	})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "To[2].Value", ve.Field)
	require.ErrorIs(t, err, notify.ErrNotQueued)

	r, err := h.d.Send(t.Context(), welcome("reset"))
	require.NoError(t, err, "a stored phone number the channel rejects must not block email and push")
	assert.Len(t, r.Deliveries, 2)
	assert.Equal(t, notify.ReasonInvalidAddress+": not an address: it says bad", skippedSMS(t, h, r))
}

// TestPutContactAndSendAgree checks, address by address, that PutContact
// accepts exactly what Send's To accepts, and stores what Send sends to.
func TestPutContactAndSendAgree(t *testing.T) {
	chans := map[string]*normalizingChannel{}
	h := newHarness(t, withNormalizing(chans))
	for i, phone := range []string{"+15005550006", "020 7946 0000", "(0) 20", "bad", " - ", "nothing", "+1 500 555 0006"} {
		user := fmt.Sprintf("u%d", i)
		putErr := h.d.PutContact(t.Context(), notify.Contact{UserID: user, Phone: phone})
		r, sendErr := h.d.Send(t.Context(), notify.Notification{
			To: []notify.Address{{Channel: notify.ChannelSMS, Value: phone}}, Content: &notify.Message{Body: "x"},
		})
		require.Equal(t, putErr == nil, sendErr == nil, "%q: PutContact says %v, Send says %v", phone, putErr, sendErr)
		if putErr != nil {
			continue
		}
		c, err := h.store.Contact(t.Context(), user)
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		assert.Equal(t, c.Phone, r.Deliveries[0].Address, "%q", phone)
	}
	assert.Positive(t, chans[notify.ChannelSMS].calls.Load())
}
