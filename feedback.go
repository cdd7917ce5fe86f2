package notify

import (
	"context"
	"fmt"
	"time"
)

// Feedback is a provider's later word on a delivery it accepted: a delivery
// receipt, a bounce, a carrier's "unknown number". Channel packages that
// receive such reports (sms.StatusHandler for Twilio's status callbacks)
// turn each into a Feedback for [Dispatcher.Feedback].
type Feedback struct {
	// DeliveryID is the delivery the report is about.
	DeliveryID string
	// ProviderID is the provider's message ID, when the report has one.
	ProviderID string
	// At is when the provider saw it happen; zero means now.
	At time.Time
	// Err is nil when the message reached the recipient. Otherwise it says
	// why not, classified as a Channel's errors are: InvalidRecipient
	// removes the address from the user's contact, OptedOut and
	// OptedOutEverywhere store the opt-out, anything else is only recorded.
	Err error
	// Engagement, when set, makes this a tracking report of what the
	// recipient did with a delivered message: StatusOpened, StatusClicked,
	// or StatusComplained (a spam report). It is recorded with that status
	// and does not change where the delivery stands; an Err beside it is
	// not a delivery failure, only acted on (a complaint with an OptedOut
	// error stores the opt-out).
	Engagement Status
	// Detail is recorded as the event's reason when Err is nil: the link
	// clicked, say.
	Detail string
}

// FeedbackRecorder records providers' reports; *Dispatcher is one. The
// webhook handlers of channel packages (sms.StatusHandler,
// email.EventHandler) report to one.
type FeedbackRecorder interface {
	Feedback(ctx context.Context, fb Feedback) error
}

// Feedback records a provider's report on a delivery that was sent, as a
// StatusDelivered or StatusUndelivered event in the log, or a tracking
// event (none counts as an attempt), and acts on it as on a Channel's
// answer: a dead address is removed, an opt-out stored.
//
// A report the log already holds (same status, reason, provider ID and,
// when given, time) is neither recorded nor acted on again, so a provider
// repeating itself cannot remove an address the user has since added back.
// Feedback returns an error wrapping ErrNotFound when the log has no such
// delivery (pruned, or not ours): the caller may drop the report.
func (d *Dispatcher) Feedback(ctx context.Context, fb Feedback) error {
	if fb.DeliveryID == "" {
		return &ValidationError{Field: "DeliveryID", Reason: "is empty"}
	}
	if fb.Engagement != "" && !fb.Engagement.tracking() {
		return &ValidationError{Field: "Engagement", Reason: fmt.Sprintf("is %q; want %q, %q, %q or empty",
			fb.Engagement, StatusOpened, StatusClicked, StatusComplained)}
	}
	ds, err := d.cfg.Store.Delivery(ctx, fb.DeliveryID)
	if err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	del := &Delivery{ID: ds.DeliveryID, NotificationID: ds.NotificationID, UserID: ds.UserID,
		Category: ds.Category, Channel: ds.Channel, Address: ds.Address}
	ev := Event{Status: StatusDelivered, ProviderID: fb.ProviderID, At: fb.At, Reason: fb.Detail}
	var oe *OutcomeError
	if fb.Err != nil {
		c := *Classify(fb.Err) // a copy: the caller's error stays as it is
		oe = &c
		if oe.At.IsZero() {
			oe.At = fb.At
		}
		ev.Reason = oe.Error()
		ev.Status = StatusUndelivered
	}
	if fb.Engagement != "" {
		ev.Status = fb.Engagement
	}
	at := fb.At.Truncate(time.Microsecond) // as precise as a Log keeps it
	for _, prev := range ds.Events {
		if prev.Status == ev.Status && prev.Reason == ev.Reason && prev.ProviderID == ev.ProviderID &&
			(fb.At.IsZero() || prev.At.Truncate(time.Microsecond).Equal(at)) {
			return nil
		}
	}
	if oe != nil && (oe.Outcome == OutcomeInvalidRecipient || oe.Outcome == OutcomeOptedOut) {
		d.act(ctx, del, oe, &ev)
	}
	if err := d.record(ctx, del, ev); err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	return nil
}
