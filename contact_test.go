package notify

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestContactAddresses pins where each kind of channel reads its addresses
// off a Contact: Phone for SMS, Email for email, the tokens of the devices
// registered on the platform for a push channel; empty values are no
// address, and a device is never read as an SMS or email address.
func TestContactAddresses(t *testing.T) {
	reg := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	c := Contact{
		UserID: "u1", Phone: "+15550100", Email: "ana@example.com",
		Devices: []Device{
			{Platform: ChannelAPNs, Token: "a1", RegisteredAt: reg},
			{Platform: ChannelFCM, Token: "f1"},
			{Platform: ChannelAPNs, Token: ""},
			{Platform: ChannelAPNs, Token: "a2"},
			{Platform: ChannelSMS, Token: "not-a-phone"},
		},
	}
	assert.Equal(t, []Address{{ChannelSMS, "+15550100"}}, c.Addresses(ChannelSMS))
	assert.Equal(t, []Address{{ChannelEmail, "ana@example.com"}}, c.Addresses(ChannelEmail))
	assert.Equal(t, []Address{{ChannelAPNs, "a1"}, {ChannelAPNs, "a2"}}, c.Addresses(ChannelAPNs))
	assert.Equal(t, []Address{{ChannelFCM, "f1"}}, c.Addresses(ChannelFCM))
	assert.Empty(t, c.Addresses("webpush"))
	assert.Empty(t, (&Contact{UserID: "u2"}).Addresses(ChannelSMS), "an empty Phone is no address")

	var regs []time.Time
	for _, r := range c.addresses(ChannelAPNs) {
		regs = append(regs, r)
	}
	assert.Equal(t, []time.Time{reg, {}}, regs, "a device's address carries its registration time")
	for _, r := range c.addresses(ChannelSMS) {
		assert.True(t, r.IsZero(), "a Phone has no registration time")
	}
}
