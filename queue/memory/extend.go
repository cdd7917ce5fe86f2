package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/gonotify/notify"
)

var _ notify.LeaseExtender = (*Queue)(nil)

// Visibility returns how long a lease lasts from Receive (Config.Visibility,
// or its default).
func (q *Queue) Visibility() time.Duration { return q.visibility }

// Extend moves l's expiry to d from now (d must be positive) and returns
// the new deadline; that is Lease.Deadline from then on. A lease no longer
// held (acked, nacked, buried, or past its deadline even if nobody has
// received the job again) returns an error wrapping notify.ErrLeaseLost,
// and a closed Queue one wrapping notify.ErrClosed.
func (q *Queue) Extend(_ context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("queue/memory: extend job %s by %v: the duration must be positive", l.Job.ID, d)
	}
	var deadline time.Time
	err := q.withLease(&l, "extend", func(qu *queue, r *job) {
		qu.remove(r)
		deadline = time.Now().Add(d)
		r.due = deadline
		qu.push(r)
	})
	if err != nil {
		return time.Time{}, err
	}
	return deadline, nil
}
