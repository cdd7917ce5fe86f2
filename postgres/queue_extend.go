package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gonotify/notify"
)

var _ notify.LeaseExtender = (*Queue)(nil)

// Visibility returns how long a lease lasts from Receive
// (Config.Visibility, or its default).
func (q *Queue) Visibility() time.Duration { return q.core.cfg.Visibility }

// Extend moves l's expiry to d from now, by the database's clock (d must be
// positive), in one UPDATE of the job's row, and returns the new deadline
// by this process's clock (see Lease.Deadline; it is never later than the
// database's). A lease no longer held (acked, nacked, buried, or received
// again by someone else) returns an error wrapping notify.ErrLeaseLost. A
// lease past its deadline that nobody has received again is still held, and
// Extend keeps it.
func (q *Queue) Extend(ctx context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	if err := q.checkOpen(); err != nil {
		return time.Time{}, err
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("postgres: extend lease of %s by %v: the duration must be positive", l.Job.ID, d)
	}
	t, ok := parseReceipt(l)
	if !ok {
		return time.Time{}, fmt.Errorf("postgres: extend lease of %s: bad receipt: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	start := time.Now()
	var left pgtype.Interval
	err := q.db.QueryRow(ctx, q.core.sql.extend, l.Job.Queue, l.Job.ID, t, d).Scan(&left)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("postgres: extend lease of %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: extend lease of %s: %w", l.Job.ID, err)
	}
	return leaseDeadline(start, left), nil
}

// leaseDeadline turns a lease's time left into a deadline by this
// process's clock. left is lease_until - clock_timestamp(), computed by
// the statement that set lease_until; start is this process's time before
// it sent that statement. The server read its clock after start, and the
// lease expires when the server's clock reaches lease_until, left after
// that reading: so start + left is never later than the expiry, whatever
// the offset between the two clocks (as long as they run at the same
// rate), and even when the statement ran in a transaction whose now() is
// older than start. The cost is the statement's round trip, by which the
// deadline is early.
func leaseDeadline(start time.Time, left pgtype.Interval) time.Time {
	if !left.Valid {
		return time.Time{}
	}
	return start.Add(intervalDuration(left))
}

// intervalDuration converts a PostgreSQL interval without months.
func intervalDuration(i pgtype.Interval) time.Duration {
	return time.Duration(i.Microseconds)*time.Microsecond + time.Duration(i.Days)*24*time.Hour
}
