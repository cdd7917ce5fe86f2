package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors backends and the Dispatcher return; test with errors.Is.
var (
	// ErrNotFound: no such contact, delivery, dead job or notification.
	ErrNotFound = errors.New("notify: not found")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("notify: closed")
	// ErrLeaseLost: the lease expired and the job went to another receiver,
	// or it was already acked, nacked or buried.
	ErrLeaseLost = errors.New("notify: lease lost")
	// ErrUnknownTemplate: the Renderer has no template by that name.
	ErrUnknownTemplate = errors.New("notify: unknown template")
	// ErrNotDead: Replay was asked for a delivery that is not dead.
	ErrNotDead = errors.New("notify: delivery is not dead")
	// ErrNotQueued: Send failed before anything could be queued and the
	// event ID is free again. The caller may change the notification and
	// send it again. Any other error from Send is ambiguous: resend the
	// same notification with the same EventID (see Dispatcher.Send).
	ErrNotQueued = errors.New("notify: nothing was queued")
	// ErrQueueFull: a bounded queue (queue/memory) holds as many jobs as it
	// may. Send wraps it together with ErrNotQueued; retry later.
	ErrQueueFull = errors.New("notify: queue full")
)

// ValidationError is returned by Send for bad input. Nothing was stored or
// queued. Field names the offending field of the Notification, dotted for
// nested ones ("To[1].Value", "Options.apns").
type ValidationError struct {
	Field  string
	Reason string
	Err    error // the underlying cause, if any
}

// FieldAddress is the Field a channel's Validator sets when it rejects the
// delivery's address itself (a malformed token, phone number or email
// address). Send reports such an error on an address the caller passed as
// "To[i].Value"; an address from the Store is skipped instead (logged with
// ReasonInvalidAddress), so one bad stored address never blocks the other
// channels.
const FieldAddress = "Address"

// aboutAddress reports whether e rejects the delivery's address.
func (e *ValidationError) aboutAddress() bool {
	return e.Field == FieldAddress || strings.HasPrefix(e.Field, "To(")
}

// named returns e about field instead of the address it was about.
func (e *ValidationError) named(field string) *ValidationError {
	return &ValidationError{Field: field, Reason: e.Reason, Err: e.Err}
}

// Is reports that a ValidationError is an ErrNotQueued: nothing was stored.
func (e *ValidationError) Is(target error) bool { return target == ErrNotQueued }

// Error says which field is wrong and why.
func (e *ValidationError) Error() string {
	return "notify: invalid notification: " + e.Field + ": " + e.Reason
}

// Unwrap returns the underlying cause, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Outcome classifies a failed send: what the Dispatcher does next.
type Outcome int

// Outcomes. The zero value is OutcomeRetry: an unclassified error is retried.
const (
	// OutcomeRetry: the provider may accept it later. Nack with backoff; dead
	// after the retry policy's last attempt.
	OutcomeRetry Outcome = iota
	// OutcomePermanent: this message will never be accepted. Recorded as failed.
	OutcomePermanent
	// OutcomeInvalidRecipient: the address is dead. Removed from the Store.
	OutcomeInvalidRecipient
	// OutcomeOptedOut: the user told the provider to stop. Stored as an opt-out.
	OutcomeOptedOut
	// OutcomeConfig: our credentials or settings are wrong. Kept queued with a
	// long delay and logged at error level; not counted as an attempt.
	OutcomeConfig
)

var outcomeNames = [...]string{"retry", "permanent", "invalid recipient", "opted out", "configuration error"}

// String names the outcome ("retry", "permanent", ...).
func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// OutcomeError is a classified send error. Channels build one with
// Retryable, Permanent, InvalidRecipient, OptedOut or ConfigError; the
// Dispatcher reads it with errors.As.
type OutcomeError struct {
	Outcome Outcome
	Err     error
	// RetryAfter is the provider's requested wait (OutcomeRetry).
	RetryAfter time.Duration
	// At is when the provider decided (OutcomeInvalidRecipient): an address
	// registered after At is not removed.
	At time.Time
	// MaybeSent marks a failure after which the provider may have accepted
	// the message (a transport error, a timeout).
	MaybeSent bool
	// AllCategories widens an opt-out (OutcomeOptedOut) to every category
	// on the channel: the provider blocks the address for all our messages.
	AllCategories bool
}

// Error is the outcome followed by the channel's error.
func (e *OutcomeError) Error() string {
	if e.Err == nil {
		return e.Outcome.String()
	}
	return e.Outcome.String() + ": " + e.Err.Error()
}

// Unwrap returns the channel's error.
func (e *OutcomeError) Unwrap() error { return e.Err }

// Retryable marks err as worth retrying, no sooner than after (zero: the
// retry policy's backoff alone decides).
func Retryable(err error, after time.Duration) error {
	return &OutcomeError{Outcome: OutcomeRetry, Err: err, RetryAfter: after}
}

// Uncertain marks err as retryable after a failure that may have reached the
// provider (a transport error or timeout): a retry may send a duplicate, and
// the log records that possibility.
func Uncertain(err error) error {
	return &OutcomeError{Outcome: OutcomeRetry, Err: err, MaybeSent: true}
}

// Permanent marks err as a failure that no retry can fix.
func Permanent(err error) error {
	return &OutcomeError{Outcome: OutcomePermanent, Err: err}
}

// InvalidRecipient marks err as a dead address; the Dispatcher removes it
// from the Store.
func InvalidRecipient(err error) error {
	return &OutcomeError{Outcome: OutcomeInvalidRecipient, Err: err}
}

// InvalidRecipientAt is InvalidRecipient with the provider's timestamp: a
// device token registered after at survives (APNs 410).
func InvalidRecipientAt(err error, at time.Time) error {
	return &OutcomeError{Outcome: OutcomeInvalidRecipient, Err: err, At: at}
}

// OptedOut marks err as the user having opted out at the provider (an SMS
// STOP); the Dispatcher stores the opt-out for the delivery's category and channel.
func OptedOut(err error) error {
	return &OutcomeError{Outcome: OutcomeOptedOut, Err: err}
}

// OptedOutEverywhere marks err as the user having opted out of everything
// on the channel (an SMS STOP blocks every message from the sender); the
// Dispatcher stores the opt-out under AllCategories.
func OptedOutEverywhere(err error) error {
	return &OutcomeError{Outcome: OutcomeOptedOut, Err: err, AllCategories: true}
}

// ConfigError marks err as our configuration's fault (bad credentials, wrong
// topic, sandbox restrictions). The delivery stays queued.
func ConfigError(err error) error {
	return &OutcomeError{Outcome: OutcomeConfig, Err: err}
}

// Classify returns err's OutcomeError; an unclassified error is retryable.
func Classify(err error) *OutcomeError {
	var oe *OutcomeError
	if errors.As(err, &oe) {
		return oe
	}
	return &OutcomeError{Outcome: OutcomeRetry, Err: err}
}
