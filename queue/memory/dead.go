package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gonotify/notify"
)

var _ notify.DeadLister = (*Queue)(nil)

// Dead lists the named queue's dead jobs that dq selects, newest first. It
// looks through every job of the queue under its lock: an operator's call,
// not one for a hot path.
func (q *Queue) Dead(_ context.Context, dq notify.DeadQuery) (notify.DeadPage, error) {
	if q.closed.Load() {
		return notify.DeadPage{}, q.errClosed("dead")
	}
	cur, err := notify.ParsePageCursor(dq.Cursor)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("queue/memory: dead jobs of %q: %w", dq.Queue, err)
	}
	qu := q.get(dq.Queue, false)
	if qu == nil {
		return notify.DeadPage{}, nil
	}
	var out []notify.DeadJob
	qu.mu.Lock()
	for r := range qu.jobs.All() {
		if r.state != stateDead || !dq.Matches(r.reason, r.died) || (dq.Cursor != "" && !cur.After(r.died, r.id)) {
			continue
		}
		var del *notify.Delivery
		if r.d != nil {
			c := *r.d // the caller's copy
			del = &c
		}
		out = append(out, notify.DeadJob{
			Job:      notify.Job{ID: r.id, Queue: qu.name, Delivery: del},
			Attempts: r.attempt, Reason: r.reason, DiedAt: r.died,
		})
	}
	qu.mu.Unlock()
	slices.SortFunc(out, func(a, b notify.DeadJob) int {
		if c := b.DiedAt.Compare(a.DiedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Job.ID, a.Job.ID)
	})
	page := notify.DeadPage{Jobs: out}
	if limit := dq.PageLimit(); len(out) > limit {
		page.Jobs = out[:limit:limit]
		last := page.Jobs[limit-1]
		page.Next = notify.PageCursor{At: last.DiedAt, ID: last.Job.ID}.String()
	}
	return page, nil
}
