package fcm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/retryafter"
)

// invalidTokenMessage is how FCM says, in an INVALID_ARGUMENT answer with no
// error code of its own, that the registration token is malformed. The text
// is the only signal FCM gives for this case.
const invalidTokenMessage = "not a valid FCM registration token"

// classify maps an FCM error to a notify outcome, per the outcome table in
// docs/PROVIDERS.md. err must be the SDK's error, unwrapped: the SDK's Is*
// helpers use a type assertion.
func (c *Channel) classify(ctx context.Context, err error, d *notify.Delivery, m *messaging.Message) error {
	wrap := func(err error) error { return fmt.Errorf("fcm: send delivery %s: %w", d.ID, err) }
	resp := errorutils.HTTPResponse(err)
	var retryAfter time.Duration
	if resp != nil {
		retryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
	}

	// Errors without an HTTP answer: the transport failed (after the SDK's
	// own retries), the context ended, or the SDK refused the message.
	if resp == nil {
		switch {
		case errorutils.IsUnavailable(err), errorutils.IsDeadlineExceeded(err), errorutils.IsUnknown(err),
			errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
			return notify.Uncertain(wrap(err))
		}
		// The SDK's own validation (Validate runs the same check at accept
		// time) or an unreadable 2xx body: neither improves with a retry.
		return notify.Permanent(wrap(err))
	}

	switch {
	case messaging.IsQuotaExceeded(err):
		return notify.Retryable(wrap(err), max(retryAfter, c.cfg.MinQuotaDelay))
	case messaging.IsUnregistered(err): // before IsNotFound: UNREGISTERED is a 404
		return notify.InvalidRecipient(wrap(err))
	case messaging.IsSenderIDMismatch(err):
		return notify.InvalidRecipient(wrap(err))
	case messaging.IsThirdPartyAuthError(err):
		return notify.ConfigError(wrap(fmt.Errorf("%w (the APNs or web push credential uploaded to the Firebase project was rejected)", err)))
	case errorutils.IsUnauthenticated(err), errorutils.IsPermissionDenied(err):
		return notify.ConfigError(wrap(fmt.Errorf("%w (check fcm.Config credentials and that the service account may send for the project)", err)))
	case messaging.IsInvalidArgument(err), errorutils.IsInvalidArgument(err):
		if m != nil && m.Token != "" && strings.Contains(err.Error(), invalidTokenMessage) {
			return notify.InvalidRecipient(wrap(err))
		}
		return notify.Permanent(wrap(err))
	case errorutils.IsNotFound(err):
		return notify.ConfigError(wrap(fmt.Errorf("%w (check fcm.Config.ProjectID and Endpoint)", err)))
	case messaging.IsUnavailable(err), messaging.IsInternal(err), errorutils.IsUnavailable(err),
		errorutils.IsInternal(err), errorutils.IsUnknown(err), errorutils.IsDeadlineExceeded(err),
		errorutils.IsResourceExhausted(err):
		return notify.Retryable(wrap(err), retryAfter)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return notify.Retryable(wrap(err), retryAfter)
	case resp.StatusCode >= 400:
		return notify.Permanent(wrap(err))
	}
	return notify.Retryable(wrap(err), retryAfter)
}
