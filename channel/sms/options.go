package sms

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/gonotify/notify/channel/internal/options"
)

// MaxValidity is the longest validity period Twilio accepts, in seconds
// (10 hours, also its default).
const MaxValidity = 36000

// Options are per-notification SMS settings. The host puts them under
// Notification.Options["sms"]; the channel receives them as
// Delivery.Options. Zero fields fall back to the channel's Config.
type Options struct {
	// From overrides Config.From: an E.164 number, a short code or an
	// alphanumeric sender ID (1-11 letters, digits and spaces, at least one
	// letter).
	From string `json:"from,omitempty"`
	// MessagingServiceSID overrides Config.MessagingServiceSID ("MG" and 32
	// hex digits).
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	// StatusCallback overrides Config.StatusCallback: an absolute http(s)
	// URL Twilio posts delivery status changes to.
	StatusCallback string `json:"status_callback,omitempty"`
	// ValidityPeriod is how many seconds Twilio may keep the message queued
	// before dropping it (1 to 36000). Zero means: until the delivery's
	// ExpiresAt when it has one, else Twilio's default of 36000.
	ValidityPeriod int `json:"validity_period,omitempty"`
}

// DecodeOptions decodes raw (a Delivery's Options) strictly: unknown
// fields are an error, so a misspelt option fails at accept time, and raw
// must be one JSON value. Empty raw, or null, gives zero Options. The
// error says what did not decode and wraps encoding/json's.
func DecodeOptions(raw json.RawMessage) (Options, error) {
	return options.Decode[Options](raw, "sms")
}

// validSender reports whether s can be a From: an E.164 number, a short
// code (3 to 8 digits) or an alphanumeric sender ID.
func validSender(s string) bool {
	if strings.HasPrefix(s, "+") {
		return ValidPhone(s)
	}
	if s == "" || len(s) > 11 {
		return false
	}
	digits, letters := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letters++
		case c == ' ':
		default:
			return false
		}
	}
	if letters == 0 {
		return digits == len(s) && digits >= 3 && digits <= 8 // short code
	}
	return true
}

// validServiceSID reports whether s looks like a Messaging Service SID.
func validServiceSID(s string) bool {
	if len(s) != 34 || s[:2] != "MG" {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// validCallback reports whether s is an absolute http or https URL.
func validCallback(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// check validates o on its own (field names relative to the options).
func (o *Options) check() (field string, err error) {
	switch {
	case o.From != "" && !validSender(o.From):
		return "from", fmt.Errorf("%q is not an E.164 number, a short code or an alphanumeric sender ID", o.From)
	case o.MessagingServiceSID != "" && !validServiceSID(o.MessagingServiceSID):
		return "messaging_service_sid", fmt.Errorf("%q is not a Messaging Service SID (MG followed by 32 hex digits)", o.MessagingServiceSID)
	case o.StatusCallback != "" && !validCallback(o.StatusCallback):
		return "status_callback", fmt.Errorf("%q is not an absolute http(s) URL", o.StatusCallback)
	case o.ValidityPeriod < 0 || o.ValidityPeriod > MaxValidity:
		return "validity_period", fmt.Errorf("%d seconds is outside 1..%d", o.ValidityPeriod, MaxValidity)
	}
	return "", nil
}
