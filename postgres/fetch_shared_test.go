package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// endsAfter is a context whose Err is nil for its first n calls and
// context.Canceled after: a caller whose context ends while its combined
// fetch runs.
type endsAfter struct {
	context.Context
	n atomic.Int32
}

func (c *endsAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// queueWithJobs returns the Queue of a fresh schema holding n jobs on queue
// "push", IDs fmt.Sprintf(format, i).
func queueWithJobs(t *testing.T, n int, format string) *Queue {
	t.Helper()
	ctx := t.Context()
	pool, schema := internalTestDB(t)
	pg, err := New(pool, Config{Schema: schema, Visibility: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	require.NoError(t, pg.Migrate(ctx))
	jobs := make([]notify.Job, n)
	for i := range jobs {
		id := fmt.Sprintf(format, i)
		jobs[i] = notify.Job{Queue: "push", ID: id, Delivery: &notify.Delivery{ID: id}}
	}
	require.NoError(t, pg.Queue().Enqueue(ctx, jobs...))
	return pg.Queue()
}

// One combined fetch leases the jobs of every caller in it, deals them out
// in order up to each one's limit, and gives back at once the share of a
// caller whose context ended while it ran.
func TestRunFetchesDealsOut(t *testing.T) {
	ctx := t.Context()
	q := queueWithJobs(t, 10, "j%02d")

	ended := &endsAfter{Context: ctx}
	ended.n.Store(1) // alive when the fetch is sized, ended when dealt
	reqs := []*receiveReq{{ctx: ctx, limit: 3}, {ctx: ended, limit: 2}, {ctx: ctx, limit: 4}}
	require.NoError(t, q.core.runFetches(ctx, "push", reqs))
	require.Len(t, reqs[0].leases, 3)
	require.Empty(t, reqs[1].leases, "its context ended")
	require.Len(t, reqs[2].leases, 4)
	seen := map[string]bool{}
	for _, r := range reqs {
		for _, l := range r.leases {
			require.False(t, seen[l.Job.ID], "each job once")
			seen[l.Job.ID] = true
			_, err := q.Extend(ctx, l, time.Hour)
			require.NoError(t, err, "job %s: every lease dealt out is held", l.Job.ID)
		}
	}
	// The ended caller's 2 are ready again at once (released in the
	// background), with the 1 not fetched.
	again := receiveReleased(t, q, 3, 7)
	require.NoError(t, q.Ack(ctx, again[1:]...))

	require.NoError(t, q.Nack(ctx, again[0], 0))
	require.NoError(t, q.Enqueue(ctx, notify.Job{Queue: "push", ID: "k", Delivery: &notify.Delivery{ID: "k"}}))
	gone, cancel := context.WithCancel(ctx)
	cancel()
	reqs = []*receiveReq{{ctx: gone, limit: 5}, {ctx: ctx, limit: 1}}
	require.NoError(t, q.core.runFetches(ctx, "push", reqs))
	require.Empty(t, reqs[0].leases)
	require.Len(t, reqs[1].leases, 1, "a caller gone before the fetch takes no share of it")
	st, err := q.Stats(ctx, "push")
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 8}, [2]int{st.Ready, st.InFlight}, "and nothing is leased for it")
}

// A fetch whose only caller gives up while it waits in the database runs
// on, and releases what it leased at once, the attempts not counted.
func TestFetchForAGoneCallerReleases(t *testing.T) {
	ctx := t.Context()
	q := queueWithJobs(t, 5, "j%d")
	lock, err := q.core.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(context.Background()) }()
	_, err = lock.Exec(ctx, "LOCK TABLE "+pgx.Identifier{q.core.cfg.Schema, "queue_jobs"}.Sanitize()+" IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = q.Receive(rctx, "push", 5)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, lock.Rollback(ctx))
	receiveReleased(t, q, 5, 0)
}

// receiveReleased waits until queue "push" of q has ready jobs ready and
// inFlight leased, then receives the ready ones and checks that their
// leases are their first attempt: a lease fetched for nobody and released
// is not an attempt.
func receiveReleased(t *testing.T, q *Queue, ready, inFlight int) []notify.Lease {
	t.Helper()
	ctx := t.Context()
	require.Eventually(t, func() bool {
		st, err := q.Stats(ctx, "push")
		return err == nil && st.Ready == ready && st.InFlight == inFlight
	}, 5*time.Second, 10*time.Millisecond, "%d jobs ready and %d leased", ready, inFlight)
	got, err := q.Receive(ctx, "push", ready)
	require.NoError(t, err)
	require.Len(t, got, ready)
	for _, l := range got {
		require.Equal(t, 1, l.Attempt, "job %s: a lease fetched for nobody is not an attempt", l.Job.ID)
	}
	return got
}

// Concurrent Receives of one queue each get their own jobs, none twice,
// and together all of them.
func TestConcurrentReceivesShareFetches(t *testing.T) {
	const n = 2000
	q := queueWithJobs(t, n, "j%05d")
	var mu sync.Mutex
	got := map[string]int{}
	rctx, cancel := context.WithCancel(t.Context()) // when every job is in
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				ls, err := q.Receive(rctx, "push", 7)
				if err != nil {
					return
				}
				if len(ls) > 7 {
					t.Errorf("%d leases for a limit of 7", len(ls))
				}
				mu.Lock()
				for _, l := range ls {
					got[l.Job.ID]++
				}
				if len(got) == n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, got, n)
	for id, c := range got {
		require.Equal(t, 1, c, "job %s", id)
	}
}

// A leased job whose delivery cannot be decoded is buried, with the
// reason, and the fetch goes on with the others: it would otherwise fail
// every fetch it came back in.
func TestUnreadableJobIsBuried(t *testing.T) {
	ctx := t.Context()
	q := queueWithJobs(t, 2, "j%d")
	_, err := q.core.pool.Exec(ctx, `INSERT INTO `+pgx.Identifier{q.core.cfg.Schema, "queue_jobs"}.Sanitize()+
		` (queue, id, run_at, delivery) VALUES ('push', 'bad', now() - interval '1 second', '{"id": 5}')`)
	require.NoError(t, err)
	got, err := q.Receive(ctx, "push", 10)
	require.NoError(t, err)
	ids := []string{}
	for _, l := range got {
		ids = append(ids, l.Job.ID)
	}
	require.ElementsMatch(t, []string{"j0", "j1"}, ids)
	dead, err := q.Dead(ctx, notify.DeadQuery{Queue: "push"})
	require.NoError(t, err)
	require.Len(t, dead.Jobs, 1)
	require.Equal(t, "bad", dead.Jobs[0].Job.ID)
	require.Contains(t, dead.Jobs[0].Reason, "unreadable delivery")
	require.Nil(t, dead.Jobs[0].Job.Delivery, "listed without its delivery")
}
