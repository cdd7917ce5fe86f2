package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// ackTimeout bounds one combined ack statement.
const ackTimeout = 30 * time.Second

// ackBatcher combines concurrent Acks into one DELETE (group commit): the
// first caller runs its own; callers arriving meanwhile queue up, and when
// the statement ends the first of them runs one for all of them. No caller
// waits for a timer, and under load one statement acks many leases.
type ackBatcher struct {
	core    *queueCore
	mu      sync.Mutex
	running bool
	pending []*ackReq
}

type ackReq struct {
	leases  []notify.Lease
	held    int
	err     error
	done    chan struct{}
	promote chan struct{}
}

// ack deletes leases and returns how many of them were held.
func (b *ackBatcher) ack(ctx context.Context, leases []notify.Lease) (int, error) {
	r := &ackReq{leases: leases, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.running {
		b.mu.Unlock()
		select {
		case <-r.done:
			return r.held, r.err
		case <-r.promote:
		}
		b.mu.Lock()
	}
	b.running = true
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()

	b.run(ctx, batch)

	b.mu.Lock()
	if len(b.pending) > 0 {
		b.pending[0].promote <- struct{}{}
	} else {
		b.running = false
	}
	b.mu.Unlock()
	return r.held, r.err
}

// run executes one DELETE for every lease in batch and settles each request.
func (b *ackBatcher) run(ctx context.Context, batch []*ackReq) {
	var all []notify.Lease
	for _, r := range batch {
		all = append(all, r.leases...)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	q := &Queue{core: b.core, db: b.core.pool}
	deleted, err := q.ackTokens(ctx, all)
	for _, r := range batch {
		if err != nil {
			r.err = err
		} else {
			for _, l := range r.leases {
				if t, ok := parseReceipt(l); ok && deleted[t] {
					delete(deleted, t)
					r.held++
				}
			}
		}
		close(r.done)
	}
}
