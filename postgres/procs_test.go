package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
)

// The multi-process tests re-execute the test binary as worker processes:
// TestHelperProcess runs a Dispatcher on the schema named in the
// environment until SIGTERM, appending every delivered ID to a file.
const (
	envHelper     = "NOTIFY_PG_HELPER"
	envSchema     = "NOTIFY_PG_HELPER_SCHEMA"
	envOut        = "NOTIFY_PG_HELPER_OUT"
	envVisibility = "NOTIFY_PG_HELPER_VISIBILITY"
	envWorkers    = "NOTIFY_PG_HELPER_WORKERS"
	envLatency    = "NOTIFY_PG_HELPER_LATENCY"
	channelName   = "count"
)

func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("a worker process for the multi-process tests; not a test by itself")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	pool, err := pgxpool.New(ctx, os.Getenv("NOTIFY_TEST_POSTGRES_URL"))
	require.NoError(t, err)
	defer pool.Close()
	vis, err := time.ParseDuration(os.Getenv(envVisibility))
	require.NoError(t, err)
	workers, err := strconv.Atoi(os.Getenv(envWorkers))
	require.NoError(t, err)
	out, err := os.OpenFile(os.Getenv(envOut), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer out.Close()
	b := newBackends(t, pool, os.Getenv(envSchema), vis)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ch := newCountChannel(channelName, out)
	if l := os.Getenv(envLatency); l != "" {
		ch.latency, err = time.ParseDuration(l)
		require.NoError(t, err)
	}
	d := b.dispatcher(t, ch, workers, logger)
	require.NoError(t, d.Run(ctx))
}

// worker is a TestHelperProcess running in another OS process.
type worker struct {
	cmd  *exec.Cmd
	out  string
	logs *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWorker(t *testing.T, schema, name string, visibility time.Duration, workers int, env ...string) *worker {
	t.Helper()
	w := &worker{out: filepath.Join(t.TempDir(), name+".ids"), logs: &syncBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
	w.cmd.Env = append(os.Environ(), envHelper+"=1", envSchema+"="+schema, envOut+"="+w.out,
		envVisibility+"="+visibility.String(), envWorkers+"="+strconv.Itoa(workers))
	w.cmd.Env = append(w.cmd.Env, env...)
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	require.NoError(t, w.cmd.Start(), "start worker process %s", name)
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker %s output:\n%s", name, w.logs.String())
		}
	})
	return w
}

// stop sends SIGTERM and waits for the worker to finish its in-flight sends.
func (w *worker) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not stop within 30s of SIGTERM")
	}
}

// ids reads how many times the worker sent each delivery ID.
func (w *worker) ids(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(w.out)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	require.NoError(t, err)
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := sc.Text(); id != "" {
			out[id]++
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func (w *worker) sent(t *testing.T) int {
	n := 0
	for _, c := range w.ids(t) {
		n += c
	}
	return n
}

// enqueue sends n notifications through a Dispatcher that does not Run and
// returns their delivery IDs.
func enqueue(t *testing.T, b backends, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d := b.dispatcher(t, newCountChannel(channelName, nil), 1, nil)
	ids := make([]string, 0, n)
	const batch = 500
	for i := 0; i < n; i += batch {
		ns := make([]notify.Notification, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			ns = append(ns, note(channelName, "", fmt.Sprintf("addr-%d", j)))
		}
		rs, err := d.SendBatch(ctx, ns)
		require.NoError(t, err)
		for _, r := range rs {
			require.Len(t, r.Deliveries, 1)
			ids = append(ids, r.Deliveries[0].ID)
		}
	}
	return ids
}

// drained waits until the queue holds nothing: every job acked.
func drained(t *testing.T, b backends, queue string, within time.Duration) {
	t.Helper()
	eventually(t, within, func() bool {
		st, err := b.queue.Stats(context.Background(), queue)
		return err == nil && st.Ready+st.Delayed+st.InFlight+st.Dead == 0
	}, "queue %s not drained within %v", queue, within)
}

func sizeFor(t *testing.T, full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// Two Dispatchers in two OS processes on one database deliver every
// notification exactly once.
func TestTwoProcessesDeliverExactlyOnce(t *testing.T) {
	pool, schema := testDB(t)
	n := sizeFor(t, 20000, 2000)
	b := newBackends(t, pool, schema, 30*time.Second)
	w1 := startWorker(t, schema, "w1", 30*time.Second, 8)
	w2 := startWorker(t, schema, "w2", 30*time.Second, 8)
	start := time.Now()
	ids := enqueue(t, b, n)
	enqueued := time.Since(start)

	eventually(t, 5*time.Minute, func() bool { return w1.sent(t)+w2.sent(t) >= n },
		"the two workers did not deliver %d notifications in time", n)
	drained(t, b, "notify."+channelName, time.Minute)
	elapsed := time.Since(start)
	w1.stop(t)
	w2.stop(t)

	c1, c2 := w1.ids(t), w2.ids(t)
	for _, id := range ids {
		assert.Equal(t, 1, c1[id]+c2[id], "delivery %s sent %d times by w1 and %d by w2", id, c1[id], c2[id])
	}
	assert.Equal(t, n, len(c1)+len(c2), "deliveries sent")
	assert.NotZero(t, len(c1), "worker 1 delivered nothing: the test did not exercise two processes")
	assert.NotZero(t, len(c2), "worker 2 delivered nothing: the test did not exercise two processes")
	var sent int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT count(DISTINCT delivery_id) FROM "+schema+".log_events WHERE status = 'sent'").Scan(&sent))
	assert.Equal(t, n, sent, "deliveries logged as sent")
	t.Logf("%d notifications: enqueued in %v, all delivered in %v (w1 %d, w2 %d)",
		n, enqueued.Round(time.Millisecond), elapsed.Round(time.Millisecond), len(c1), len(c2))
}

// A worker killed with SIGKILL mid-run: after its leases expire another
// process delivers the rest. Nothing is lost; a duplicate can only be a
// send that was in flight at the kill.
func TestWorkerKilledMidRun(t *testing.T) {
	pool, schema := testDB(t)
	const workers = 8
	visibility := 2 * time.Second
	n := sizeFor(t, 4000, 1000)
	b := newBackends(t, pool, schema, visibility)
	ids := enqueue(t, b, n)

	// Each send takes 20ms after the provider has it, so sends are in
	// flight when the kill comes.
	a := startWorker(t, schema, "a", visibility, workers, envLatency+"=20ms")
	eventually(t, time.Minute, func() bool { return a.sent(t) >= n/5 }, "worker a delivered too little")
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	<-a.done
	killedAfter := a.sent(t)
	require.Less(t, killedAfter, n, "worker a finished before it was killed; nothing to test")

	bw := startWorker(t, schema, "b", visibility, workers)
	drained(t, b, "notify."+channelName, 2*time.Minute)
	bw.stop(t)

	ca, cb := a.ids(t), bw.ids(t)
	dups := 0
	for _, id := range ids {
		total := ca[id] + cb[id]
		require.NotZero(t, total, "delivery %s was lost", id)
		assert.LessOrEqual(t, ca[id], 1, "worker a sent %s twice", id)
		assert.LessOrEqual(t, cb[id], 1, "worker b sent %s twice", id)
		if total > 1 {
			dups++
		}
	}
	assert.LessOrEqual(t, dups, workers, "more duplicates than sends that can be in flight at a kill")
	t.Logf("%d notifications: a sent %d before SIGKILL, b sent %d; %d duplicate(s) (in flight at the kill)",
		n, killedAfter, len(cb), dups)
}

// PostgreSQL restarted (pg_ctl restart) in the middle of a run: the
// Dispatcher reconnects and finishes; nothing is lost.
func TestPostgresRestartMidRun(t *testing.T) {
	pgctl := testenv.Need(t, "NOTIFY_TEST_POSTGRES_PGCTL", "pg_ctl of the test cluster (scripts/services/postgres.sh sets it)")
	data := testenv.Need(t, "NOTIFY_TEST_POSTGRES_DATA", "the data directory of the test cluster (scripts/services/postgres.sh sets it)")
	pool, schema := testDB(t)
	const workers = 8
	visibility := 2 * time.Second
	n := sizeFor(t, 4000, 1000)
	b := newBackends(t, pool, schema, visibility)
	ids := enqueue(t, b, n)

	ch := newCountChannel(channelName, nil)
	ch.latency = 10 * time.Millisecond // at most 800/s: the restart comes mid-run
	d := b.dispatcher(t, ch, workers, nil)
	runDispatcher(t, d)
	eventually(t, time.Minute, func() bool { return ch.total() >= n/5 }, "too little delivered before the restart")

	cmd := exec.Command("runuser", "-u", "postgres", "--", pgctl, "-D", data, "-m", "fast", "-w", "-t", "60", "restart")
	if os.Getuid() != 0 {
		cmd = exec.Command(pgctl, "-D", data, "-m", "fast", "-w", "-t", "60", "restart")
	}
	// A file, not a pipe: the restarted server inherits it and keeps it open.
	logf, err := os.Create(filepath.Join(t.TempDir(), "pg_ctl.log"))
	require.NoError(t, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Run()
	if err != nil {
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("pg_ctl restart: %v: %s", err, out)
	}
	atRestart := ch.total()
	require.Less(t, atRestart, n, "everything was delivered before the restart; nothing to test")

	drained(t, b, d.QueueName(channelName), 2*time.Minute)
	dups := 0
	for _, id := range ids {
		c := ch.count(id)
		require.NotZero(t, c, "delivery %s was lost", id)
		if c > 1 {
			dups++
		}
	}
	assert.LessOrEqual(t, dups, workers, "more duplicates than sends that can be in flight at the restart")
	t.Logf("%d notifications: %d sent before the restart; %d duplicate(s)", n, atRestart, dups)
}
