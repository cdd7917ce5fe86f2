package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"

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

// maxFetch is how many jobs one combined fetch leases at most.
const maxFetch = 1000

// receiveReq is one Receive's fetch: up to limit jobs for a caller whose
// context is ctx.
type receiveReq struct {
	ctx    context.Context
	limit  int
	leases []notify.Lease
	gone   bool // its ctx had ended when the fetch was sized: it gets none
}

// fetchShared is fetch combined with the concurrent fetches of queue on
// this Queue: each runs alone when none runs, and those that come while
// one runs are served together by the next, one statement leasing the
// jobs of all of them (up to maxFetch) and dealing them out in turn.
//
// Concurrent fetches of one queue would start at the same hint and each
// step over the rows the others hold locked: with 4 receivers of 64
// jobs on 2 cores, combining them drained a backlog about a third
// faster. Fetching one at a time instead would do that too, but would
// leave receivers idle while a fetch crosses a slow network, where
// combining fetches as many jobs per round trip as concurrent ones did.
//
// A caller whose ctx ends before its statement runs is left out of it.
// The share of one whose ctx ends while it runs is released at once (in
// the background, after the others are answered), its attempt not
// counted, unless the ctx ends in the instant between that check and the
// answer: then its leases end after Config.Visibility and the jobs are
// handed out again. (A lone fetch cut off by its ctx used to
// leave its leases so whenever the database had run it.) In a
// transaction (Backend.Tx) the fetch runs alone, in it.
func (q *Queue) fetchShared(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	if _, inTx := q.db.(pgx.Tx); inTx {
		return q.fetch(ctx, queue, limit)
	}
	r := &receiveReq{ctx: ctx, limit: limit}
	if err := q.core.fetcher(queue).do(ctx, r); err != nil {
		return nil, err
	}
	return r.leases, nil
}

// fetcher returns the batcher of queue's fetches.
func (c *queueCore) fetcher(queue string) *batcher[*receiveReq] {
	c.hintsMu.Lock()
	defer c.hintsMu.Unlock()
	b := c.fetchers[queue]
	if b == nil {
		b = &batcher[*receiveReq]{run: func(ctx context.Context, reqs []*receiveReq) error {
			return c.runFetches(ctx, queue, reqs)
		}}
		c.fetchers[queue] = b
	}
	return b
}

// runFetches leases the jobs of reqs in one fetch of queue and deals them
// out in order. The share of a caller whose context ended while it ran is
// released at once, its attempt not counted. The fetch runs to its end
// even when every caller has gone: cut off, it could still commit on the
// server (pgx closes the connection; it does not cancel the statement),
// and its leases would then hold the jobs for Config.Visibility.
func (c *queueCore) runFetches(ctx context.Context, queue string, reqs []*receiveReq) error {
	total := 0
	for _, r := range reqs {
		if r.gone = r.ctx.Err() != nil; !r.gone {
			total += r.limit
		}
	}
	if total == 0 {
		return nil
	}
	q := &Queue{core: c, db: c.pool}
	leases, err := q.fetch(ctx, queue, min(total, maxFetch))
	if err != nil {
		return err
	}
	var ids []string
	var tokens []int64
	for _, r := range reqs {
		if r.gone {
			continue
		}
		n := min(r.limit, len(leases))
		if r.ctx.Err() == nil {
			r.leases = leases[:n:n]
		} else {
			for _, l := range leases[:n] {
				if t, ok := parseReceipt(l); ok {
					ids, tokens = append(ids, l.Job.ID), append(tokens, t)
				}
			}
		}
		leases = leases[n:]
	}
	if len(ids) > 0 {
		// After the answer, not before it: a caller whose ctx ends while
		// it waits for the answer loses its leases (to their expiry).
		go c.release(context.WithoutCancel(ctx), queue, ids, tokens)
	}
	return nil
}

// release frees the leases tokens of jobs ids of queue, fetched for
// callers that had gone, not counting their attempt.
func (c *queueCore) release(ctx context.Context, queue string, ids []string, tokens []int64) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	var released, notified int
	if err := c.pool.QueryRow(ctx, c.sql.release, args(c.fresh, queue, ids, tokens, c.channel)...).Scan(&released, &notified); err != nil {
		c.log.Warn("postgres: release the jobs fetched for Receives that ended; they will be handed out again when their leases expire",
			slog.String("queue", queue), slog.Int("jobs", len(ids)), slog.Any("error", err))
	}
}
