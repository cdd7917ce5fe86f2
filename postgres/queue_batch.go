package postgres

import (
	"context"

	"github.com/gonotify/notify"
)

// ackReq is one Ack call; held is how many of its leases were still held.
type ackReq struct {
	leases []notify.Lease
	held   int
}

// runAcks deletes every request's leases in one statement per queue.
func (c *queueCore) runAcks(ctx context.Context, reqs []*ackReq) error {
	var all []notify.Lease
	for _, r := range reqs {
		all = append(all, r.leases...)
	}
	q := &Queue{core: c, db: c.pool}
	deleted, err := q.ackTokens(ctx, all)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		for _, l := range r.leases {
			if t, ok := parseReceipt(l); ok && deleted[t] {
				delete(deleted, t)
				r.held++
			}
		}
	}
	return nil
}

// enqueueReq is one Enqueue call.
type enqueueReq struct{ rows []jobRow }

func (c *queueCore) runEnqueues(ctx context.Context, reqs []*enqueueReq) error {
	var all []jobRow
	for _, r := range reqs {
		all = append(all, r.rows...)
	}
	q := &Queue{core: c, db: c.pool}
	return q.enqueueNow(ctx, all)
}
