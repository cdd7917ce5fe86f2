package notify

import (
	"context"
	"fmt"
)

// PushDeliveryIDKey is the custom key under which the APNs and FCM channels
// put the delivery's ID in every push payload (APNs: a top-level key beside
// "aps"; FCM: a data key). An app that reads it when the user opens the
// push reports the open to its backend, which calls Dispatcher.Track.
const PushDeliveryIDKey = "notify_delivery_id"

// Track records what a recipient did with a delivery: StatusOpened (an
// app's report that its push was opened; see PushDeliveryIDKey),
// StatusClicked, or StatusConverted (a goal of the host's own: a purchase,
// a sign-in). Each kind is recorded once per delivery: a repeat, or the
// same report arriving twice at once (with an OnceRecorder Store), is not
// recorded again. Tracking never changes where the delivery stands; it
// shows in Status and in the log. It returns an error wrapping ErrNotFound
// for a delivery the log does not hold.
func (d *Dispatcher) Track(ctx context.Context, deliveryID string, kind Status) error {
	switch kind {
	case StatusOpened, StatusClicked, StatusConverted:
	default:
		return &ValidationError{Field: "kind", Reason: fmt.Sprintf("is %q; want %q, %q or %q", kind, StatusOpened, StatusClicked, StatusConverted)}
	}
	return d.Feedback(ctx, Feedback{DeliveryID: deliveryID, Engagement: kind})
}
