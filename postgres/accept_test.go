package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
	smem "github.com/gonotify/notify/store/memory"
)

// sendUntilDone sends n until Send succeeds, as the contract asks of a
// caller: the same notification, the same EventID, whatever the error.
func sendUntilDone(ctx context.Context, d *notify.Dispatcher, n notify.Notification) (notify.Receipt, int, error) {
	tries := 0
	for {
		tries++
		r, err := d.Send(ctx, n)
		if err == nil {
			return r, tries, nil
		}
		if ctx.Err() != nil {
			return r, tries, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		time.Sleep(time.Duration(tries%10) * 5 * time.Millisecond)
	}
}

// sendAll sends events ev-0 … ev-(events-1) from 32 goroutines, each until
// it succeeds, and calls done with each receipt.
func sendAll(ctx context.Context, t *testing.T, d *notify.Dispatcher, events int, done func(id string, r notify.Receipt, tries int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= events {
					return
				}
				id := "ev-" + strconv.Itoa(i)
				r, tries, err := sendUntilDone(ctx, d, note("count", id, id))
				if err != nil {
					if t != nil {
						t.Errorf("send %s: %v", id, err)
					}
					return
				}
				if done != nil {
					done(id, r, tries)
				}
			}
		})
	}
	wg.Wait()
}

// jobsPerEvent counts the queued jobs (no worker runs) and the logged
// notifications of each event ID.
func jobsPerEvent(t *testing.T, pool *pgxpool.Pool, schema string) (jobs, notes map[string]int) {
	t.Helper()
	jobs, notes = map[string]int{}, map[string]int{}
	rows, err := pool.Query(t.Context(), `SELECT delivery->>'event_id', count(*) FROM `+schema+`.queue_jobs GROUP BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		jobs[id] = n
	}
	require.NoError(t, rows.Err())
	// note() addresses each notification to its event ID.
	rows, err = pool.Query(t.Context(), `SELECT address, count(DISTINCT notification_id) FROM `+schema+`.log_events WHERE status = 'queued' GROUP BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var n int
		require.NoError(t, rows.Scan(&id, &n))
		notes[id] = n
	}
	require.NoError(t, rows.Err())
	return jobs, notes
}

func assertOncePerEvent(t *testing.T, pool *pgxpool.Pool, schema string, events int) {
	t.Helper()
	jobs, notes := jobsPerEvent(t, pool, schema)
	lost, doubled := 0, 0
	for i := range events {
		id := "ev-" + strconv.Itoa(i)
		switch {
		case jobs[id] == 0:
			lost++
		case jobs[id] > 1 || notes[id] > 1:
			doubled++
		}
	}
	t.Logf("%d events: %d lost, %d queued twice", events, lost, doubled)
	assert.Zero(t, lost, "events accepted but never queued")
	assert.Zero(t, doubled, "events queued twice")
}

// lostReplyQueue commits Accept and then reports a lost reply.
type lostReplyQueue struct {
	*postgres.Queue
	lose atomic.Int32
}

func (q *lostReplyQueue) Accept(ctx context.Context, log notify.EventLog, dd notify.Deduper, items []notify.AcceptItem) ([]notify.ClaimResult, error) {
	res, err := q.Queue.Accept(ctx, log, dd, items)
	if err == nil && len(items) > 0 && q.lose.Add(-1) >= 0 {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return res, err
}

func TestSendLostCommitReplyIsNotDoubled(t *testing.T) {
	pool, schema := testDB(t)
	b := newBackends(t, pool, schema, time.Minute)
	q := &lostReplyQueue{Queue: b.queue}
	q.lose.Store(1)
	d, err := notify.New(notify.Config{Queue: q, Store: b.store, Deduper: b.deduper,
		Channels: []notify.Channel{newCountChannel("count", nil)}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)

	_, err = d.Send(t.Context(), note("count", "ev-0", "ev-0"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, notify.ErrNotQueued)
	r, err := d.Send(t.Context(), note("count", "ev-0", "ev-0"))
	require.NoError(t, err)
	assert.True(t, r.Duplicate, "the retry finds the committed original")
	assert.Len(t, r.Deliveries, 1)
	assertOncePerEvent(t, pool, schema, 1)
}

func TestAccepter(t *testing.T) {
	notifytest.TestAccepter(t, func(t *testing.T) notifytest.AcceptBackends {
		pool, schema := testDB(t)
		b := newBackends(t, pool, schema, time.Minute)
		return notifytest.AcceptBackends{Queue: b.queue, EventLog: b.store, Deduper: b.deduper, Foreign: smem.New(smem.Config{})}
	})
}

// killer terminates the connections whose application_name is app every
// period until stopped, and counts them.
func killer(t *testing.T, admin *pgxpool.Pool, app string, period time.Duration) (stop func() int) {
	ctx, cancel := context.WithCancel(context.Background())
	var killed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var n int64
			if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err == nil {
				killed.Add(n)
			}
		}
	})
	return func() int { cancel(); wg.Wait(); return int(killed.Load()) }
}

func appPool(t *testing.T, app string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL"))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestSendUnderConnectionKillsLosesAndDoublesNothing(t *testing.T) {
	admin, schema := testDB(t)
	app := "notify_accept_" + schema
	pool := appPool(t, app)
	b := newBackends(t, pool, schema, time.Minute)
	d := b.dispatcher(t, newCountChannel("count", nil), 1, nil)
	events := sizeFor(t, 10000, 2000)
	stop := killer(t, admin, app, 250*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var retries atomic.Int64
	sendAll(ctx, t, d, events, func(_ string, _ notify.Receipt, tries int) { retries.Add(int64(tries - 1)) })
	killed := stop()
	t.Logf("%d connections killed, %d retried Sends", killed, retries.Load())
	assert.Positive(t, killed, "the fault was injected")
	assertOncePerEvent(t, admin, schema, events)
}

const (
	envSender       = "NOTIFY_PG_SENDER"
	envSenderEvents = "NOTIFY_PG_SENDER_EVENTS"
)

// TestHelperSender is the process that TestSendSIGKILL kills: 32
// goroutines sending events until it dies.
func TestHelperSender(t *testing.T) {
	if os.Getenv(envSender) != "1" {
		t.Skip("a sending process for TestSendSIGKILL; not a test by itself")
	}
	pool, err := pgxpool.New(t.Context(), os.Getenv("NOTIFY_TEST_POSTGRES_URL"))
	require.NoError(t, err)
	b := newBackends(t, pool, os.Getenv(envSchema), time.Minute)
	d := b.dispatcher(t, newCountChannel("count", nil), 1, nil)
	events, err := strconv.Atoi(os.Getenv(envSenderEvents))
	require.NoError(t, err)
	sendAll(t.Context(), nil, d, events, nil)
}

func TestSendSIGKILLThenRetryLosesAndDoublesNothing(t *testing.T) {
	pool, schema := testDB(t)
	events := sizeFor(t, 3000, 1000)
	for round := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSender$", "-test.count=1")
		cmd.Env = append(os.Environ(), envSender+"=1", envSchema+"="+schema, envSenderEvents+"="+strconv.Itoa(events))
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		// Kill it mid-flight: once some, not all, events are queued.
		eventually(t, time.Minute, func() bool {
			var n int
			_ = pool.QueryRow(t.Context(), `SELECT count(*) FROM `+schema+`.queue_jobs`).Scan(&n)
			return n >= (round+1)*events/4
		}, "the sender queued nothing")
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	// The caller's retry: every event again, until each Send succeeds.
	b := newBackends(t, pool, schema, time.Minute)
	d := b.dispatcher(t, newCountChannel("count", nil), 1, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var dups atomic.Int64
	sendAll(ctx, t, d, events, func(id string, r notify.Receipt, _ int) {
		if r.Duplicate {
			dups.Add(1)
			if len(r.Deliveries) != 1 {
				t.Errorf("%s: a duplicate receipt without its delivery: %+v", id, r)
			}
		}
	})
	t.Logf("after 2 SIGKILLs, %d of %d events had been queued by the killed senders", dups.Load(), events)
	assertOncePerEvent(t, pool, schema, events)
}
