package memory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/queue/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run in testing/synctest bubbles: time is fake and
// moves only when every goroutine is blocked, so timings are exact. A
// bubble also fails the test if a goroutine outlives it.

func job(id string) notify.Job {
	return notify.Job{ID: id, Queue: "q", Delivery: &notify.Delivery{ID: id, Message: notify.Message{Body: "body " + id}}}
}

func receive1(t *testing.T, q *memory.Queue) notify.Lease {
	t.Helper()
	ls, err := q.Receive(context.Background(), "q", 1)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	return ls[0]
}

// receiveAsync starts a Receive and returns a channel with its result.
func receiveAsync(q *memory.Queue, max int) <-chan []notify.Lease {
	out := make(chan []notify.Lease, 1)
	go func() {
		ls, _ := q.Receive(context.Background(), "q", max)
		out <- ls
	}()
	return out
}

func TestLeaseExpiryExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{Visibility: 30 * time.Second})
		defer q.Close()
		require.NoError(t, q.Enqueue(ctx, job("a")))
		start := time.Now()
		first := receive1(t, q)
		assert.Equal(t, 1, first.Attempt)

		second := receive1(t, q) // blocks until the lease expires
		assert.Equal(t, 30*time.Second, time.Since(start), "redelivered exactly at the visibility timeout")
		assert.Equal(t, 2, second.Attempt)
		assert.ErrorIs(t, q.Ack(ctx, first), notify.ErrLeaseLost)

		// An expired lease is lost even before anyone receives the job again.
		time.Sleep(30 * time.Second)
		assert.ErrorIs(t, q.Ack(ctx, second), notify.ErrLeaseLost, "Ack at the visibility timeout")
		st, err := q.Stats(ctx, "q")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 1}, st, "an expired lease's job is ready again")
	})
}

func TestAckJustBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{}) // default visibility: 30s
		defer q.Close()
		require.NoError(t, q.Enqueue(ctx, job("a")))
		l := receive1(t, q)
		time.Sleep(30*time.Second - time.Nanosecond)
		assert.NoError(t, q.Ack(ctx, l), "a lease is held until its visibility timeout")
	})
}

func TestDelaysExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{Visibility: time.Hour})
		defer q.Close()
		start := time.Now()
		later := job("later")
		later.NotBefore = start.Add(10 * time.Minute)
		sooner := job("sooner")
		sooner.NotBefore = start.Add(time.Minute)
		require.NoError(t, q.Enqueue(ctx, later))

		// A Receive blocked on the later job's timer is woken by the sooner
		// one enqueued after it started.
		got := receiveAsync(q, 10)
		synctest.Wait()
		require.NoError(t, q.Enqueue(ctx, sooner))
		ls := <-got
		require.Len(t, ls, 1)
		assert.Equal(t, "sooner", ls[0].Job.ID)
		assert.Equal(t, time.Minute, time.Since(start))

		l := receive1(t, q)
		assert.Equal(t, "later", l.Job.ID)
		assert.Equal(t, 10*time.Minute, time.Since(start))

		// Nack with a delay.
		require.NoError(t, q.Nack(ctx, l, 5*time.Second))
		nacked := time.Now()
		st, err := q.Stats(ctx, "q")
		require.NoError(t, err)
		assert.Equal(t, 1, st.Delayed)
		l = receive1(t, q)
		assert.Equal(t, 5*time.Second, time.Since(nacked))
		assert.Equal(t, 2, l.Attempt)
	})
}

func TestReceiveWakesEveryWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{})
		defer q.Close()
		const waiters = 4
		got := make([]<-chan []notify.Lease, waiters)
		for i := range got {
			got[i] = receiveAsync(q, 1)
		}
		synctest.Wait()
		// One Enqueue of four jobs must wake all four waiters.
		require.NoError(t, q.Enqueue(ctx, job("a"), job("b"), job("c"), job("d")))
		seen := map[string]bool{}
		for _, c := range got {
			ls := <-c
			require.Len(t, ls, 1)
			seen[ls[0].Job.ID] = true
		}
		assert.Len(t, seen, waiters, "every waiter gets a different job")
	})
}

func TestCloseReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := memory.New(memory.Config{})
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for range 3 {
			wg.Go(func() {
				_, err := q.Receive(context.Background(), "q", 1)
				errs <- err
			})
		}
		synctest.Wait()
		require.NoError(t, q.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.ErrorIs(t, err, notify.ErrClosed)
		}
		assert.NoError(t, q.Close(), "a second Close")
	})
}

// TestDeliveryIsShared checks that a lease carries the enqueued Delivery
// itself, unwritten, so that a Receive copies no Delivery; the lease's
// Attempt counts the receipts.
func TestDeliveryIsShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{})
		defer q.Close()
		orig := job("a")
		require.NoError(t, q.Enqueue(ctx, orig))
		l := receive1(t, q)
		assert.Same(t, orig.Delivery, l.Job.Delivery)
		assert.Equal(t, 1, l.Attempt)
		require.NoError(t, q.Nack(ctx, l, 0))
		l = receive1(t, q)
		assert.Same(t, orig.Delivery, l.Job.Delivery)
		assert.Equal(t, 2, l.Attempt)
		assert.Equal(t, 0, orig.Delivery.Attempt, "the enqueued Delivery is not written to")
	})
}

func TestReplayMakesOldLeasesStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{Visibility: time.Minute})
		defer q.Close()
		require.NoError(t, q.Enqueue(ctx, job("a")))
		stale := receive1(t, q) // attempt 1, then expires
		l := receive1(t, q)     // attempt 2
		require.NoError(t, q.Bury(ctx, l, "dead"))
		require.NoError(t, q.Replay(ctx, "q", "a"))
		fresh := receive1(t, q)
		require.Equal(t, stale.Attempt, fresh.Attempt, "both are attempt 1")
		assert.NotEqual(t, stale.Handle, fresh.Handle, "a Replay starts a new lease generation")
		assert.ErrorIs(t, q.Ack(ctx, stale), notify.ErrLeaseLost, "a lease from before the Replay")
		assert.NoError(t, q.Ack(ctx, fresh))
	})
}

func TestStatsOldestReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{})
		defer q.Close()
		require.NoError(t, q.Enqueue(ctx, job("a")))
		time.Sleep(5 * time.Second)
		require.NoError(t, q.Enqueue(ctx, job("b")))
		st, err := q.Stats(ctx, "q")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 2, OldestReady: 5 * time.Second}, st)
	})
}

func TestEnqueueRejectsEmptyID(t *testing.T) {
	ctx := context.Background()
	q := memory.New(memory.Config{})
	defer q.Close()
	err := q.Enqueue(ctx, job("a"), notify.Job{Queue: "q"})
	require.Error(t, err)
	st, _ := q.Stats(ctx, "q")
	assert.Equal(t, 0, st.Ready, "a rejected batch adds nothing")
}

// TestManyJobsInterleaved drives many jobs through every state in a bubble
// and checks the heap keeps them in due order.
func TestManyJobsInterleaved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		q := memory.New(memory.Config{Visibility: time.Hour})
		defer q.Close()
		start := time.Now()
		const n = 300
		for i := range n {
			j := job(fmt.Sprint(i))
			// Due in a scrambled order: (i*7919)%n seconds from now.
			j.NotBefore = start.Add(time.Duration((i*7919)%n+1) * time.Second)
			require.NoError(t, q.Enqueue(ctx, j))
		}
		for k := 1; k <= n; k++ {
			l := receive1(t, q)
			assert.Equal(t, time.Duration(k)*time.Second, time.Since(start), "job %s", l.Job.ID)
			if k%3 == 0 {
				require.NoError(t, q.Ack(ctx, l))
			} else {
				require.NoError(t, q.Nack(ctx, l, time.Duration(n+k)*time.Second))
			}
		}
		st, err := q.Stats(ctx, "q")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Delayed: n - n/3}, st)
	})
}
