package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// hexTokens is an APNs channel whose Validator accepts only hex tokens.
type hexTokens struct{ *notifytest.Channel }

func (hexTokens) Validate(d *notify.Delivery) error {
	if strings.Trim(d.Address, "0123456789abcdef") != "" {
		return &notify.ValidationError{Field: notify.FieldAddress, Reason: "not a hex device token"}
	}
	return nil
}

// noRegistry hides store/memory's DeviceRegistry.
type noRegistry struct{ notify.Store }

func TestRegisterDeviceValidates(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) {
		for i, ch := range c.Channels {
			if ch.Name() == notify.ChannelAPNs {
				c.Channels[i] = hexTokens{notifytest.NewChannel(notify.ChannelAPNs)}
			}
		}
	})
	ctx := context.Background()
	field := func(err error) string {
		t.Helper()
		var ve *notify.ValidationError
		require.True(t, errors.As(err, &ve), "want a *notify.ValidationError, got %v", err)
		return ve.Field
	}
	for name, c := range map[string]struct {
		user  string
		dev   notify.Device
		field string
	}{
		"no user":       {"", notify.Device{Platform: "apns", Token: "ab"}, "UserID"},
		"no platform":   {"u", notify.Device{Token: "ab"}, "Platform"},
		"no token":      {"u", notify.Device{Platform: "apns"}, "Token"},
		"bad token":     {"u", notify.Device{Platform: "apns", Token: "not hex"}, "Token"},
		"NUL in app":    {"u", notify.Device{Platform: "apns", Token: "ab", App: "a\x00b"}, "App"},
		"long locale":   {"u", notify.Device{Platform: "apns", Token: "ab", Locale: strings.Repeat("x", 1025)}, "Locale"},
		"invalid UTF-8": {"u", notify.Device{Platform: "fcm", Token: "\xff"}, "Token"},
	} {
		_, err := h.d.RegisterDevice(ctx, c.user, c.dev)
		assert.Equal(t, c.field, field(err), name)
	}
	// PutContact rejects the same token, naming its place.
	err := h.d.PutContact(ctx, notify.Contact{UserID: "u", Devices: []notify.Device{{Platform: "apns", Token: "ab"}, {Platform: "apns", Token: "zz"}}})
	assert.Equal(t, "Devices[1].Token", field(err))
	assert.Equal(t, "NewToken", field(h.d.RefreshDevice(ctx, "u", "apns", "ab", "zz")))
	assert.Equal(t, "OldToken", field(h.d.RefreshDevice(ctx, "u", "apns", "", "ab")))

	before := time.Now()
	reg, err := h.d.RegisterDevice(ctx, "u", notify.Device{Platform: "apns", Token: "ab"})
	require.NoError(t, err)
	assert.True(t, reg.Created)
	assert.False(t, reg.Device.LastSeen.Before(before), "LastSeen stamped")
	reg, err = h.d.RegisterDevice(ctx, "v", notify.Device{Platform: "apns", Token: "ab"})
	require.NoError(t, err)
	assert.Equal(t, "u", reg.MovedFrom)
	require.NoError(t, h.d.RefreshDevice(ctx, "v", "apns", "ab", "cd"))
	c, err := h.d.Contact(ctx, "v")
	require.NoError(t, err)
	assert.Equal(t, "cd", c.Devices[0].Token)
	require.NoError(t, h.d.UnregisterDevice(ctx, "v", "apns", "cd"))
	c, err = h.d.Contact(ctx, "v")
	require.NoError(t, err)
	assert.Empty(t, c.Devices)
	n, err := h.d.PruneDevices(ctx, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = h.d.PruneDevices(ctx, 0)
	assert.Equal(t, "notSeenFor", field(err))
	assert.True(t, h.d.HasDeviceRegistry())
}

func TestRegisterDeviceUnsupported(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Store = noRegistry{c.Store} })
	ctx := context.Background()
	assert.False(t, h.d.HasDeviceRegistry())
	_, err := h.d.RegisterDevice(ctx, "u", notify.Device{Platform: "apns", Token: "ab"})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorIs(t, h.d.UnregisterDevice(ctx, "u", "apns", "ab"), errors.ErrUnsupported)
	assert.ErrorIs(t, h.d.RefreshDevice(ctx, "u", "apns", "ab", "cd"), errors.ErrUnsupported)
	_, err = h.d.PruneDevices(ctx, time.Hour)
	assert.ErrorIs(t, err, errors.ErrUnsupported)
}
