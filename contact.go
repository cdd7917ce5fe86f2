package notify

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// contactField is a Contact field that holds a user's one address on a
// channel.
type contactField struct {
	channel string // the channel the address reaches
	name    string // the field's name, as a ValidationError names it
	value   string
}

// addressFields lists c's fields that hold one address each, in the order
// PutContact checks them. With addresses, it is the one place that knows
// where a Contact keeps each kind of channel's addresses: the SMS phone
// number in Phone, the email address in Email; every other channel is a
// push platform, reached through the tokens of the Devices registered on
// it.
func (c *Contact) addressFields() [2]contactField {
	return [2]contactField{
		{channel: ChannelSMS, name: "Phone", value: c.Phone},
		{channel: ChannelEmail, name: "Email", value: c.Email},
	}
}

// addresses yields c's addresses on channel in a stable order, each with
// when it was registered (zero but for a device): the field that holds
// channel's address (see addressFields), or else the token of every device
// registered on that platform. An empty value is no address.
func (c *Contact) addresses(channel string) iter.Seq2[Address, time.Time] {
	return func(yield func(Address, time.Time) bool) {
		for _, f := range c.addressFields() {
			if f.channel == channel {
				if f.value != "" {
					yield(Address{Channel: channel, Value: f.value}, time.Time{})
				}
				return
			}
		}
		for _, dev := range c.Devices {
			if dev.Platform == channel && dev.Token != "" {
				if !yield(Address{Channel: channel, Value: dev.Token}, dev.RegisteredAt) {
					return
				}
			}
		}
	}
}

// Addresses returns the contact's addresses on channel in a stable order.
func (c *Contact) Addresses(channel string) []Address {
	var out []Address
	for a := range c.addresses(channel) {
		out = append(out, a)
	}
	return out
}

// PutContact checks c's addresses as Send would and stores c in the Store.
// An address a configured channel rejects (a phone number without its
// country code, a malformed device token or email address) returns a
// *ValidationError naming it ("Phone", "Email", "Devices[1].Token"), and
// nothing is stored; so do a TimeZone that is not an IANA name and
// QuietHours whose Start or End is not a time of day. Addresses on
// channels this Dispatcher does not have are stored unchecked. Writing through Store.PutContact directly skips
// these checks; Send then skips (and logs) a stored address its channel
// rejects rather than failing.
func (d *Dispatcher) PutContact(ctx context.Context, c Contact) error {
	if c.UserID == "" {
		return invalid("UserID", "empty: a contact belongs to a user")
	}
	for _, f := range c.addressFields() {
		if err := d.checkAddress(f.name, f.channel, f.value); err != nil {
			return err
		}
	}
	for i, dev := range c.Devices {
		if err := d.checkDevice("Devices["+strconv.Itoa(i)+"].", &dev); err != nil {
			return err
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return &ValidationError{Field: "TimeZone", Reason: fmt.Sprintf("%q is not an IANA time zone name (say \"Europe/Lisbon\")", c.TimeZone), Err: err}
		}
	}
	if c.QuietHours != nil {
		if err := c.QuietHours.check("QuietHours"); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	if err := d.cfg.Store.PutContact(pctx, c); err != nil {
		return fmt.Errorf("notify: store the contact of user %s: %w", c.UserID, err)
	}
	return nil
}

// checkAddress asks channel's Validator, if any, whether it accepts
// address; only a verdict on the address itself counts (the probe carries
// a placeholder message).
func (d *Dispatcher) checkAddress(field, channel, address string) error {
	if address == "" {
		return nil
	}
	ci, ok := d.channels[channel]
	if !ok || ci.validator == nil {
		return nil
	}
	probe := Delivery{ID: "probe", Channel: channel, Address: address, Category: DefaultCategory,
		Message: Message{Title: "x", Body: "x", Subject: "x", Text: "x"}}
	err := ci.validator.Validate(&probe)
	if err == nil {
		return nil
	}
	ve, ok := err.(*ValidationError)
	if !ok || !ve.aboutAddress() {
		return nil // about the placeholder message or the channel's settings
	}
	return &ValidationError{Field: field, Reason: ve.Reason, Err: ve.Err}
}
