package memory

import (
	"context"
	"time"

	"github.com/gonotify/notify"
)

var _ notify.Canceler = (*Queue)(nil)

// Cancel removes the jobs of the named queue with these IDs that are ready
// or delayed and hold no lease, and returns the IDs it removed, in the
// order given. It holds the queue's lock throughout, so a job is either
// removed or leased by a Receive, never both. Leased, dead and unknown IDs
// are left as they are, and so is a job whose last lease ran out without
// an Ack, Nack or Bury (its receiver may have sent it) until a Nack
// returns it. A removed job no longer counts toward Config.MaxJobs.
func (q *Queue) Cancel(_ context.Context, name string, ids []string) ([]string, error) {
	if q.closed.Load() {
		return nil, q.errClosed("cancel")
	}
	qu := q.get(name, false)
	if qu == nil || len(ids) == 0 {
		return nil, nil
	}
	qu.mu.Lock()
	defer qu.mu.Unlock()
	qu.promote(time.Now())
	var canceled []string
	var fromReady map[*job]bool
	for _, id := range ids {
		r, _ := qu.jobs.Get(id)
		if r == nil {
			continue // unknown, or given twice
		}
		if r.lapsed {
			continue // its last receiver may have sent it
		}
		switch r.state {
		case stateDelayed:
			qu.remove(r)
			qu.release(r)
		case stateReady:
			// Out of the FIFO below, all in one pass.
			if fromReady == nil {
				fromReady = make(map[*job]bool)
			}
			fromReady[r] = true
			qu.jobs.Delete(id)
		default:
			continue // leased or dead
		}
		canceled = append(canceled, id)
	}
	if len(fromReady) > 0 {
		qu.dropReady(fromReady)
	}
	q.live.Add(-int64(len(canceled)))
	return canceled, nil
}

// dropReady takes the jobs of drop out of the ready FIFO, in one pass,
// keeping the others' order, and frees their records. qu.mu is held.
func (qu *queue) dropReady(drop map[*job]bool) {
	kept := qu.ready[:qu.head]
	for _, r := range qu.ready[qu.head:] {
		if drop[r] {
			qu.release(r)
			continue
		}
		kept = append(kept, r)
	}
	clear(qu.ready[len(kept):])
	qu.ready = kept
	if qu.head == len(qu.ready) {
		qu.ready, qu.head = qu.ready[:0], 0
	}
}
