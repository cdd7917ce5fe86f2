package postgres

import (
	"context"
	"sync"
	"time"
)

// batchTimeout bounds one combined statement. It does not depend on the
// callers' contexts: a statement runs for every caller in it.
const batchTimeout = 30 * time.Second

// maxBatch is how many calls one combined statement serves at most.
const maxBatch = 1000

// batcher combines concurrent calls of one kind into one statement (group
// commit). A call made while no statement of its kind runs executes at once,
// alone; calls made while one runs wait for it, and then the first of them
// runs one statement for all of them. Nobody waits on a timer: when the
// database is idle there is no added latency, and under load one statement
// (one round trip, one commit) serves many calls.
type batcher[R any] struct {
	// run executes one statement for reqs and stores each request's result
	// in it; an error is every request's error.
	run func(ctx context.Context, reqs []R) error

	mu      sync.Mutex
	running bool
	pending []*batchCall[R]
}

type batchCall[R any] struct {
	req     R
	err     error
	done    chan struct{}
	promote chan struct{}
}

// do runs req, alone or combined with concurrent calls, and returns when its
// statement has run. A ctx that is already done returns its error at once;
// once queued, a call waits for its statement (bounded by batchTimeout).
func (b *batcher[R]) do(ctx context.Context, req R) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &batchCall[R]{req: req, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if b.running {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-c.promote: // our turn to run the statement for everyone waiting
		}
		b.mu.Lock()
	}
	b.running = true
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()

	reqs := make([]R, len(batch))
	for i, bc := range batch {
		reqs[i] = bc.req
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	err := b.run(rctx, reqs)
	cancel()
	for _, bc := range batch {
		bc.err = err
		close(bc.done)
	}

	b.mu.Lock()
	if len(b.pending) > 0 {
		b.pending[0].promote <- struct{}{}
	} else {
		b.running = false
		b.pending = nil
	}
	b.mu.Unlock()
	return c.err
}
