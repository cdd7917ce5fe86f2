package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/gonotify/notify"
)

// SendTx is d.Send inside the caller's transaction tx: the dedup claim, the
// log rows and the queue rows are written through tx, so the notification
// exists if and only if tx commits (the outbox pattern). Workers are woken
// when tx commits (NOTIFY is transactional); a rolled-back tx leaves no
// delivery, no log row and no claim behind.
//
// The rows go to this Store's schema, which must be the schema of d's
// Queue, Store and (when set) Deduper. Contacts and preferences are read
// through d's Store, outside tx, so a contact written earlier in tx is not
// seen. Event IDs are always de-duplicated in PostgreSQL, even when d has no
// Deduper; a concurrent SendTx, Send (or Claim) of the same event ID waits
// until tx ends — and with a Send waits every Send combined into the same
// statement, up to their BackendTimeout — so keep such transactions short. When SendTx returns an error,
// roll tx back: a failed statement aborts a PostgreSQL transaction.
func (s *Store) SendTx(ctx context.Context, d *notify.Dispatcher, tx pgx.Tx, n notify.Notification) (notify.Receipt, error) {
	if d == nil || tx == nil {
		return notify.Receipt{}, errors.New("postgres: SendTx needs a Dispatcher and a transaction")
	}
	return d.SendWith(ctx, notify.AcceptBackends{
		Queue:    s.core.queue.withTx(tx),
		EventLog: s.withTx(tx),
		Deduper:  s.core.dedup.withTx(tx),
	}, n)
}
