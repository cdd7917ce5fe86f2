package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
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
	// StatusConverted (the host's own goal) or StatusComplained (a spam
	// report). It is recorded with that status
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
// When the Store is an [OnceRecorder] (store/memory, postgres) this holds
// for reports arriving at the same time too, and the report is recorded
// together with its action: when the action fails neither is kept and
// Feedback returns the error, so the provider's retry does both. With
// another Store the check reads the log before recording, so two identical
// reports at once may both be recorded and acted on, and an action that
// fails is noted in the event's reason.
//
// Feedback returns an error wrapping ErrNotFound when the log has no such
// delivery (pruned, or not ours): the caller may drop the report.
func (d *Dispatcher) Feedback(ctx context.Context, fb Feedback) error {
	if fb.DeliveryID == "" {
		return &ValidationError{Field: "DeliveryID", Reason: "is empty"}
	}
	if fb.Engagement != "" && !fb.Engagement.tracking() {
		return &ValidationError{Field: "Engagement", Reason: fmt.Sprintf("is %q; want %q, %q, %q, %q or empty",
			fb.Engagement, StatusOpened, StatusClicked, StatusComplained, StatusConverted)}
	}
	ds, err := d.cfg.Store.Delivery(ctx, fb.DeliveryID)
	if err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	del := &Delivery{ID: ds.DeliveryID, NotificationID: ds.NotificationID, UserID: ds.UserID,
		Category: ds.Category, Channel: ds.Channel, Address: ds.Address, Template: ds.Template, Locale: ds.Locale}
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
	at := fb.At.Truncate(time.Microsecond) // as precise as an EventLog keeps it
	for _, prev := range ds.Events {
		if prev.Status == ev.Status && prev.Reason == ev.Reason && prev.ProviderID == ev.ProviderID &&
			(fb.At.IsZero() || prev.At.Truncate(time.Microsecond).Equal(at)) {
			return nil
		}
	}
	acts := oe != nil && (oe.Outcome == OutcomeInvalidRecipient || oe.Outcome == OutcomeOptedOut) && del.UserID != ""
	if or, ok := As[OnceRecorder](d.cfg.Store); ok {
		key := reportKey(ev, fb.At)
		fillEvent(&ev, del)
		var then func(context.Context, Store) error
		if acts {
			then = func(ctx context.Context, s Store) error { return feedbackAction(ctx, s, del, oe) }
		}
		recorded, err := or.RecordOnce(ctx, ev, key, then)
		if err != nil {
			d.log.ErrorContext(ctx, "notify: record provider feedback", slog.String("delivery", del.ID),
				slog.String("status", string(ev.Status)), slog.Any("error", err))
			return fmt.Errorf("notify: feedback on delivery %s: nothing recorded; retry: %w", fb.DeliveryID, err)
		}
		if recorded {
			d.metrics.event(ctx, &ev)
		}
		return nil
	}
	if acts {
		d.act(ctx, del, oe, &ev)
	}
	if err := d.record(ctx, del, ev); err != nil {
		return fmt.Errorf("notify: feedback on delivery %s: %w", fb.DeliveryID, err)
	}
	return nil
}

// reportKey names a provider's report for OnceRecorder: what the repeat
// check compares (status, reason, provider ID and, when the provider gave
// one, the time to the microsecond), hashed to a short fixed length.
func reportKey(ev Event, at time.Time) string {
	h := sha256.New()
	for _, f := range []string{string(ev.Status), ev.Reason, ev.ProviderID} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	if !at.IsZero() {
		h.Write([]byte(at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// feedbackAction acts on a dead address or an opt-out on s, for a
// provider report (Feedback) and for a Channel's answer (act), and
// returns the Store's error.
func feedbackAction(ctx context.Context, s Store, del *Delivery, oe *OutcomeError) error {
	switch oe.Outcome {
	case OutcomeInvalidRecipient:
		at := oe.At
		if at.IsZero() {
			at = time.Now()
		}
		if err := s.RemoveAddress(ctx, del.UserID, del.Channel, del.Address, at); err != nil {
			return fmt.Errorf("remove the invalid %s address: %w", del.Channel, err)
		}
	case OutcomeOptedOut:
		category := del.Category
		if oe.AllCategories {
			category = AllCategories
		}
		if err := s.SetPreference(ctx, del.UserID, category, del.Channel, false); err != nil {
			return fmt.Errorf("store the opt-out: %w", err)
		}
	}
	return nil
}
