package sqlite

import (
	"context"
	"fmt"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var _ notify.EventLogCanceler = (*Queue)(nil)

// sqlCancel deletes a live job that holds no lease: never received, or
// returned by Nack (or Replay), which clears it. A job whose lease ran out
// keeps it until received again: its receiver may have sent it.
const sqlCancel = `DELETE FROM queue_jobs WHERE queue = ? AND id = ? AND state = 0 AND lease IS NULL`

// Cancel deletes the jobs of queue with these IDs that are ready or
// delayed and hold no lease, in one transaction shared with concurrent
// writes, and returns their IDs. Every write, Receive's included, runs on
// the one write connection, so a job is either deleted or leased, never
// both. A job a receiver holds, one whose last lease ran out without an
// Ack, Nack or Bury (its receiver may have sent it), a dead job and an
// unknown ID are left as they are.
func (q *Queue) Cancel(ctx context.Context, queue string, ids []string) ([]string, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var got []string
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) (err error) {
		got, err = cancelRows(ctx, w, queue, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: cancel %d jobs of %s: %w", len(ids), queue, err)
	}
	return got, nil
}

// CancelLogged deletes the jobs of queue whose IDs are the events'
// DeliveryIDs as Cancel does, and records the events of the jobs it
// deleted, and no others, in the same transaction: a job is never gone
// without its event. It returns the IDs it deleted. log is as
// EnqueueLogged's; any other EventLog gets an error wrapping
// errors.ErrUnsupported, and nothing is written.
func (q *Queue) CancelLogged(ctx context.Context, log notify.EventLog, queue string, events []notify.Event) ([]string, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := q.logStore(log); err != nil {
		return nil, fmt.Errorf("sqlite: cancel and record: %w", err)
	}
	ids, err := sqlbackend.DeliveryIDs(events)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var got []string
	err = q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) (err error) {
		if got, err = cancelRows(ctx, w, queue, ids); err != nil || len(got) == 0 {
			return err
		}
		return insertEvents(ctx, w, sqlbackend.EventsOf(events, got))
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: cancel %d jobs of %s and record their events: %w", len(ids), queue, err)
	}
	return got, nil
}

// cancelRows deletes the unleased jobs of queue among ids in w's
// transaction and returns the IDs it deleted.
func cancelRows(ctx context.Context, w *wtx, queue string, ids []string) ([]string, error) {
	var got []string
	for _, id := range ids {
		res, err := w.exec(ctx, sqlCancel, queue, id)
		if err != nil {
			return nil, fmt.Errorf("delete job %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			got = append(got, id)
		}
	}
	return got, nil
}
