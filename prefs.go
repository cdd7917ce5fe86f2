package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// AllChannels is the channel under which a preference applies to every
// channel of its category: SetPreference(ctx, user, "marketing",
// AllChannels, false) opts the user out of marketing everywhere. It is
// "*", as AllCategories is; a Channel may not be named so.
const AllChannels = "*"

// maxPreferenceField bounds a preference's category and channel, in bytes.
const maxPreferenceField = 255

// Consent is what a user's preferences say about one category on one
// channel, before the category's policy is applied (see
// CategoryPolicy.OptIn and Consent.Allows).
//
// Precedence, from the (at most four) settings that match a category and a
// channel:
//
//  1. An opt-out of every category wins over everything the user set per
//     category: an SMS STOP (AllCategories on "sms") holds whatever the
//     user allowed per category. Of (AllCategories, channel) and
//     (AllCategories, AllChannels), the first that is set decides whether
//     such an opt-out applies.
//  2. Otherwise the category's own settings decide, the most specific one
//     first: (category, channel) if set, else (category, AllChannels). An
//     explicit allow of ("marketing", "email") thus lifts an opt-out of
//     ("marketing", AllChannels) on email, and only there.
//  3. Nothing set: ConsentUnset. An allow of AllCategories never counts
//     as consent to a category: consent to an opt-in category is given
//     for that category.
//
// [ConsentOf] computes it from the matching settings; every Store answers
// as it does.
type Consent int8

const (
	// ConsentUnset: the user set nothing that decides. The category is
	// allowed, unless it is opt-in (CategoryPolicy.OptIn).
	ConsentUnset Consent = iota
	// ConsentAllowed: the user explicitly allowed the category on the
	// channel (or on AllChannels).
	ConsentAllowed
	// ConsentOptedOut: the user opted out of the category (or of every
	// category) on the channel (or on AllChannels).
	ConsentOptedOut
)

// String returns "unset", "allowed" or "opted_out".
func (c Consent) String() string {
	switch c {
	case ConsentUnset:
		return "unset"
	case ConsentAllowed:
		return "allowed"
	case ConsentOptedOut:
		return "opted_out"
	}
	return fmt.Sprintf("Consent(%d)", int8(c))
}

// Allows reports whether c lets a notification through: an opt-out never
// does, an explicit allow always does, and an unset preference does
// unless the category is opt-in.
func (c Consent) Allows(optIn bool) bool {
	switch c {
	case ConsentAllowed:
		return true
	case ConsentUnset:
		return !optIn
	}
	return false
}

// Preference is one stored setting of a user: whether Category (or
// AllCategories) is allowed on Channel (or AllChannels).
type Preference struct {
	Category string    `json:"category"`
	Channel  string    `json:"channel"`
	Allowed  bool      `json:"allowed"`
	Updated  time.Time `json:"updated,omitzero"` // when it was last set; zero when the Store does not know
}

// ConsentOf answers for category on channel from a user's settings, by the
// precedence documented on [Consent]. Settings that do not match category
// (or AllCategories) and channel (or AllChannels) are ignored, so a Store
// may pass every setting of the user, or only the matching ones.
func ConsentOf(settings []Preference, category, channel string) Consent {
	// rank: 2 for the exact channel, 1 for AllChannels, 0 when unset.
	var allRank, catRank int
	var allAllowed, catAllowed bool
	for _, p := range settings {
		rank := 0
		switch p.Channel {
		case channel:
			rank = 2
		case AllChannels:
			rank = 1
		default:
			continue
		}
		if p.Category == AllCategories && rank > allRank {
			allRank, allAllowed = rank, p.Allowed
		}
		if p.Category == category && rank > catRank {
			catRank, catAllowed = rank, p.Allowed
		}
	}
	switch {
	case allRank > 0 && !allAllowed:
		return ConsentOptedOut
	case category == AllCategories:
		return ConsentUnset // an allow of every category is no consent
	case catRank == 0:
		return ConsentUnset
	case catAllowed:
		return ConsentAllowed
	}
	return ConsentOptedOut
}

// PreferenceLister is implemented by a Store that lists a user's settings
// (store/memory, postgres.Store, sqlite.Store), for a settings screen.
type PreferenceLister interface {
	// ListPreferences returns every setting the user has, by category and
	// then channel (byte order; so AllCategories and AllChannels, "*",
	// come before letters and digits). A user with none gets an empty
	// list.
	ListPreferences(ctx context.Context, userID string) ([]Preference, error)
}

// Preferences returns every setting the user has, by category and then
// channel, as the Store holds them (see PreferenceLister). It returns an
// error wrapping errors.ErrUnsupported when the Store cannot list them.
func (d *Dispatcher) Preferences(ctx context.Context, userID string) ([]Preference, error) {
	if err := checkPreferenceField("UserID", userID); err != nil {
		return nil, err
	}
	pl, ok := As[PreferenceLister](d.cfg.Store)
	if !ok {
		return nil, fmt.Errorf("notify: Preferences: the Store (%T) cannot list preferences (it is not a PreferenceLister): %w", d.cfg.Store, errors.ErrUnsupported)
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	ps, err := pl.ListPreferences(bctx, userID)
	if err != nil {
		return nil, fmt.Errorf("notify: list preferences of user %s: %w", userID, err)
	}
	return ps, nil
}

// checkPreferenceField checks a user ID, category or channel given to
// SetPreference or Preferences: set, at most 255 bytes of UTF-8 without
// NUL bytes.
func checkPreferenceField(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "empty")
	case len(v) > maxPreferenceField:
		return invalid(field, "%d bytes long; at most %d", len(v), maxPreferenceField)
	case !utf8.ValidString(v):
		return invalid(field, "not valid UTF-8")
	case strings.IndexByte(v, 0) >= 0:
		return invalid(field, "contains a NUL byte")
	}
	return nil
}

// checkConsentPolicy refuses what an opt-in category cannot carry: a
// notification without a user (whose consent would allow it) and a
// critical one (critical notifications bypass opt-out, never the consent
// an opt-in category asks for).
func (d *Dispatcher) checkConsentPolicy(n *Notification) error {
	if !d.policy(categoryOf(n)).OptIn {
		return nil
	}
	if n.UserID == "" {
		return invalid("UserID", "empty, and category %q is opt-in (CategoryPolicy.OptIn): name the user whose consent allows it", categoryOf(n))
	}
	if n.Critical {
		return invalid("Critical", "category %q is opt-in (CategoryPolicy.OptIn), and critical notifications cannot bypass consent: send it in a category that is not opt-in", categoryOf(n))
	}
	return nil
}

// preferenceSkip decides, from the user's preferences and the category's
// policy, whether a delivery of category on channel to userID goes out: it
// returns "" when it does, or the reason it is skipped (ReasonOptedOut,
// ReasonNotOptedIn). A delivery without a user, or a critical one in a
// category that is not opt-in, always goes out. ctx bounds the Store call.
func (d *Dispatcher) preferenceSkip(ctx context.Context, userID, category, channel string, critical bool) (string, error) {
	if userID == "" {
		return "", nil
	}
	optIn := d.policy(category).OptIn
	if critical && !optIn {
		return "", nil
	}
	c, err := d.cfg.Store.Consent(ctx, userID, category, channel)
	if err != nil {
		return "", err
	}
	switch {
	case c.Allows(optIn):
		return "", nil
	case c == ConsentUnset:
		return ReasonNotOptedIn, nil
	}
	return ReasonOptedOut, nil
}
