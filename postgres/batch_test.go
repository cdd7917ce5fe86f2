package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type echoReq struct {
	in, out int
}

// Concurrent calls are combined, each gets its own answer, and no two
// statements of one kind run at once.
func TestBatcherCombines(t *testing.T) {
	var running, maxRunning, statements atomic.Int32
	var sizes sync.Map
	b := &batcher[*echoReq]{run: func(ctx context.Context, reqs []*echoReq) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		statements.Add(1)
		sizes.Store(len(reqs), true)
		time.Sleep(2 * time.Millisecond) // a round trip
		for _, r := range reqs {
			r.out = r.in * 2
		}
		return nil
	}}
	const calls = 500
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			r := &echoReq{in: i}
			if assert.NoError(t, b.do(context.Background(), r)) {
				assert.Equal(t, 2*i, r.out, "call %d got another call's answer", i)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), maxRunning.Load(), "statements of one kind overlapped")
	assert.Less(t, statements.Load(), int32(calls), "no call was combined with another")
	combined := false
	sizes.Range(func(k, _ any) bool {
		if k.(int) > 1 {
			combined = true
		}
		return true
	})
	assert.True(t, combined)

	// Idle again: a lone call runs at once, alone.
	before := statements.Load()
	r := &echoReq{in: 21}
	require.NoError(t, b.do(context.Background(), r))
	assert.Equal(t, 42, r.out)
	assert.Equal(t, before+1, statements.Load())
}

// A failed statement fails every call in it, and only those.
func TestBatcherError(t *testing.T) {
	boom := errors.New("boom")
	release := make(chan struct{})
	var first atomic.Bool
	b := &batcher[*echoReq]{run: func(ctx context.Context, reqs []*echoReq) error {
		if first.CompareAndSwap(false, true) {
			<-release // hold the first statement so the others queue up
			return nil
		}
		for _, r := range reqs {
			if r.in < 0 {
				return boom
			}
		}
		return nil
	}}
	done := make(chan error, 1)
	go func() { done <- b.do(context.Background(), &echoReq{in: 1}) }()
	for !first.Load() {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, in := range []int{2, -1, 3} {
		wg.Go(func() { errs[i] = b.do(context.Background(), &echoReq{in: in}) })
	}
	// Let all three queue behind the first statement.
	for queued := 0; queued < 3; {
		time.Sleep(time.Millisecond)
		b.mu.Lock()
		queued = len(b.pending)
		b.mu.Unlock()
	}
	close(release)
	wg.Wait()
	assert.NoError(t, <-done, "the first statement succeeded")
	for i, err := range errs {
		assert.ErrorIs(t, err, boom, "call %d shared the failed statement", i)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, b.do(ctx, &echoReq{in: 4}), context.Canceled, "a call with a done context")
}

// A caller whose ctx ends returns at once, whether it waits in the queue
// or its statement is running, and the batcher keeps serving the others:
// a queued call that gave up is not run, a promotion it held is passed on.
func TestBatcherCallerDeadline(t *testing.T) {
	release := make(chan struct{})
	var ran sync.Map
	var first atomic.Bool
	b := &batcher[*echoReq]{run: func(ctx context.Context, reqs []*echoReq) error {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		for _, r := range reqs {
			ran.Store(r.in, true)
			r.out = 2 * r.in
		}
		return nil
	}}
	// The leader's statement hangs; its caller gives up after 50 ms.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.do(short, &echoReq{in: 1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second, "returned with its ctx, not with the statement")

	// A call queued behind it gives up too, and is taken out of the queue.
	short2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, b.do(short2, &echoReq{in: 2}), context.DeadlineExceeded)
	b.mu.Lock()
	assert.Empty(t, b.pending)
	b.mu.Unlock()

	// One more waits with no deadline; the hung statement ends; it runs.
	done := make(chan error, 1)
	r := &echoReq{in: 3}
	go func() { done <- b.do(context.Background(), r) }()
	for queued := 0; queued < 1; { // wait until it queues behind the hung statement
		time.Sleep(time.Millisecond)
		b.mu.Lock()
		queued = len(b.pending)
		b.mu.Unlock()
	}
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, 6, r.out)
	_, ranTwo := ran.Load(2)
	assert.False(t, ranTwo, "a call that gave up before a statement took it is not run")
	_, ranOne := ran.Load(1)
	assert.True(t, ranOne, "a statement already running finishes for its calls")
}
