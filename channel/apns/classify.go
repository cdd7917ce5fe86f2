package apns

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gonotify/notify"
	"github.com/sideshow/apns2"
)

// Error is APNs's answer to a push it did not accept. Send returns it
// wrapped in a notify outcome error; find it with errors.As.
type Error struct {
	// StatusCode is the HTTP status (400, 403, 410, 429, ...).
	StatusCode int
	// Reason is APNs's reason string (apns2.ReasonBadDeviceToken, ...).
	Reason string
	// APNsID is the apns-id APNs answered with.
	APNsID string
	// Timestamp is, for a 410, when APNs last confirmed the token was no
	// longer valid, in whole seconds (apns2 drops the milliseconds): a token
	// re-registered within that same second survives, erring on keeping it.
	Timestamp time.Time
}

// Error returns "apns: <status> <reason>" and, for answers an operator must
// act on, what to check.
func (e *Error) Error() string {
	s := "apns: " + strconv.Itoa(e.StatusCode)
	if e.Reason != "" {
		s += " " + e.Reason
	}
	if h := hints[e.Reason]; h != "" {
		s += " (" + h + ")"
	}
	return s
}

// hints say what to do about the answers an operator must act on.
var hints = map[string]string{
	apns2.ReasonBadCertificate:              "the client certificate was rejected: check apns.Config.Certificate",
	apns2.ReasonBadCertificateEnvironment:   "the certificate is for the other environment: check apns.Config.Production",
	apns2.ReasonForbidden:                   "the credential may not push to this topic: check the key or certificate",
	apns2.ReasonInvalidProviderToken:        "the signing key, KeyID or TeamID is wrong: check apns.Config",
	apns2.ReasonMissingProviderToken:        "no credential was sent: configure a signing key or certificate",
	apns2.ReasonExpiredProviderToken:        "the JWT is older than an hour: check the host's clock",
	apns2.ReasonBadTopic:                    "the topic is not a bundle ID of this team: check apns.Config.Topic or Options.topic",
	apns2.ReasonMissingTopic:                "set apns.Config.Topic to the app's bundle ID",
	apns2.ReasonTopicDisallowed:             "pushing to this topic is not allowed: check the topic",
	apns2.ReasonTooManyProviderTokenUpdates: "the JWT is regenerated too often: share one Channel per key",
	apns2.ReasonDeviceTokenNotForTopic:      "the token belongs to another app or environment",
	apns2.ReasonBadDeviceToken:              "the token is malformed or for the other environment",
}

// classify maps an APNs answer other than 200 to a notify outcome, per the
// outcome table in docs/PROVIDERS.md.
func (c *Channel) classify(res *apns2.Response) error {
	e := &Error{StatusCode: res.StatusCode, Reason: res.Reason, APNsID: res.ApnsID, Timestamp: res.Timestamp.Time}
	switch res.Reason {
	case apns2.ReasonUnregistered, apns2.ReasonExpiredToken:
		return gone(e)
	case apns2.ReasonBadDeviceToken, apns2.ReasonDeviceTokenNotForTopic:
		return notify.InvalidRecipient(e)
	case apns2.ReasonTooManyRequests:
		return notify.Retryable(e, c.cfg.TooManyRequestsDelay)
	case apns2.ReasonIdleTimeout, apns2.ReasonInternalServerError, apns2.ReasonServiceUnavailable, apns2.ReasonShutdown:
		return notify.Retryable(e, 0)
	case apns2.ReasonBadCertificate, apns2.ReasonBadCertificateEnvironment, apns2.ReasonForbidden,
		apns2.ReasonInvalidProviderToken, apns2.ReasonMissingProviderToken, apns2.ReasonExpiredProviderToken,
		apns2.ReasonBadTopic, apns2.ReasonMissingTopic, apns2.ReasonTopicDisallowed,
		apns2.ReasonTooManyProviderTokenUpdates:
		return notify.ConfigError(e)
	case apns2.ReasonPayloadTooLarge, apns2.ReasonBadCollapseID, apns2.ReasonBadExpirationDate,
		apns2.ReasonBadMessageID, apns2.ReasonBadPriority, apns2.ReasonDuplicateHeaders,
		apns2.ReasonInvalidPushType, apns2.ReasonMissingDeviceToken, apns2.ReasonPayloadEmpty,
		apns2.ReasonBadPath, apns2.ReasonMethodNotAllowed:
		return notify.Permanent(e)
	}
	// A reason this package does not know: decide by status.
	switch {
	case res.StatusCode == http.StatusGone:
		return gone(e)
	case res.StatusCode == http.StatusTooManyRequests:
		return notify.Retryable(e, c.cfg.TooManyRequestsDelay)
	case res.StatusCode == http.StatusForbidden:
		return notify.ConfigError(e)
	case res.StatusCode >= 500:
		return notify.Retryable(e, 0)
	case res.StatusCode >= 400:
		return notify.Permanent(e)
	}
	// 1xx/2xx/3xx other than 200: not an answer APNs gives; retry.
	return notify.Retryable(e, 0)
}

// gone is a 410: the token is dead since e.Timestamp. A token registered
// after that survives; without a timestamp, now is the bound.
func gone(e *Error) error {
	at := e.Timestamp
	if at.IsZero() {
		at = time.Now()
	}
	return notify.InvalidRecipientAt(e, at)
}
