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
	// Engagement, when set to StatusOpened or StatusClicked, makes this a
	// tracking report (Err is then ignored): it is recorded with that
	// status and does not change where the delivery stands.
	Engagement Status
	// Detail is recorded as the event's reason when Err is nil: the link
	// clicked, say.
	Detail string
}

// Feedback records a provider's report on a delivery that was sent, as a
// StatusDelivered or StatusUndelivered event in the log (neither counts as
// an attempt), and acts on it as on a Channel's answer: a dead address is
// removed, an opt-out stored. A report equal to the delivery's last event
// (a provider repeating itself) is recorded once. It returns an error
// wrapping ErrNotFound when the log has no such delivery (pruned, or not
// ours): the caller may drop the report.
func (d *Dispatcher) Feedback(ctx context.Context, fb Feedback) error {
	if fb.DeliveryID == "" {
		return &ValidationError{Field: "DeliveryID", Reason: "is empty"}
	}
	if fb.Engagement != "" && fb.Engagement != StatusOpened && fb.Engagement != StatusClicked {
		return &ValidationError{Field: "Engagement", Reason: fmt.Sprintf("is %q; want %q, %q or empty", fb.Engagement, StatusOpened, StatusClicked)}
	}
	ds, err := d.cfg.Store.Delivery(ctx, fb.DeliveryID)
	if err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	del := &Delivery{ID: ds.DeliveryID, NotificationID: ds.NotificationID, UserID: ds.UserID,
		Category: ds.Category, Channel: ds.Channel, Address: ds.Address}
	ev := Event{Status: StatusDelivered, ProviderID: fb.ProviderID, At: fb.At, Reason: fb.Detail}
	if fb.Engagement != "" {
		ev.Status = fb.Engagement
	}
	if fb.Err != nil && fb.Engagement == "" {
		oe := Classify(fb.Err)
		ev.Status, ev.Reason = StatusUndelivered, oe.Error()
		if oe.Outcome == OutcomeInvalidRecipient || oe.Outcome == OutcomeOptedOut {
			if oe.At.IsZero() {
				oe.At = fb.At
			}
			d.act(ctx, del, oe, &ev)
		}
	}
	if n := len(ds.Events); n > 0 {
		if last := ds.Events[n-1]; last.Status == ev.Status && last.Reason == ev.Reason && last.ProviderID == ev.ProviderID {
			return nil
		}
	}
	if err := d.record(ctx, del, ev); err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	return nil
}
