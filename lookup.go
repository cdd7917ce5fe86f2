package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimHolder is implemented by a Deduper that can say who holds a key
// without claiming it (dedup/memory, dedup/redis, postgres.Deduper).
// StatusByEvent needs it.
type ClaimHolder interface {
	// Holder returns the owner holding key, or ErrNotFound when the key is
	// free (never claimed, released or expired).
	Holder(ctx context.Context, key string) (string, error)
}

// StatusByEvent returns the log of every delivery of the notification that
// claimed eventID, oldest first, and that notification's ID. It returns
// ErrNotFound when no claim of eventID is held (never sent, or its
// DedupTTL has passed) or the holder is not in the log yet, and an error
// when the Dispatcher has no Deduper (an event ID is then not recorded
// anywhere it can be looked up by).
//
// The lookup reads the claim (ClaimHolder) and claims nothing; with a
// Deduper that cannot say who holds a key, StatusByEvent returns an error
// wrapping errors.ErrUnsupported.
func (d *Dispatcher) StatusByEvent(ctx context.Context, eventID string) (notificationID string, records []DeliveryRecord, err error) {
	dd := d.cfg.Deduper
	if dd == nil {
		return "", nil, errors.New("notify: StatusByEvent needs a Deduper: without one, event IDs are not recorded (Config.Deduper)")
	}
	if eventID == "" {
		return "", nil, invalid("EventID", "empty")
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	ch, ok := As[ClaimHolder](dd)
	if !ok {
		return "", nil, fmt.Errorf("notify: StatusByEvent: the Deduper (%T) cannot say who holds an event ID (it is not a ClaimHolder): %w", dd, errors.ErrUnsupported)
	}
	holder, err := ch.Holder(bctx, eventID)
	if err != nil {
		return "", nil, fmt.Errorf("notify: look up event %s: %w", eventID, err)
	}
	if holder == "" {
		return "", nil, fmt.Errorf("notify: event %s: no notification holds it: %w", eventID, ErrNotFound)
	}
	recs, err := d.cfg.Store.Deliveries(bctx, holder)
	if err != nil {
		return holder, nil, fmt.Errorf("notify: status of notification %s (event %s): %w", holder, eventID, err)
	}
	return holder, recs, nil
}

// Contact returns the user's contact from the Store, or ErrNotFound.
func (d *Dispatcher) Contact(ctx context.Context, userID string) (Contact, error) {
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	return d.cfg.Store.Contact(bctx, userID)
}

// RemoveDevice removes one device token (on platform) from the user's
// contact, whatever its registration time. Removing a token the user does
// not have is not an error.
func (d *Dispatcher) RemoveDevice(ctx context.Context, userID, platform, token string) error {
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	return d.cfg.Store.RemoveAddress(bctx, userID, platform, d.storedForm(platform, token), time.Time{})
}

// Allowed reports whether the user accepts category on channel, as Send
// would decide it for a notification that is not critical: the user's
// Consent under the category's policy (see Consent and
// CategoryPolicy.OptIn).
func (d *Dispatcher) Allowed(ctx context.Context, userID, category, channel string) (bool, error) {
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	c, err := d.cfg.Store.Consent(bctx, userID, category, channel)
	if err != nil {
		return false, err
	}
	return c.Allows(d.policy(category).OptIn), nil
}

// SetPreference allows or opts the user out of category (or of every
// category, with AllCategories) on channel (or on every channel, with
// AllChannels). See Consent for which setting wins when several apply.
// Each of userID, category and channel must be set, at most 255 bytes of
// UTF-8; a bad one is a *ValidationError naming it, and nothing is
// stored.
func (d *Dispatcher) SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error {
	if err := checkPreferenceField("UserID", userID); err != nil {
		return err
	}
	if category == "" {
		return invalid("Category", "empty: name a category, or %q for every category", AllCategories)
	}
	if err := checkPreferenceField("Category", category); err != nil {
		return err
	}
	if channel == "" {
		return invalid("Channel", "empty: name a channel, or %q for every channel", AllChannels)
	}
	if err := checkPreferenceField("Channel", channel); err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	return d.cfg.Store.SetPreference(bctx, userID, category, channel, allowed)
}
