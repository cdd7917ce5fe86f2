package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var _ notify.EventLogCanceler = (*Queue)(nil)

// unleased selects the live jobs that hold no lease: never received, or
// returned by Nack (or Replay), which clears it. A job whose lease ran out
// keeps it until received again: its receiver may have sent it.
const unleased = `state = 0 AND lease IS NULL`

// cancelSQL deletes the unleased jobs of queue $1 among the IDs $2.
// A job a Receive is leasing holds its row lock: the DELETE waits for it,
// then finds the job leased and leaves it; a Receive skips (SKIP LOCKED)
// the rows the DELETE holds.
const cancelSQL = `DELETE FROM {{schema}}.queue_jobs
	WHERE queue = $1 AND id = ANY($2::text[]) AND ` + unleased + `
	RETURNING id`

// cancelLoggedSQL deletes as cancelSQL does (queue $15, IDs $16) and
// records the events ($1 to $14) of the jobs it deleted, in one statement.
const cancelLoggedSQL = `WITH d AS (
		DELETE FROM {{schema}}.queue_jobs
		WHERE queue = $15 AND id = ANY($16::text[]) AND ` + unleased + `
		RETURNING id),
	ev AS (` + insertEventsFrom + `
			WHERE u.delivery_id IN (SELECT id FROM d)
			ORDER BY ord)
	SELECT id FROM d`

// Cancel deletes, in one statement, the jobs of queue with these IDs that
// are ready or delayed and hold no lease, and returns their IDs. A job a
// receiver holds, one whose last lease ran out without an Ack, Nack or
// Bury (its receiver may have sent it), a dead job and an unknown ID are
// left as they are.
// Bound to a transaction by Backend.Tx, the deletion commits with it.
func (q *Queue) Cancel(ctx context.Context, queue string, ids []string) ([]string, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	got, err := q.cancelRows(ctx, sqlFor(q.core.cfg.Schema, cancelSQL), queue, sortedIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("postgres: cancel %d jobs of %s: %w", len(ids), queue, err)
	}
	return got, nil
}

// CancelLogged deletes the jobs of queue whose IDs are the events'
// DeliveryIDs as Cancel does, and records the events of the jobs it
// deleted, and no others, in the same statement (one transaction): a job
// is never gone without its event. It returns the IDs it deleted.
//
// log is as EnqueueLogged's: a *Store of this Queue's schema on the same
// database (or bound to the same transaction); any other EventLog gets an
// error wrapping errors.ErrUnsupported, and nothing is written.
func (q *Queue) CancelLogged(ctx context.Context, log notify.EventLog, queue string, events []notify.Event) ([]string, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := q.logStore(log); err != nil {
		return nil, fmt.Errorf("postgres: cancel and record: %w", err)
	}
	ids, err := sqlbackend.DeliveryIDs(events)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	a := append(eventArrays(events), queue, sortedIDs(ids))
	got, err := q.cancelRows(ctx, sqlFor(q.core.cfg.Schema, cancelLoggedSQL), a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: cancel %d jobs of %s and record their events: %w", len(ids), queue, err)
	}
	return got, nil
}

// sortedIDs returns ids sorted and without repeats: rows are then locked
// in one order by every cancel.
func sortedIDs(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// cancelRows runs a cancel statement and returns the IDs it deleted.
func (q *Queue) cancelRows(ctx context.Context, query string, a ...any) ([]string, error) {
	rows, err := q.db.Query(ctx, query, args(q.core.fresh, a...)...)
	if err != nil {
		return nil, err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return got, nil
}
