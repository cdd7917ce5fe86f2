package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimHolder is implemented by a Deduper that can say who holds a key
// without claiming it (dedup/memory). StatusByEvent uses it; without it,
// StatusByEvent probes with a short Claim (see there).
type ClaimHolder interface {
	// Holder returns the owner holding key, or ErrNotFound when the key is
	// free (never claimed, released or expired).
	Holder(ctx context.Context, key string) (string, error)
}

// statusProbeTTL is how long StatusByEvent's probing claim lasts should
// its Release fail: a Send of that event meanwhile gets ErrInProgress.
const statusProbeTTL = 2 * time.Second

// StatusByEvent returns the log of every delivery of the notification that
// claimed eventID, oldest first, and that notification's ID. It returns
// ErrNotFound when no claim of eventID is held (never sent, or its
// DedupTTL has passed) or the holder is not in the log yet, and an error
// when the Dispatcher has no Deduper (an event ID is then not recorded
// anywhere it can be looked up by).
//
// With a Deduper that implements ClaimHolder the lookup reads the claim.
// Otherwise it probes: it claims eventID for a throwaway owner and, on
// winning (no one held it), releases it at once. A Send of the same event
// ID that runs during that instant answers ErrInProgress, which its caller
// retries; were the Release to fail, the probe's claim lapses after 2s.
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
	var holder string
	if ch, ok := As[ClaimHolder](dd); ok {
		holder, err = ch.Holder(bctx, eventID)
		if err != nil {
			return "", nil, fmt.Errorf("notify: look up event %s: %w", eventID, err)
		}
	} else {
		probe := "status-probe:" + newID()
		claimed, h, err := dd.Claim(bctx, eventID, probe, statusProbeTTL)
		if err != nil {
			return "", nil, fmt.Errorf("notify: look up event %s: %w", eventID, err)
		}
		if claimed {
			if err := dd.Release(context.WithoutCancel(bctx), eventID, probe); err != nil {
				d.log.WarnContext(ctx, "notify: StatusByEvent could not release its probing claim; it lapses in 2s", "event_id", eventID, "error", err)
			}
			return "", nil, fmt.Errorf("notify: event %s: no notification holds it: %w", eventID, ErrNotFound)
		}
		holder = h
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
	return d.cfg.Store.RemoveAddress(bctx, userID, platform, token, time.Time{})
}

// Allowed reports whether the user accepts category on channel, as Send
// would decide it (see Preferences.Allowed).
func (d *Dispatcher) Allowed(ctx context.Context, userID, category, channel string) (bool, error) {
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	return d.cfg.Store.Allowed(bctx, userID, category, channel)
}

// SetPreference allows or opts the user out of category (or of every
// category, with AllCategories) on channel.
func (d *Dispatcher) SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error {
	if userID == "" {
		return invalid("UserID", "empty")
	}
	if category == "" {
		return invalid("Category", "empty: name a category, or %q for every category", AllCategories)
	}
	if channel == "" {
		return invalid("Channel", "empty")
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	return d.cfg.Store.SetPreference(bctx, userID, category, channel, allowed)
}
