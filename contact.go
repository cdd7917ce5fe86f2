package notify

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// PutContact checks c's addresses as Send would and stores c in the Store.
// An address a configured channel rejects (a phone number without its
// country code, a malformed device token or email address) returns a
// *ValidationError naming it ("Phone", "Email", "Devices[1].Token"), and
// nothing is stored. Addresses on channels this Dispatcher does not have
// are stored unchecked. Writing through Store.PutContact directly skips
// these checks; Send then skips (and logs) a stored address its channel
// rejects rather than failing.
func (d *Dispatcher) PutContact(ctx context.Context, c Contact) error {
	if c.UserID == "" {
		return invalid("UserID", "empty: a contact belongs to a user")
	}
	if err := d.checkAddress("Phone", ChannelSMS, c.Phone); err != nil {
		return err
	}
	if err := d.checkAddress("Email", ChannelEmail, c.Email); err != nil {
		return err
	}
	for i, dev := range c.Devices {
		field := "Devices[" + strconv.Itoa(i) + "]"
		if dev.Platform == "" {
			return invalid(field+".Platform", "empty: name the push channel (%q or %q)", ChannelAPNs, ChannelFCM)
		}
		if dev.Token == "" {
			return invalid(field+".Token", "empty device token")
		}
		if err := d.checkAddress(field+".Token", dev.Platform, dev.Token); err != nil {
			return err
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			return &ValidationError{Field: "TimeZone", Reason: fmt.Sprintf("%q is not an IANA time zone name (say \"Europe/Lisbon\")", c.TimeZone), Err: err}
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
