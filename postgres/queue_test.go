package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestQueue(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		return newPG(t, pool, postgres.Config{Schema: schema, Visibility: cfg.Visibility}).Queue()
	}, notifytest.QueueFeatures{EventLog: func(t *testing.T) notify.EventLog {
		return newPG(t, pool, postgres.Config{Schema: schema}).Store()
	}})
}

// Two Queues enqueueing the same job IDs in opposite orders at once must
// not deadlock: each statement inserts its rows in (queue, ID) order, so
// one waits for the other instead of both waiting for each other.
func TestEnqueueSameIDsOppositeOrders(t *testing.T) {
	pool, schema := testDB(t)
	queues := make([]*postgres.Queue, 2)
	for i := range queues {
		queues[i] = newPG(t, pool, postgres.Config{Schema: schema}).Queue()
	}
	for round := range 20 {
		jobs := make([]notify.Job, 100)
		for i := range jobs {
			id := fmt.Sprintf("r%02d-j%03d", round, i)
			jobs[i] = notify.Job{Queue: "q", ID: id, Delivery: &notify.Delivery{ID: id, Channel: "sms", Address: "+15005550006"}}
		}
		reversed := slices.Clone(jobs)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, js := range [][]notify.Job{jobs, reversed} {
			wg.Go(func() { errs[i] = queues[i].Enqueue(t.Context(), js...) })
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...), "round %d", round)
	}
	st, err := queues[0].Stats(t.Context(), "q")
	require.NoError(t, err)
	require.Equal(t, 20*100, st.Ready, "each job once")
}

func TestQueueGauges(t *testing.T) {
	pool, schema := testDB(t)
	pg := newPG(t, pool, postgres.Config{Schema: schema})
	notifytest.TestQueueGauges(t, pg.Queue(), pg.Store())
}

// A job whose lease expired is older than the jobs fetched since, which
// a fetch skips (it starts where the last found its oldest job): it comes
// back within the full scan's period even while the queue stays busy.
func TestExpiredLeaseBehindHint(t *testing.T) {
	pool, schema := testDB(t)
	q := newPG(t, pool, postgres.Config{Schema: schema, Visibility: 300 * time.Millisecond}).Queue()
	ctx := t.Context()
	var jobs []notify.Job
	for i := range 200 {
		id := fmt.Sprintf("j%03d", i)
		jobs = append(jobs, notify.Job{Queue: "q", ID: id, Delivery: &notify.Delivery{ID: id, Channel: "sms", Address: "+15005550006"}})
	}
	for _, j := range jobs { // one statement each: increasing run_at
		require.NoError(t, q.Enqueue(ctx, j))
	}
	first, err := q.Receive(ctx, "q", 1)
	require.NoError(t, err)
	require.Equal(t, "j000", first[0].Job.ID)
	// 200 jobs at one per 20 ms keep the queue busy for longer than this.
	deadline := time.Now().Add(300*time.Millisecond + time.Second + 1200*time.Millisecond)
	for time.Now().Before(deadline) {
		ls, err := q.Receive(ctx, "q", 1)
		require.NoError(t, err)
		if ls[0].Job.ID == "j000" {
			require.Equal(t, 2, ls[0].Attempt, "received again after its lease expired")
			return
		}
		require.NoError(t, q.Ack(ctx, ls...))
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the job whose lease expired was not received again")
}

// An Enqueue naming jobs already on their queue adds the new ones and
// leaves the others as they are (their delivery, attempts and lease),
// whether it runs on its own (where the insert that fails on a known ID
// runs first) or in a transaction bound by Backend.Tx.
func TestEnqueueKnownIDs(t *testing.T) {
	pool, schema := testDB(t)
	pg := newPG(t, pool, postgres.Config{Schema: schema})
	q := pg.Queue()
	ctx := t.Context()
	job := func(id, address string) notify.Job {
		return notify.Job{Queue: "q", ID: id, Delivery: &notify.Delivery{ID: id, Channel: "sms", Address: address}}
	}
	require.NoError(t, q.Enqueue(ctx, job("a", "+15005550001")))
	leased, err := q.Receive(ctx, "q", 1)
	require.NoError(t, err)
	require.Len(t, leased, 1)

	// On its own: "b" is added, "a" stays leased with its first delivery.
	require.NoError(t, q.Enqueue(ctx, job("b", "+15005550002"), job("a", "+15005550009")))
	// In a transaction: "c" is added, "a" and "b" stay.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	ab, err := pg.Tx(tx).Bind(notify.AcceptBackends{Queue: q, EventLog: pg.Store()})
	require.NoError(t, err)
	require.NoError(t, ab.Queue.Enqueue(ctx, job("a", "+15005550009"), job("c", "+15005550003"), job("b", "+15005550009")))
	require.NoError(t, tx.Commit(ctx))

	got, err := q.Receive(ctx, "q", 10)
	require.NoError(t, err)
	addresses := map[string]string{}
	for _, l := range got {
		addresses[l.Job.ID] = l.Job.Delivery.Address
	}
	require.Equal(t, map[string]string{"b": "+15005550002", "c": "+15005550003"}, addresses, "the new jobs, each once, as first enqueued")
	require.NoError(t, q.Ack(ctx, leased...), "a's lease is still held")
}
