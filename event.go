package notify

import "time"

// Status is the state of a delivery, as recorded in the notification log.
type Status string

// Delivery statuses. Every state change is an Event carrying one of these.
const (
	StatusQueued     Status = "queued"            // accepted and enqueued
	StatusSent       Status = "sent"              // the provider accepted it
	StatusRetrying   Status = "retrying"          // a retryable failure; queued again with a delay
	StatusDeferred   Status = "deferred"          // over the rate limit; queued again, not an attempt
	StatusFailed     Status = "failed"            // permanent failure; not retried
	StatusDead       Status = "dead"              // retries exhausted; kept in the queue's dead state, replayable
	StatusSkipped    Status = "skipped"           // not sent: opted out, rate limited (drop), already delivered
	StatusExpired    Status = "expired"           // past its TTL before it could be sent
	StatusInvalid    Status = "invalid_recipient" // the address is dead and was removed
	StatusOptedOut   Status = "opted_out"         // the provider says the user opted out; stored
	StatusConfig     Status = "config_error"      // our credentials or settings are wrong; kept queued
	StatusReplayed   Status = "replayed"          // a dead delivery was queued again by Replay
	StatusCanceled   Status = "canceled"          // removed from its queue unsent by Dispatcher.Cancel
	StatusOpened     Status = "opened"            // tracking
	StatusClicked    Status = "clicked"           // tracking
	StatusComplained Status = "complained"        // tracking: the recipient reported it as spam
	StatusConverted  Status = "converted"         // tracking: the host's own goal (Dispatcher.Track)
	// Provider feedback after "sent" (Dispatcher.Feedback): not attempts.
	StatusDelivered   Status = "delivered"   // the provider reports it reached the recipient
	StatusUndelivered Status = "undelivered" // the provider accepted it but could not deliver it; Reason says why
)

// allStatuses lists every Status constant above (event_internal_test.go
// checks it against this file), for code that needs one entry per status.
var allStatuses = []Status{StatusQueued, StatusSent, StatusRetrying, StatusDeferred, StatusFailed, StatusDead,
	StatusSkipped, StatusExpired, StatusInvalid, StatusOptedOut, StatusConfig, StatusReplayed, StatusCanceled, StatusOpened, StatusClicked,
	StatusComplained, StatusConverted, StatusDelivered, StatusUndelivered}

// Final reports whether a delivery in status s will not be sent again
// (short of Replay).
func (s Status) Final() bool {
	switch s {
	case StatusSent, StatusFailed, StatusDead, StatusSkipped, StatusExpired, StatusCanceled,
		StatusInvalid, StatusOptedOut, StatusOpened, StatusClicked, StatusComplained, StatusConverted, StatusDelivered, StatusUndelivered:
		return true
	}
	return false
}

// tracking reports whether s records what the recipient did with a message
// rather than where its delivery stands.
func (s Status) tracking() bool {
	return s == StatusOpened || s == StatusClicked || s == StatusComplained || s == StatusConverted
}

// reported reports whether s is a provider's report on a sent message.
func (s Status) reported() bool { return s == StatusDelivered || s == StatusUndelivered }

// Attempted reports whether an event in status s ends a call to the provider
// that counts against the retry policy's MaxAttempts. Configuration errors and
// rate-limit deferrals do not count.
func (s Status) Attempted() bool {
	switch s {
	case StatusSent, StatusRetrying, StatusFailed, StatusDead, StatusInvalid, StatusOptedOut:
		return true
	}
	return false
}

// Event is one entry in the notification log: a delivery changing state.
type Event struct {
	DeliveryID     string `json:"delivery_id"`
	NotificationID string `json:"notification_id"`
	UserID         string `json:"user_id,omitempty"`
	Category       string `json:"category,omitempty"`
	Channel        string `json:"channel"`
	Address        string `json:"address,omitempty"`
	// Template and Locale are the notification's template name (empty for
	// inline Content) and the recipient's locale, so that reports can be
	// grouped by them.
	Template   string `json:"template,omitempty"`
	Locale     string `json:"locale,omitempty"`
	Status     Status `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Attempt    int    `json:"attempt,omitempty"`
	ProviderID string `json:"provider_id,omitempty"`
	// MaybeSent marks a failure after which the provider may have accepted
	// the message anyway (a transport error or timeout): a retry may duplicate it.
	MaybeSent bool      `json:"maybe_sent,omitempty"`
	At        time.Time `json:"at"`
}

// DeliveryState is the part of a delivery's log the Dispatcher reads on the
// hot path.
type DeliveryState struct {
	Status Status
	// Attempts counts provider calls since the delivery was queued or last
	// replayed (events whose Status.Attempted is true).
	Attempts int
	// Since is when the delivery was queued or last replayed, when the EventLog
	// keeps event times; the retry policy's MaxAge counts from it.
	Since time.Time
}

// Apply folds e into s. Every EventLog implementation keeps its state with Apply so
// that all of them count attempts the same way.
func (s *DeliveryState) Apply(e Event) {
	switch {
	case e.Status == StatusQueued:
		s.Since = e.At
	case e.Status == StatusReplayed:
		if s.Status != StatusDead && s.Status != StatusReplayed {
			// A Replay that lost to a concurrent one recorded this after
			// the winner's job had moved on (say, been sent): not a replay.
			return
		}
		s.Attempts, s.Since = 0, e.At
	case e.Status.Attempted():
		s.Attempts++
	}
	if e.Status.tracking() {
		return // tracking does not change where the delivery stands
	}
	if s.Status.reported() && !e.Status.reported() && e.Status != StatusQueued && e.Status != StatusReplayed {
		// The provider's report came before the send's own outcome was
		// recorded (a "sent", or a "retrying" after a timeout): the
		// report is the better word, and a final one.
		return
	}
	s.Status = e.Status
}

// DeliveryRecord is a delivery's log: its identity, where it stands, and every
// event in order.
type DeliveryRecord struct {
	DeliveryID     string    `json:"delivery_id"`
	NotificationID string    `json:"notification_id"`
	UserID         string    `json:"user_id,omitempty"`
	Category       string    `json:"category,omitempty"`
	Channel        string    `json:"channel"`
	Address        string    `json:"address"`
	Template       string    `json:"template,omitempty"`
	Locale         string    `json:"locale,omitempty"`
	Status         Status    `json:"status"`
	Attempts       int       `json:"attempts"`
	ProviderID     string    `json:"provider_id,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	UpdatedAt      time.Time `json:"updated_at"`
	Events         []Event   `json:"events"`
}

// NewDeliveryRecord rebuilds a DeliveryRecord from its events, oldest first.
// EventLog implementations that store events use it to answer Deliveries.
func NewDeliveryRecord(events []Event) DeliveryRecord {
	var ds DeliveryRecord
	var st DeliveryState
	for _, e := range events {
		if ds.DeliveryID == "" {
			ds.DeliveryID, ds.NotificationID = e.DeliveryID, e.NotificationID
			ds.UserID, ds.Category, ds.Channel, ds.Address = e.UserID, e.Category, e.Channel, e.Address
			ds.Template, ds.Locale = e.Template, e.Locale
		}
		st.Apply(e)
		if e.ProviderID != "" {
			ds.ProviderID = e.ProviderID
		}
		if st.Status == e.Status && (e.Reason != "" || e.Status.Final()) {
			ds.Reason = e.Reason // an event that was not applied (see Apply) keeps the reason
		}
		if st.Status == e.Status || e.Status.tracking() {
			ds.UpdatedAt = e.At
		}
	}
	ds.Status, ds.Attempts = st.Status, st.Attempts
	ds.Events = events
	return ds
}

// GroupRecords groups events (in the order they were recorded) by
// delivery: one DeliveryRecord per delivery, in the order of each one's
// first event. EventLog implementations that read a notification's or a
// user's events in one query use it.
func GroupRecords(events []Event) []DeliveryRecord {
	var order []string
	by := map[string][]Event{}
	for _, e := range events {
		if _, ok := by[e.DeliveryID]; !ok {
			order = append(order, e.DeliveryID)
		}
		by[e.DeliveryID] = append(by[e.DeliveryID], e)
	}
	out := make([]DeliveryRecord, 0, len(order))
	for _, id := range order {
		out = append(out, NewDeliveryRecord(by[id]))
	}
	return out
}
