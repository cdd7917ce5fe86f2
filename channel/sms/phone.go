package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxPhoneInput bounds the phone numbers ParsePhone reads, in bytes: a
// number written with spaces, dashes, parentheses, a "tel:" scheme or an
// international call prefix fits well within it.
const MaxPhoneInput = 64

// Errors a phone number is refused with; test with errors.Is. The error's
// text says what is wrong with the number and what to do.
var (
	// ErrInvalidPhone: not a phone number, or not one that can exist (no
	// country code and no default region, an unknown country code, a
	// length no number of its country has, an unallocated range, an
	// extension).
	ErrInvalidPhone = errors.New("sms: invalid phone number")
	// ErrNumberType: a valid number of a type the Channel refuses (a
	// landline, unless Config.AllowLandlines; a type of
	// Config.RejectTypes).
	ErrNumberType = errors.New("sms: number type refused")
)

// phoneError is a refusal: its text is the reason alone, and it wraps
// one of ErrInvalidPhone and ErrNumberType.
type phoneError struct {
	reason string
	kind   error
}

func (e *phoneError) Error() string { return e.reason }
func (e *phoneError) Unwrap() error { return e.kind }

func invalidPhone(format string, args ...any) error {
	return &phoneError{reason: fmt.Sprintf(format, args...), kind: ErrInvalidPhone}
}

// NumberType is the kind of line a phone number belongs to, as
// libphonenumber's metadata tells it from the number alone (no network
// lookup: a number ported from a landline to a mobile network keeps its
// original type).
type NumberType int

// Number types. In some regions (the United States, Canada, China, …)
// fixed-line and mobile numbers share ranges: those are
// FixedLineOrMobile.
const (
	UnknownType       NumberType = iota // fits no known pattern of its region
	Mobile                              // a mobile phone
	FixedLine                           // a landline: cannot receive SMS
	FixedLineOrMobile                   // either; the number does not say
	TollFree                            // free to call (may be SMS-enabled)
	PremiumRate                         // charged at a premium
	SharedCost                          // cost shared by caller and recipient
	VoIP                                // voice over IP
	PersonalNumber                      // routed to a person's other numbers
	Pager                               // a pager
	UAN                                 // universal access (company) number
	Voicemail                           // voicemail access
)

var numberTypeNames = [...]string{
	UnknownType: "unknown", Mobile: "mobile", FixedLine: "fixed_line", FixedLineOrMobile: "fixed_line_or_mobile",
	TollFree: "toll_free", PremiumRate: "premium_rate", SharedCost: "shared_cost", VoIP: "voip",
	PersonalNumber: "personal_number", Pager: "pager", UAN: "uan", Voicemail: "voicemail",
}

// String returns the type's name in snake case ("fixed_line").
func (t NumberType) String() string {
	if t >= 0 && int(t) < len(numberTypeNames) {
		return numberTypeNames[t]
	}
	return fmt.Sprintf("NumberType(%d)", int(t))
}

func numberType(t phonenumbers.PhoneNumberType) NumberType {
	switch t {
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE:
		return FixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.PREMIUM_RATE:
		return PremiumRate
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.VOIP:
		return VoIP
	case phonenumbers.PERSONAL_NUMBER:
		return PersonalNumber
	case phonenumbers.PAGER:
		return Pager
	case phonenumbers.UAN:
		return UAN
	case phonenumbers.VOICEMAIL:
		return Voicemail
	}
	return UnknownType
}

// Phone is a phone number ParsePhone accepted.
type Phone struct {
	// E164 is the number in E.164 form, "+" and digits: "+442079460000".
	// It is the form the Channel stores and sends to.
	E164 string
	// Type is the kind of line the number belongs to.
	Type NumberType
	// Region is the number's ISO 3166-1 region ("GB"), or "001" for a
	// non-geographic number (satellite, global services).
	Region string
}

// NormalizeRegion returns region as ParsePhone takes it: upper case, ""
// for none; an error when region is not one libphonenumber knows.
func NormalizeRegion(region string) (string, error) {
	if region == "" {
		return "", nil
	}
	r := strings.ToUpper(region)
	if !phonenumbers.GetSupportedRegions()[r] {
		return "", fmt.Errorf("sms: %q is not a supported region: use an ISO 3166-1 alpha-2 code (\"US\", \"GB\", \"DE\", \"BR\", \"IN\")", region)
	}
	return r, nil
}

// ParsePhone parses s, a phone number in international form ("+44 20
// 7946 0000", "0044 20 7946 0000" from a region given) or, with
// defaultRegion ("GB"), in that region's national form ("020 7946 0000"),
// with or without spaces, dashes, dots, parentheses or a "tel:" scheme,
// and returns it in E.164 with its type and region. It refuses (with an
// error wrapping ErrInvalidPhone that says why) what is not a number, a
// number with no country code when defaultRegion is empty, one whose
// length no number of its country has (impossible) or in a range not
// allocated there (invalid), one with an extension, and input over
// MaxPhoneInput bytes. It refuses no type: see Channel.NormalizeAddress
// for that. ParsePhone(p.E164, "") gives p again for every p it returns.
// It is safe for concurrent use.
func ParsePhone(s, defaultRegion string) (Phone, error) {
	region, err := NormalizeRegion(defaultRegion)
	if err != nil {
		return Phone{}, err
	}
	switch {
	case len(s) > MaxPhoneInput:
		return Phone{}, invalidPhone("not a phone number: %d bytes long; at most %d", len(s), MaxPhoneInput)
	case !utf8.ValidString(s):
		return Phone{}, invalidPhone("not a phone number: not valid UTF-8")
	case strings.TrimSpace(s) == "":
		return Phone{}, invalidPhone("empty phone number")
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode) && region == "" && !strings.HasPrefix(strings.TrimSpace(s), "+"):
			return Phone{}, invalidPhone("%q has no country code: write it in international form (+44 20 7946 0000), or set sms.Config.DefaultRegion to read national numbers", s)
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return Phone{}, invalidPhone("%q has no known country code", s)
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return Phone{}, invalidPhone("%q is too short to be a phone number", s)
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return Phone{}, invalidPhone("%q is too long to be a phone number", s)
		}
		return Phone{}, invalidPhone("%q is not a phone number", s)
	}
	if num.GetExtension() != "" {
		return Phone{}, invalidPhone("%q has an extension (%s), which SMS cannot reach: give the number alone", s, num.GetExtension())
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return Phone{}, invalidPhone("%q has no known country code", s)
	case phonenumbers.TOO_SHORT:
		return Phone{}, invalidPhone("%q is too short for a number of country code +%d", s, num.GetCountryCode())
	case phonenumbers.TOO_LONG:
		return Phone{}, invalidPhone("%q is too long for a number of country code +%d", s, num.GetCountryCode())
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return Phone{}, invalidPhone("%q is too short: it may be a local number, and SMS needs the full number with its area code", s)
	default:
		return Phone{}, invalidPhone("%q has a length no number of country code +%d has", s, num.GetCountryCode())
	}
	// A number is valid (phonenumbers.IsValidNumber) when its region's
	// metadata gives it a type: one look-up of the type answers both, at
	// half the cost.
	typ := phonenumbers.GetNumberType(num)
	if typ == phonenumbers.UNKNOWN {
		return Phone{}, invalidPhone("%q is not a valid number: no range of country code +%d holds it (check for a typo)", s, num.GetCountryCode())
	}
	return Phone{
		E164:   phonenumbers.Format(num, phonenumbers.E164),
		Type:   numberType(typ),
		Region: phonenumbers.GetRegionCodeForNumber(num),
	}, nil
}

// NormalizeAddress returns address, a phone number, in E.164 — the form
// the Dispatcher stores, de-duplicates on and sends to — reading a
// national number as one of Config.DefaultRegion. It refuses what
// ParsePhone refuses (ErrInvalidPhone) and a number of a type the Channel
// refuses (ErrNumberType): a landline (FixedLine) unless
// Config.AllowLandlines, and the types of Config.RejectTypes. A number
// that may be either a landline or a mobile (FixedLineOrMobile, every
// North American number) is accepted. It implements
// notify.AddressNormalizer: PutContact, device registration and Send all
// pass SMS addresses through it. Answers are remembered (see
// Config.NormalizeCache): a number asked for again, such as one Send
// reads back from the Store, costs a map look-up instead of a parse. It
// is safe for concurrent use.
func (c *Channel) NormalizeAddress(address string) (string, error) {
	if c.cache == nil || len(address) > MaxPhoneInput {
		return c.normalize(address)
	}
	if v, ok := c.cache.get(address); ok {
		return v.e164, v.err
	}
	e164, err := c.normalize(address)
	if _, ok := err.(*phoneError); err != nil && !ok {
		return "", err // not an answer about the number: not remembered
	}
	c.cache.put(address, normalized{e164: e164, err: err})
	if err == nil && e164 != address {
		// What Send reads back from the Store once PutContact stored it:
		// NormalizeAddress(e164) is e164 (see ParsePhone).
		c.cache.put(e164, normalized{e164: e164})
	}
	return e164, err
}

// normalize is NormalizeAddress without the cache.
func (c *Channel) normalize(address string) (string, error) {
	p, err := ParsePhone(address, c.cfg.DefaultRegion)
	if err != nil {
		return "", err
	}
	if err := c.checkType(p); err != nil {
		return "", err
	}
	return p.E164, nil
}

// checkType refuses p when its type is one the Channel refuses.
func (c *Channel) checkType(p Phone) error {
	if p.Type == FixedLine && !c.cfg.AllowLandlines {
		return &phoneError{kind: ErrNumberType, reason: fmt.Sprintf(
			"%s is a landline (a fixed-line number of %s), which cannot receive SMS: ask for a mobile number, or set sms.Config.AllowLandlines if your sender reaches landlines", p.E164, p.Region)}
	}
	for _, t := range c.cfg.RejectTypes {
		if p.Type == t {
			return &phoneError{kind: ErrNumberType, reason: fmt.Sprintf(
				"%s is a %s number, which this channel refuses (sms.Config.RejectTypes)", p.E164, strings.ReplaceAll(t.String(), "_", "-"))}
		}
	}
	return nil
}
