package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// DeviceRegistry is implemented by a Store that registers devices one at a
// time (store/memory, postgres.Store, sqlite.Store), without a
// read-modify-write of the whole contact: two registrations for one user
// at once both land, and the rest of the contact (phone, email, other
// devices) is left as it is.
//
// A (platform, token) pair has one owner: registering a token another user
// holds moves it to the registering user, atomically (two users
// registering one token at once leave exactly one owner), and says from
// whom. PutContact keeps the rule too: a token it puts is taken from any
// other user who held it.
type DeviceRegistry interface {
	// RegisterDevice adds d to the user's contact (creating an empty
	// contact if the user has none), or, if the user has the token on
	// d.Platform already, updates its App, Locale, RegisteredAt and
	// LastSeen in place. A zero d.RegisteredAt or d.LastSeen is set to
	// the time of the call. The token is removed from any other user
	// who held it.
	RegisterDevice(ctx context.Context, userID string, d Device) (DeviceRegistration, error)
	// UnregisterDevice removes the user's device with token on platform.
	// Removing a token the user does not have is not an error.
	UnregisterDevice(ctx context.Context, userID, platform, token string) error
	// RefreshDevice replaces the user's token oldToken on platform with
	// newToken, keeping the device's place, App and Locale and setting
	// its RegisteredAt and LastSeen to the time of the call. If the user
	// has no device with oldToken, newToken is registered as a new
	// device. newToken is removed from any other user who held it.
	RefreshDevice(ctx context.Context, userID, platform, oldToken, newToken string) error
	// PruneDevices removes every device, of every user, last seen before
	// notSeenSince (LastSeen, or RegisteredAt when LastSeen is unknown; a
	// device with neither is kept), and says how many it removed.
	PruneDevices(ctx context.Context, notSeenSince time.Time) (int64, error)
}

// DeviceRegistration is what DeviceRegistry.RegisterDevice did.
type DeviceRegistration struct {
	// Device is the device as stored.
	Device Device `json:"device"`
	// Created is true when the device is new to the user, false when the
	// user had the token already and the registration refreshed it.
	Created bool `json:"created"`
	// MovedFrom is the user who held the token before, from whom it was
	// removed; empty when no other user held it.
	MovedFrom string `json:"moved_from,omitempty"`
}

// maxDeviceField bounds a device's token, App and Locale, in bytes.
const maxDeviceField = 1024

// checkDevice checks dev as PutContact checks a contact's devices, naming
// the fields prefix+"Platform", prefix+"Token" and so on: the platform and
// token are set, each field is short valid UTF-8 without NUL bytes, and
// the platform's channel, when this Dispatcher has it, accepts the token
// as Send would (checkAddress). It sets dev.Token to the token's normal
// form (see AddressNormalizer).
func (d *Dispatcher) checkDevice(prefix string, dev *Device) error {
	if dev.Platform == "" {
		return invalid(prefix+"Platform", "empty: name the push channel (%q or %q)", ChannelAPNs, ChannelFCM)
	}
	if dev.Token == "" {
		return invalid(prefix+"Token", "empty device token")
	}
	for _, f := range [...]struct{ name, v string }{{"Platform", dev.Platform}, {"Token", dev.Token}, {"App", dev.App}, {"Locale", dev.Locale}} {
		switch {
		case len(f.v) > maxDeviceField:
			return invalid(prefix+f.name, "%d bytes long; at most %d", len(f.v), maxDeviceField)
		case !utf8.ValidString(f.v):
			return invalid(prefix+f.name, "not valid UTF-8")
		case strings.IndexByte(f.v, 0) >= 0:
			return invalid(prefix+f.name, "contains a NUL byte")
		}
	}
	token, err := d.checkAddress(prefix+"Token", dev.Platform, dev.Token)
	if err != nil {
		return err
	}
	dev.Token = token
	return nil
}

// storedForm is address as the Store holds it when it was put through
// PutContact or RegisterDevice: in the normal form of channel's
// AddressNormalizer, or as it is when the channel has none or cannot
// normalize it. It serves to find an address, never to accept one.
func (d *Dispatcher) storedForm(channel, address string) string {
	ci, ok := d.channels[channel]
	if !ok || address == "" {
		return address
	}
	if v, err := ci.normalize(address); err == nil {
		return v
	}
	return address
}

// deviceRegistry returns the Store's DeviceRegistry, or an error wrapping
// errors.ErrUnsupported.
func (d *Dispatcher) deviceRegistry() (DeviceRegistry, error) {
	r, ok := As[DeviceRegistry](d.cfg.Store)
	if !ok {
		return nil, fmt.Errorf("notify: the Store (%T) is not a notify.DeviceRegistry; register devices with PutContact: %w", d.cfg.Store, errors.ErrUnsupported)
	}
	return r, nil
}

// HasDeviceRegistry reports whether the configured Store is a
// DeviceRegistry, so that RegisterDevice and the other device methods
// work.
func (d *Dispatcher) HasDeviceRegistry() bool {
	_, ok := As[DeviceRegistry](d.cfg.Store)
	return ok
}

// RegisterDevice checks dev as PutContact would (a *ValidationError
// naming "UserID", "Platform", "Token", "App" or "Locale" when it
// rejects it: a token the platform's channel would refuse to send to is
// refused here) and registers it, its token in the normal form of the
// channel's AddressNormalizer if it has one, on the user's contact
// through the Store's DeviceRegistry: added, or refreshed if the user has the token
// already, and taken from any other user who held it (see
// DeviceRegistration.MovedFrom). A zero RegisteredAt or LastSeen is set
// to now. Without a DeviceRegistry it returns an error wrapping
// errors.ErrUnsupported.
func (d *Dispatcher) RegisterDevice(ctx context.Context, userID string, dev Device) (DeviceRegistration, error) {
	if userID == "" {
		return DeviceRegistration{}, invalid("UserID", "empty: a device belongs to a user")
	}
	if err := d.checkDevice("", &dev); err != nil {
		return DeviceRegistration{}, err
	}
	r, err := d.deviceRegistry()
	if err != nil {
		return DeviceRegistration{}, err
	}
	now := time.Now()
	if dev.LastSeen.IsZero() {
		dev.LastSeen = now
	}
	if dev.RegisteredAt.IsZero() {
		dev.RegisteredAt = now
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	reg, err := r.RegisterDevice(bctx, userID, dev)
	if err != nil {
		return DeviceRegistration{}, fmt.Errorf("notify: register a %s device of user %s: %w", dev.Platform, userID, err)
	}
	return reg, nil
}

// UnregisterDevice removes the user's device with token on platform
// through the Store's DeviceRegistry, leaving the rest of the contact as
// it is. Removing a token the user does not have is not an error. Without
// a DeviceRegistry it returns an error wrapping errors.ErrUnsupported
// (RemoveDevice works on every Store).
func (d *Dispatcher) UnregisterDevice(ctx context.Context, userID, platform, token string) error {
	switch {
	case userID == "":
		return invalid("UserID", "empty")
	case platform == "":
		return invalid("Platform", "empty: name the push channel (%q or %q)", ChannelAPNs, ChannelFCM)
	case token == "":
		return invalid("Token", "empty device token")
	}
	r, err := d.deviceRegistry()
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	if err := r.UnregisterDevice(bctx, userID, platform, d.storedForm(platform, token)); err != nil {
		return fmt.Errorf("notify: unregister a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// RefreshDevice replaces the user's token oldToken on platform with
// newToken (what an app does when its push service rotates the token),
// in one call to the Store's DeviceRegistry. newToken is checked as
// RegisterDevice checks a token (a *ValidationError naming "NewToken").
// Without a DeviceRegistry it returns an error wrapping
// errors.ErrUnsupported.
func (d *Dispatcher) RefreshDevice(ctx context.Context, userID, platform, oldToken, newToken string) error {
	switch {
	case userID == "":
		return invalid("UserID", "empty")
	case oldToken == "":
		return invalid("OldToken", "empty device token")
	}
	dev := Device{Platform: platform, Token: newToken}
	if err := d.checkDevice("", &dev); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) && ve.Field == "Token" {
			ve.Field = "NewToken"
		}
		return err
	}
	newToken, oldToken = dev.Token, d.storedForm(platform, oldToken) // as stored
	r, err := d.deviceRegistry()
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	if err := r.RefreshDevice(bctx, userID, platform, oldToken, newToken); err != nil {
		return fmt.Errorf("notify: refresh a %s device of user %s: %w", platform, userID, err)
	}
	return nil
}

// PruneDevices removes, through the Store's DeviceRegistry, every device
// not seen (registered or refreshed) for notSeenFor, and says how many it
// removed. A host calls it on a schedule of its own, with the period it
// keeps silent devices for. Without a DeviceRegistry it returns an error
// wrapping errors.ErrUnsupported.
func (d *Dispatcher) PruneDevices(ctx context.Context, notSeenFor time.Duration) (int64, error) {
	if notSeenFor <= 0 {
		return 0, invalid("notSeenFor", "%s: give a positive period (say 270 days)", notSeenFor)
	}
	r, err := d.deviceRegistry()
	if err != nil {
		return 0, err
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	n, err := r.PruneDevices(bctx, time.Now().Add(-notSeenFor))
	if err != nil {
		return n, fmt.Errorf("notify: prune devices: %w", err)
	}
	return n, nil
}
