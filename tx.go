package notify

import (
	"context"
	"errors"
	"fmt"
)

// Tx is a host's database transaction, bound by the backend that owns it
// (postgres.Backend.Tx returns one for a pgx.Tx). Dispatcher.SendTx writes
// a notification through it.
type Tx interface {
	// Bind gets the Dispatcher's configured Queue, EventLog (its Store) and
	// Deduper (nil when it has none) and returns the same backends writing
	// through the transaction. It returns an error, having written nothing,
	// when any of them is not the binder's own (a *ForeignBackendError
	// naming which): writing the others in the transaction would leave
	// that one outside it. A backend found by unwrapping (see As) counts as
	// the binder's own. Bind does no I/O. What Bind does with a nil Deduper
	// is the binder's choice: postgres binds its own, so event IDs are
	// still de-duplicated, in the transaction.
	Bind(b AcceptBackends) (AcceptBackends, error)
}

// ForeignBackendError is SendTx's error when one of the Dispatcher's
// backends is not the transaction's backend's own: an SQS Queue, a Redis
// Deduper, a memory Store, or the backend of another database or schema.
// Its rows could not commit with the transaction (a notification queued
// where no worker reads, or an event ID de-duplicated in two places), so
// SendTx refuses before anything is read or written: errors.Is(err,
// ErrNotQueued) holds. Give the Dispatcher the Queue, Store and Deduper of
// the backend whose Tx is passed (or wrappers that unwrap to them), or call
// Send outside the transaction.
type ForeignBackendError struct {
	// Backend names the Dispatcher's backend that is foreign: "Queue",
	// "Store" or "Deduper".
	Backend string
	// Binder names the transaction's backend (`postgres.Backend (schema
	// "notify")`).
	Binder string
	// Reason says what the Dispatcher's backend is instead.
	Reason string
}

// Error names the foreign backend and says what to do.
func (e *ForeignBackendError) Error() string {
	return fmt.Sprintf("notify: SendTx: the Dispatcher's %s is not %s's own (%s), so it cannot write in the transaction; nothing was queued: "+
		"give the Dispatcher the Queue, Store and Deduper of the backend whose Tx you pass, or call Send",
		e.Backend, e.Binder, e.Reason)
}

// Is reports that a ForeignBackendError is an ErrNotQueued: nothing was
// stored.
func (e *ForeignBackendError) Is(target error) bool { return target == ErrNotQueued }

// SendTx is Send inside the caller's database transaction tx: the dedup
// claim, the log rows and the queue rows are written through tx, so the
// notification exists if and only if tx commits (the outbox pattern).
// Workers are woken when tx commits; a rolled-back tx leaves no delivery,
// no log row and no claim behind.
//
// tx comes from the backend that owns the transaction's database
// (postgres.Backend.Tx), and the Dispatcher's Queue, Store and Deduper
// must be that backend's own, or wrappers that unwrap to them (see As):
// otherwise SendTx returns a *ForeignBackendError, having read and written
// nothing. With no Deduper configured, whether event IDs are de-duplicated
// is up to tx: postgres's are, in the database (see Tx.Bind).
//
// Contacts and preferences are read through the Store outside tx, so a
// contact written earlier in tx is not seen. A concurrent SendTx, Send (or
// Deduper.Claim) of the same event ID waits until tx ends, and with a Send
// every Send combined into the same statement waits too, up to their
// Config.BackendTimeout: keep such transactions short.
//
// The outcomes are Send's, with nil meaning queued when tx commits. When
// SendTx returns an error, roll tx back (a failed statement aborts a
// PostgreSQL transaction): nothing of the notification is then stored, and
// the caller may retry the whole transaction.
func (d *Dispatcher) SendTx(ctx context.Context, tx Tx, n Notification) (Receipt, error) {
	if tx == nil {
		return Receipt{}, fmt.Errorf("notify: SendTx needs a Tx (a transaction bound by its backend, such as postgres.Backend.Tx(tx)): %w", ErrNotQueued)
	}
	b, err := tx.Bind(AcceptBackends{Queue: d.cfg.Queue, EventLog: d.cfg.Store, Deduper: d.cfg.Deduper})
	switch {
	case errors.Is(err, ErrNotQueued):
		return Receipt{}, err
	case err != nil:
		return Receipt{}, fmt.Errorf("notify: SendTx: bind the backends to the transaction: %w: %w", err, ErrNotQueued)
	case b.Queue == nil || b.EventLog == nil:
		return Receipt{}, fmt.Errorf("notify: SendTx: the Tx (a %T) bound no Queue or no EventLog; nothing was written: %w", tx, ErrNotQueued)
	}
	return d.sendWith(ctx, b, n)
}

// CheckOwned is for backends' Tx.Bind: it returns nil when v, the
// Dispatcher's backend in role ("Queue", "Store" or "Deduper"), is or
// unwraps to (see As) mine, the binder's own; otherwise a
// *ForeignBackendError naming role and binder and saying what v is. other
// describes a value of mine's type that is not mine ("the Store of another
// postgres.Backend (schema \"x\")").
func CheckOwned[T comparable](role, binder string, v any, mine T, other func(T) string) error {
	got, ok := As[T](v)
	if ok && got == mine {
		return nil
	}
	var reason string
	var zero T
	switch {
	case v == nil:
		reason = "it has none"
	case ok && got == zero:
		reason = fmt.Sprintf("it is a nil %T", mine)
	case !ok:
		reason = fmt.Sprintf("it is a %T, which neither is nor unwraps to a %T", v, mine)
	default:
		reason = "it is " + other(got)
	}
	return &ForeignBackendError{Backend: role, Binder: binder, Reason: reason}
}
