package notify

import "context"

// OnceRecorder is implemented by an EventLog that records an event at most once
// per key, atomically: of many concurrent RecordOnce calls with one
// delivery and key exactly one records (store/memory under its lock; the
// postgres package with a unique index). [Dispatcher.Feedback] uses it so
// that a provider report arriving twice at once is recorded, and acted on,
// once. With an EventLog that does not implement it, Feedback falls back to
// reading the delivery's log before recording, which two simultaneous
// reports can both pass.
type OnceRecorder interface {
	// RecordOnce records ev unless the log already holds an event for
	// ev.DeliveryID recorded under key, and reports whether it recorded.
	// key is opaque and short (Feedback passes 64 hex digits); it is
	// scoped to the delivery.
	//
	// When then is not nil and ev is new, RecordOnce calls it before it
	// returns, with a Store to act on: ev is kept only if then returns nil.
	// If then returns an error, ev is not recorded, key is free again, and
	// RecordOnce returns the error; whether writes then made before it
	// failed are kept depends on the EventLog (the postgres package runs then in
	// ev's transaction and rolls them back; store/memory keeps them), so
	// make then one write, as Feedback does. Until then returns, a
	// concurrent RecordOnce with the same key waits or reports false. then
	// may use the Store's Contacts and Preferences; it must not call its
	// EventLog methods (a lock may be held).
	RecordOnce(ctx context.Context, ev Event, key string, then func(ctx context.Context, s Store) error) (recorded bool, err error)
}
