package notify

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"
)

// contactField is a Contact field that holds a user's one address on a
// channel.
type contactField struct {
	channel string  // the channel the address reaches
	name    string  // the field's name, as a ValidationError names it
	value   *string // the field in its Contact
}

// addressFields lists c's fields that hold one address each, in the order
// PutContact checks them. With addresses, it is the one place that knows
// where a Contact keeps each kind of channel's addresses: the SMS phone
// number in Phone, the email address in Email; every other channel is a
// push platform, reached through the tokens of the Devices registered on
// it.
func (c *Contact) addressFields() [2]contactField {
	return [2]contactField{
		{channel: ChannelSMS, name: "Phone", value: &c.Phone},
		{channel: ChannelEmail, name: "Email", value: &c.Email},
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
				if *f.value != "" {
					yield(Address{Channel: channel, Value: *f.value}, time.Time{})
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

// PutContact checks c's addresses as Send would and stores c in the Store,
// each address in its channel's normal form (see NormalizeContact). An
// address a configured channel rejects (a phone number without its
// country code, a malformed device token or email address) returns a
// *ValidationError naming it ("Phone", "Email", "Devices[1].Token"), and
// nothing is stored; so do a TimeZone that is not an IANA name and
// QuietHours whose Start or End is not a time of day. Addresses on
// channels this Dispatcher does not have are stored unchecked. Writing
// through Store.PutContact directly skips these checks; Send then
// normalizes a stored address as it reads it, and skips (and logs) one
// its channel rejects rather than failing.
func (d *Dispatcher) PutContact(ctx context.Context, c Contact) error {
	c, err := d.NormalizeContact(c)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	if err := d.cfg.Store.PutContact(pctx, c); err != nil {
		return fmt.Errorf("notify: store the contact of user %s: %w", c.UserID, err)
	}
	return nil
}

// NormalizeContact checks c as PutContact does, without storing it, and
// returns it as PutContact would store it: Phone, Email and each device's
// token in the normal form of its channel's AddressNormalizer (channel/sms
// stores E.164, "+14155550100"). Devices is a new slice when a token
// changed; c's own is never modified. A rejected address returns a
// *ValidationError naming it ("Phone", "Email", "Devices[1].Token").
func (d *Dispatcher) NormalizeContact(c Contact) (Contact, error) {
	if c.UserID == "" {
		return Contact{}, invalid("UserID", "empty: a contact belongs to a user")
	}
	for _, f := range c.addressFields() {
		v, err := d.checkAddress(f.name, f.channel, *f.value)
		if err != nil {
			return Contact{}, err
		}
		*f.value = v
	}
	copied := false
	for i := range c.Devices {
		dev := c.Devices[i]
		if err := d.checkDevice("Devices["+strconv.Itoa(i)+"].", &dev); err != nil {
			return Contact{}, err
		}
		if dev.Token != c.Devices[i].Token {
			if !copied {
				c.Devices, copied = slices.Clone(c.Devices), true
			}
			c.Devices[i].Token = dev.Token
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return Contact{}, &ValidationError{Field: "TimeZone", Reason: fmt.Sprintf("%q is not an IANA time zone name (say \"Europe/Lisbon\")", c.TimeZone), Err: err}
		}
	}
	if c.QuietHours != nil {
		if err := c.QuietHours.check("QuietHours"); err != nil {
			return Contact{}, err
		}
	}
	return c, nil
}

// checkAddress checks address as Send would check it on channel, and
// returns it in the channel's normal form: it is the one check PutContact,
// NormalizeContact and the device methods share. The channel's
// AddressNormalizer, if any, normalizes it (see channelInfo.normalize, which
// Send calls too); then the channel's Validator, if any, is asked about the
// normal form, and only a verdict on the address itself counts (the probe
// carries a placeholder message). A rejection is a *ValidationError naming
// field. An empty address, or one on a channel this Dispatcher does not
// have, is returned as it is.
func (d *Dispatcher) checkAddress(field, channel, address string) (string, error) {
	if address == "" {
		return "", nil
	}
	ci, ok := d.channels[channel]
	if !ok {
		return address, nil
	}
	address, err := ci.normalize(address)
	if err != nil {
		return "", err.named(field)
	}
	if ci.validator == nil {
		return address, nil
	}
	probe := Delivery{ID: "probe", Channel: channel, Address: address, Category: DefaultCategory,
		Message: Message{Title: "x", Body: "x", Subject: "x", Text: "x"}}
	err2 := ci.validator.Validate(&probe)
	if err2 == nil {
		return address, nil
	}
	ve, ok := err2.(*ValidationError)
	if !ok || !ve.aboutAddress() {
		return address, nil // about the placeholder message or the channel's settings
	}
	return "", ve.named(field)
}

// normalize returns address in the normal form of the channel's
// AddressNormalizer, or address itself when the channel has none. A
// rejection is a *ValidationError with Field FieldAddress; callers name
// the field with named. Send (for the addresses of To and the Store) and
// checkAddress (for PutContact and the device methods) both call it, so
// they accept and store the same addresses.
func (ci *channelInfo) normalize(address string) (string, *ValidationError) {
	if ci.normalizer == nil {
		return address, nil
	}
	v, err := ci.normalizer.NormalizeAddress(address)
	if err == nil {
		if v == "" {
			return "", &ValidationError{Field: FieldAddress, Reason: fmt.Sprintf("the %s channel normalized %q to an empty address", ci.name, address)}
		}
		return v, nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return "", &ValidationError{Field: FieldAddress, Reason: ve.Reason, Err: ve.Err}
	}
	return "", &ValidationError{Field: FieldAddress, Reason: err.Error(), Err: err}
}
