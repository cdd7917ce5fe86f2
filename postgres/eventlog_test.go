package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// foreignLog is an EventLog the Queue cannot write to; it counts what reaches it.
type foreignLog struct {
	mu     sync.Mutex
	events []notify.Event
}

func (l *foreignLog) Record(_ context.Context, events ...notify.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, events...)
	return nil
}

func (l *foreignLog) State(context.Context, string) (notify.DeliveryState, error) {
	return notify.DeliveryState{}, notify.ErrNotFound
}

func (l *foreignLog) Delivery(context.Context, string) (notify.DeliveryRecord, error) {
	return notify.DeliveryRecord{}, notify.ErrNotFound
}

func (l *foreignLog) Deliveries(context.Context, string) ([]notify.DeliveryRecord, error) {
	return nil, notify.ErrNotFound
}

func logEvent(id string, st notify.Status) notify.Event {
	return notify.Event{DeliveryID: id, NotificationID: "n-" + id, Channel: "push", Status: st, At: time.Now()}
}

func logJob(queue, id string) notify.Job {
	return notify.Job{Queue: queue, ID: id, Delivery: &notify.Delivery{ID: id, NotificationID: "n-" + id, Channel: "push"}}
}

func statuses(t *testing.T, s *postgres.Store, id string) []notify.Status {
	t.Helper()
	ds, err := s.Delivery(context.Background(), id)
	if errors.Is(err, notify.ErrNotFound) {
		return nil
	}
	require.NoError(t, err)
	var out []notify.Status
	for _, e := range ds.Events {
		out = append(out, e.Status)
	}
	return out
}

func TestEnqueueLogged(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A poll interval far beyond the test's wait: only NOTIFY wakes the
	// receiver in time.
	pg := newPG(t, pool, postgres.Config{Schema: schema, Visibility: 30 * time.Second, PollInterval: time.Minute})
	q, s := pg.Queue(), pg.Store()

	got := make(chan []notify.Lease, 1)
	go func() {
		ls, err := q.Receive(ctx, "push", 10)
		assert.NoError(t, err)
		got <- ls
	}()
	time.Sleep(200 * time.Millisecond) // let the receiver find nothing and wait
	require.NoError(t, q.EnqueueLogged(ctx, s, []notify.Event{logEvent("d1", notify.StatusQueued)}, []notify.Job{logJob("push", "d1")}))
	var leases []notify.Lease
	select {
	case leases = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting receiver was not woken by NOTIFY")
	}
	require.Len(t, leases, 1)
	assert.Equal(t, "d1", leases[0].Job.ID)
	assert.Equal(t, []notify.Status{notify.StatusQueued}, statuses(t, s, "d1"))

	// Record and ack: the event is recorded and the job is gone.
	require.NoError(t, q.AckLogged(ctx, s, leases[0], logEvent("d1", notify.StatusSent)))
	assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusSent}, statuses(t, s, "d1"))
	st, err := q.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st, "the acked job is still on the queue")
}

// A statement that fails writes nothing: neither the events nor the jobs.
func TestEnqueueLoggedAtomic(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)

	// PostgreSQL text cannot hold a NUL byte: the events insert fails.
	bad := logEvent("d1", notify.StatusQueued)
	bad.Reason = "nul\x00byte"
	err := b.queue.EnqueueLogged(ctx, b.store, []notify.Event{logEvent("d0", notify.StatusQueued), bad},
		[]notify.Job{logJob("push", "d0"), logJob("push", "d1")})
	require.Error(t, err)
	assert.NotErrorIs(t, err, errors.ErrUnsupported)
	st, err := b.queue.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st, "a failed events insert left jobs behind")
	assert.Empty(t, statuses(t, b.store, "d0"), "a failed statement left events behind")

	// The jobs insert fails (a NUL in the queue name): no events either.
	err = b.queue.EnqueueLogged(ctx, b.store, []notify.Event{logEvent("d2", notify.StatusQueued)},
		[]notify.Job{logJob("push", "d2"), logJob("pu\x00sh", "d3")})
	require.Error(t, err)
	assert.Empty(t, statuses(t, b.store, "d2"), "a failed jobs insert left events behind")
	st, err = b.queue.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st)
}

func TestAckLoggedLostLease(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, time.Second)
	require.NoError(t, b.queue.EnqueueLogged(ctx, b.store, []notify.Event{logEvent("d1", notify.StatusQueued)}, []notify.Job{logJob("push", "d1")}))
	first, err := b.queue.Receive(ctx, "push", 1)
	require.NoError(t, err)
	require.Len(t, first, 1)
	time.Sleep(1100 * time.Millisecond) // the lease expires
	second, err := b.queue.Receive(ctx, "push", 1)
	require.NoError(t, err)
	require.Len(t, second, 1)
	require.NotEqual(t, first[0].Handle, second[0].Handle)

	// The expired lease: the event is recorded, the job stays with its
	// new holder, and the caller hears ErrLeaseLost.
	err = b.queue.AckLogged(ctx, b.store, first[0], logEvent("d1", notify.StatusSent))
	require.ErrorIs(t, err, notify.ErrLeaseLost)
	assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusSent}, statuses(t, b.store, "d1"))
	st, err := b.queue.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, 1, st.InFlight, "a lost lease deleted the job from its new holder")

	// A receipt that is not one of ours: recorded, lease lost.
	forged := second[0]
	forged.Handle = "not-a-token"
	err = b.queue.AckLogged(ctx, b.store, forged, logEvent("d1", notify.StatusFailed))
	require.ErrorIs(t, err, notify.ErrLeaseLost)
	assert.Len(t, statuses(t, b.store, "d1"), 3)

	// The live lease acks.
	require.NoError(t, b.queue.AckLogged(ctx, b.store, second[0], logEvent("d1", notify.StatusSent)))
	st, err = b.queue.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st)
}

// An EventLog the Queue cannot write to gets ErrUnsupported, and nothing is
// written anywhere.
func TestLoggedUnsupported(t *testing.T) {
	pool, schema := testDB(t)
	_, otherSchema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)
	other := newPG(t, pool, postgres.Config{Schema: otherSchema}).Store()
	var nilStore *postgres.Store
	foreign := &foreignLog{}

	for name, log := range map[string]notify.EventLog{"foreign": foreign, "other schema": other, "nil store": nilStore, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			err := b.queue.EnqueueLogged(ctx, log, []notify.Event{logEvent("d1", notify.StatusQueued)}, []notify.Job{logJob("push", "d1")})
			require.ErrorIs(t, err, errors.ErrUnsupported)
			st, err := b.queue.Stats(ctx, "push")
			require.NoError(t, err)
			assert.Equal(t, notify.QueueStats{}, st, "EnqueueLogged enqueued for a log it cannot write")
		})
	}
	assert.Empty(t, statuses(t, b.store, "d1"))
	assert.Empty(t, statuses(t, other, "d1"))

	require.NoError(t, b.queue.Enqueue(ctx, logJob("push", "d1")))
	leases, err := b.queue.Receive(ctx, "push", 1)
	require.NoError(t, err)
	require.Len(t, leases, 1)
	for name, log := range map[string]notify.EventLog{"foreign": foreign, "other schema": other} {
		err := b.queue.AckLogged(ctx, log, leases[0], logEvent("d1", notify.StatusSent))
		require.ErrorIs(t, err, errors.ErrUnsupported, name)
		st, err := b.queue.Stats(ctx, "push")
		require.NoError(t, err)
		assert.Equal(t, 1, st.InFlight, "%s: AckLogged acked for a log it cannot write", name)
	}
	assert.Empty(t, foreign.events)
	assert.Empty(t, statuses(t, b.store, "d1"))
	assert.Empty(t, statuses(t, other, "d1"))
	// The lease is still good.
	require.NoError(t, b.queue.Ack(ctx, leases[0]))
}

// Many concurrent AckLogged calls (combined into few statements) each get
// their own answer: held leases ack, lost ones say so, every event lands.
func TestAckLoggedConcurrent(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)
	const n = 300
	var events []notify.Event
	var jobs []notify.Job
	for i := range n {
		id := fmt.Sprintf("d%03d", i)
		events = append(events, logEvent(id, notify.StatusQueued))
		jobs = append(jobs, logJob("push", id))
	}
	// Enqueue concurrently too, in tens.
	var wg sync.WaitGroup
	for i := 0; i < n; i += 10 {
		wg.Go(func() {
			assert.NoError(t, b.queue.EnqueueLogged(ctx, b.store, events[i:i+10], jobs[i:i+10]))
		})
	}
	wg.Wait()
	var leases []notify.Lease
	for len(leases) < n {
		ls, err := b.queue.Receive(ctx, "push", 100)
		require.NoError(t, err)
		leases = append(leases, ls...)
	}
	require.Len(t, leases, n)
	for i := range leases {
		if i%3 == 0 { // every third lease is lost: its receipt is stale
			leases[i].Handle = "0"
		}
	}
	// Ack through a second pool that counts statements, with a Queue and
	// Store of the same schema on it.
	var statements atomic.Int64
	cfg, err := pgxpool.ParseConfig(os.Getenv("NOTIFY_TEST_POSTGRES_URL"))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = countQueries{&statements}
	counted, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(counted.Close)
	cpg := newPG(t, counted, postgres.Config{Schema: schema})
	cq, cs := cpg.Queue(), cpg.Store()
	for _, l := range leases {
		wg.Go(func() {
			err := cq.AckLogged(ctx, cs, l, logEvent(l.Job.ID, notify.StatusSent))
			if l.Handle == "0" {
				assert.ErrorIs(t, err, notify.ErrLeaseLost, l.Job.ID)
			} else {
				assert.NoError(t, err, l.Job.ID)
			}
		})
	}
	wg.Wait()
	assert.Less(t, statements.Load(), int64(n/2), "concurrent AckLogged calls were not combined")
	for _, l := range leases {
		assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusSent}, statuses(t, b.store, l.Job.ID), l.Job.ID)
	}
	st, err := b.queue.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, n/3, st.InFlight, "lost leases were acked, or held ones were not")
}

// countQueries is a pgx tracer that counts statements.
type countQueries struct{ n *atomic.Int64 }

func (c countQueries) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c countQueries) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
