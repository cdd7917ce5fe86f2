package memory_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/queue/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func jobOn(queue, id string) notify.Job {
	return notify.Job{ID: id, Queue: queue, Delivery: &notify.Delivery{ID: id}}
}

func live(t *testing.T, q *memory.Queue, queues ...string) int {
	t.Helper()
	n := 0
	for _, name := range queues {
		st, err := q.Stats(context.Background(), name)
		require.NoError(t, err)
		n += st.Ready + st.Delayed + st.InFlight
	}
	return n
}

// TestMaxJobs: an Enqueue past MaxJobs adds nothing of its call and
// returns ErrQueueFull; acked and buried jobs make room; jobs already held
// do not count.
func TestMaxJobs(t *testing.T) {
	ctx := context.Background()
	q := memory.New(memory.Config{MaxJobs: 3})
	defer q.Close()

	require.NoError(t, q.Enqueue(ctx, jobOn("a", "1"), jobOn("b", "2")))
	err := q.Enqueue(ctx, jobOn("a", "3"), jobOn("b", "4"))
	require.ErrorIs(t, err, notify.ErrQueueFull, "2 held + 2 new > 3")
	assert.Equal(t, 2, live(t, q, "a", "b"), "a refused Enqueue adds none of its jobs, on any queue")

	require.NoError(t, q.Enqueue(ctx, jobOn("a", "1"), jobOn("b", "2"), jobOn("a", "3")),
		"jobs already held do not count: a retried Enqueue is not refused for them")
	assert.Equal(t, 3, live(t, q, "a", "b"))
	require.ErrorIs(t, q.Enqueue(ctx, jobOn("a", "4")), notify.ErrQueueFull)

	ls, err := q.Receive(ctx, "a", 2)
	require.NoError(t, err)
	require.Len(t, ls, 2)
	require.ErrorIs(t, q.Enqueue(ctx, jobOn("a", "4")), notify.ErrQueueFull, "leased jobs count")
	require.NoError(t, q.Ack(ctx, ls[0]))
	require.NoError(t, q.Enqueue(ctx, jobOn("a", "4")), "an ack makes room")
	require.NoError(t, q.Bury(ctx, ls[1], "poison"))
	require.NoError(t, q.Enqueue(ctx, jobOn("a", "5")), "a burial makes room: dead jobs do not count")
	require.ErrorIs(t, q.Enqueue(ctx, jobOn("a", "6")), notify.ErrQueueFull)

	require.NoError(t, q.Replay(ctx, "a", ls[1].Job.ID), "Replay is not refused: the job was held")
	assert.Equal(t, 4, live(t, q, "a", "b"))
	require.ErrorIs(t, q.Enqueue(ctx, jobOn("b", "7")), notify.ErrQueueFull, "a replayed job counts as live")
	ls, err = q.Receive(ctx, "a", 3)
	require.NoError(t, err)
	require.Len(t, ls, 3)
	require.NoError(t, q.Ack(ctx, ls...))
	require.NoError(t, q.Enqueue(ctx, jobOn("b", "7"), jobOn("b", "8")))
	assert.Equal(t, 3, live(t, q, "a", "b"))
}

// TestMaxJobsConcurrent: of many concurrent Enqueues exactly MaxJobs jobs
// are accepted, and the refused ones add nothing.
func TestMaxJobsConcurrent(t *testing.T) {
	const max, writers, each = 100, 16, 20
	ctx := context.Background()
	q := memory.New(memory.Config{MaxJobs: max})
	defer q.Close()
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// Two jobs per call, on two queues: all or nothing.
				err := q.Enqueue(ctx, jobOn("a", fmt.Sprint(w, "-", i)), jobOn("b", fmt.Sprint(w, "-", i)))
				if err == nil {
					accepted.Add(2)
				} else if !assert.ErrorIs(t, err, notify.ErrQueueFull) {
					return
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, max, accepted.Load())
	assert.Equal(t, max, live(t, q, "a", "b"))
	sa, sb := live(t, q, "a"), live(t, q, "b")
	assert.Equal(t, sa, sb, "no call was half added")
}

// TestMaxJobsDefault: the zero Config bounds the queue at DefaultMaxJobs;
// a negative MaxJobs sets no bound.
func TestMaxJobsDefault(t *testing.T) {
	ctx := context.Background()
	jobs := make([]notify.Job, memory.DefaultMaxJobs+1)
	d := &notify.Delivery{}
	for i := range jobs {
		jobs[i] = notify.Job{ID: fmt.Sprint(i), Queue: "q", Delivery: d}
	}

	q := memory.New(memory.Config{})
	defer q.Close()
	err := q.Enqueue(ctx, jobs...)
	require.ErrorIs(t, err, notify.ErrQueueFull)
	assert.Contains(t, err.Error(), "retry later")
	assert.Zero(t, live(t, q, "q"))
	require.NoError(t, q.Enqueue(ctx, jobs[1:]...), "DefaultMaxJobs fit")

	unbounded := memory.New(memory.Config{MaxJobs: -1})
	defer unbounded.Close()
	require.NoError(t, unbounded.Enqueue(ctx, jobs...))
}
