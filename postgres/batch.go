package postgres

import (
	"context"
	"slices"
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
// statement has run or ctx is done, whichever comes first. A ctx that is
// already done returns its error at once. A call whose ctx ends while it
// waits is taken out of the queue if no statement has taken it yet;
// otherwise its statement runs anyway (bounded by batchTimeout) and its
// result is dropped, so the caller cannot know whether it was written.
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
		case <-ctx.Done():
			b.abandon(c)
			return c.answerOr(ctx.Err())
		}
		b.mu.Lock()
	}
	b.running = true
	batch := b.take()
	b.mu.Unlock()
	// The statement runs for every call in it, so it must not stop with
	// this caller's ctx; this caller need not wait for it past its ctx.
	go b.runBatch(ctx, batch)
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return c.answerOr(ctx.Err())
	}
}

// answerOr returns c's answer if it has come, and err otherwise: a call
// answered as its ctx ended keeps the answer.
func (c *batchCall[R]) answerOr(err error) error {
	select {
	case <-c.done:
		return c.err
	default:
		return err
	}
}

// take removes the next batch from pending. b.mu is held.
func (b *batcher[R]) take() []*batchCall[R] {
	n := min(len(b.pending), maxBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	return batch
}

// abandon takes c out of the queue if no statement has taken it yet,
// handing its promotion, if it had one, to the next waiting call.
func (b *batcher[R]) abandon(c *batchCall[R]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.pending, c)
	if i < 0 {
		return // in a statement already: it runs without its caller
	}
	b.pending = slices.Delete(b.pending, i, i+1)
	select {
	case <-c.promote: // promotions are sent under b.mu: this one is final
		b.handOn()
	default:
	}
}

// handOn passes the turn to run a statement to the first waiting call, or
// marks the batcher idle. b.mu is held.
func (b *batcher[R]) handOn() {
	if len(b.pending) > 0 {
		b.pending[0].promote <- struct{}{}
	} else {
		b.running = false
		b.pending = nil
	}
}

// runBatch runs one statement for batch, answers every call in it and
// hands the turn on.
func (b *batcher[R]) runBatch(ctx context.Context, batch []*batchCall[R]) {
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
	b.handOn()
	b.mu.Unlock()
}
