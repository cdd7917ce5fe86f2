package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
)

// BenchmarkCompare runs, interleaved in one run (-count n repeats the whole
// set), notify and its peers on the same PostgreSQL:
//
//   - queue/notify: BenchmarkQueue/notify (enqueue in batches of 1,000;
//     4 receivers of 64 each acking their batch);
//   - queue/river-{64,256,1000}: BenchmarkQueue/river with MaxWorkers 64,
//     256 and 1,000 (River's best of the three is the peer);
//   - pipeline/notify: BenchmarkPipeline/concurrent (64 callers each
//     Sending one notification with an event ID; 64 workers);
//   - pipeline/river-unique: River doing the same job: 64 callers each
//     inserting one job with UniqueOpts{ByArgs} (River's dedup), a no-op
//     worker, MaxWorkers 64, completions persisted;
//   - pipeline/floor: the cheapest durable implementation with pgx alone:
//     64 callers each accepting with one statement (job row + log row, one
//     transaction); 4 deliverers each running one statement (DELETE ...
//     WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 64) RETURNING,
//     plus a log row per job, one transaction).
//
// With NOTIFY_BENCH_DELAY (a duration, e.g. 2ms) the pipeline
// benchmarks also run through a TCP proxy that delays every chunk by that
// much each way (pipeline/notify-delayed, pipeline/floor-delayed).
//
// The pipeline benchmarks' pools have appConns connections. Besides the
// rate, they report CPU seconds per 1,000 notifications (cpu-go: this
// process; cpu-pg: the PostgreSQL backends serving the benchmark's pool,
// from /proc, in clock ticks; the server's WAL writer and checkpointer
// are not counted) and table bytes per 1,000 notifications
// (pg_total_relation_size of the queue, log and dedup tables after the
// run, dead rows included, indexes and TOAST too: in all as table-B/1k and
// per table as <table>-B/1k).
func BenchmarkCompare(b *testing.B) {
	b.Run("queue/notify", benchNotifyQueue)
	for _, w := range []int{64, 256, 1000} {
		b.Run("queue/river-"+strconv.Itoa(w), func(b *testing.B) { benchRiverQueue(b, w) })
	}
	b.Run("pipeline/notify", func(b *testing.B) { benchPipelineCost(b, "") })
	b.Run("pipeline/river-unique", benchRiverUnique)
	b.Run("pipeline/floor", func(b *testing.B) { benchFloor(b, "") })
	if v := os.Getenv("NOTIFY_BENCH_DELAY"); v != "" {
		delay, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("NOTIFY_BENCH_DELAY: %v", err)
		}
		b.Run("pipeline/notify-delayed", func(b *testing.B) { benchPipelineCost(b, delayedURL(b, delay)) })
		b.Run("pipeline/floor-delayed", func(b *testing.B) { benchFloor(b, delayedURL(b, delay)) })
	}
}

// cost measures the CPU this process and the PostgreSQL backends of pool
// use between start and stop.
type cost struct {
	pool     *pgxpool.Pool
	goStart  time.Duration
	pgStart  map[int]time.Duration
	goSpent  time.Duration
	pgSpent  time.Duration
	measured bool
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU reads the CPU time of the backends serving the benchmark's
// connections (application_name is the benchmark's schema).
func backendCPU(pool *pgxpool.Pool, app string) map[int]time.Duration {
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // another machine's server
		}
		// Fields after the command (which may hold spaces): 14 utime, 15
		// stime, in clock ticks (USER_HZ, 100 on Linux).
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		out[int(pid)] = time.Duration(u+s) * time.Second / 100
	}
	return out
}

func (c *cost) start(app string) {
	c.goStart, c.pgStart = processCPU(), backendCPU(c.pool, app)
}

func (c *cost) stop(app string) {
	c.goSpent = processCPU() - c.goStart
	end := backendCPU(c.pool, app)
	for pid, t := range end {
		c.pgSpent += t - c.pgStart[pid]
	}
	c.measured = len(end) > 0
}

func (c *cost) report(b *testing.B, n int, tables ...string) {
	b.ReportMetric(c.goSpent.Seconds()*1000/float64(n), "cpu-go-s/1k")
	if c.measured {
		b.ReportMetric(c.pgSpent.Seconds()*1000/float64(n), "cpu-pg-s/1k")
	}
	var bytes int64
	for _, t := range tables {
		var size int64
		if err := c.pool.QueryRow(context.Background(), `SELECT pg_total_relation_size($1::regclass)`, t).Scan(&size); err == nil {
			bytes += size
			if len(tables) > 1 {
				b.ReportMetric(float64(size)*1000/float64(n), tableUnit(t))
			}
		}
	}
	if len(tables) > 0 {
		b.ReportMetric(float64(bytes)*1000/float64(n), "table-B/1k")
	}
}

// tableUnit names a table's bytes per 1,000 notifications in a benchmark
// metric: "log_events-B/1k" for `"schema"."log_events"`.
func tableUnit(t string) string {
	name := t[strings.LastIndexByte(t, '.')+1:]
	return strings.Trim(name, `"`) + "-B/1k"
}

// appConns is the size of the pools of the pipeline benchmarks: 64
// callers share it, whichever implementation they call (the server may be
// shared, with max_connections 100).
const appConns = 32

// setupApp is setup with the schema as the connections' application_name
// (so cost finds their backends) and appConns connections, connecting to
// url when set.
func setupApp(b *testing.B, url string) (*pgxpool.Pool, string) {
	b.Helper()
	pool, schema, _ := setup(b)
	cfg := pool.Config()
	if url != "" {
		c, err := pgxpool.ParseConfig(url)
		if err != nil {
			b.Fatal(err)
		}
		cfg.ConnConfig.Config = c.ConnConfig.Config
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = schema
	cfg.MaxConns = appConns
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p, schema
}

// benchPipelineCost is BenchmarkPipeline/concurrent with its cost, through
// url when set.
func benchPipelineCost(b *testing.B, url string) {
	pool, schema := setupApp(b, url)
	ctx := context.Background()
	pg := migrated(b, pool, schema)
	n := b.N
	ch := &noopChannel{want: int64(n), done: make(chan struct{})}
	cq := &countingQueue{Queue: pg.Queue()}
	d := pipelineDispatcher(b, cq, pg.Store(), pg.Deduper(), ch, workers)
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = d.Run(rctx); close(ran) }()
	defer func() { stop(); <-ran }()
	c := &cost{pool: pool}
	c.start(schema)
	b.ResetTimer()
	start := time.Now()
	runCallers(b, n, func(i int) error {
		_, err := d.Send(ctx, notify.Notification{
			EventID: fmt.Sprintf("order-%d-shipped", i),
			To:      []notify.Address{{Channel: "push", Value: fmt.Sprintf("device-token-%d", i)}},
			Content: &notify.Message{Title: "Order shipped", Body: fmt.Sprintf("Your order %d is on its way", i)},
		})
		return err
	})
	<-ch.done
	elapsed := time.Since(start)
	b.StopTimer()
	c.stop(schema)
	rate(b, n, elapsed)
	b.ReportMetric(float64(cq.jobs.Load())/float64(max(cq.receives.Load(), 1)), "jobs/receive")
	q := func(t string) string { return pgx.Identifier{schema, t}.Sanitize() }
	c.report(b, n, q("queue_jobs"), q("log_events"), q("dedup_claims"))
}

// runCallers calls call(i) for i in [0, n) from senders goroutines.
func runCallers(b *testing.B, n int, call func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := call(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchRiverUnique: River doing notify's job. 64 callers each insert one
// job with UniqueOpts{ByArgs} (River's dedup by the event's arguments);
// MaxWorkers 64 run a no-op worker; the clock stops at the b.N-th
// completion (completions are persisted).
func benchRiverUnique(b *testing.B) {
	pool, schema := setupApp(b, "")
	ctx := context.Background()
	c := newRiver(b, pool, schema, workers)
	n := b.N
	events, unsub := c.SubscribeConfig(&river.SubscribeConfig{Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: n + 1000})
	defer unsub()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
	}()
	cs := &cost{pool: pool}
	cs.start(schema)
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		for range n {
			<-events
		}
		close(done)
	}()
	runCallers(b, n, func(i int) error {
		_, err := c.Insert(ctx, noopArgs{Delivery: delivery(i)}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
		return err
	})
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	cs.stop(schema)
	rate(b, n, elapsed)
	cs.report(b, n, pgx.Identifier{schema, "river_job"}.Sanitize())
}

// benchFloor: the cheapest durable implementation of the pipeline's
// work with pgx: accept is one statement (a job row, unique by the
// event's ID, and a log row, in one transaction); deliver is one statement
// per batch (DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED
// LIMIT 64) RETURNING, and a log row per job, in one transaction).
func benchFloor(b *testing.B, url string) {
	pool, schema := setupApp(b, url)
	ctx := context.Background()
	s := pgx.Identifier{schema}.Sanitize()
	for _, stmt := range []string{
		`CREATE SCHEMA ` + s,
		`CREATE TABLE ` + s + `.jobs (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE, payload json NOT NULL)`,
		`CREATE TABLE ` + s + `.log (seq bigserial, delivery_id text NOT NULL, status text NOT NULL,
			at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (delivery_id, seq))`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	accept := `WITH j AS (INSERT INTO ` + s + `.jobs (id, payload) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id)
		INSERT INTO ` + s + `.log (delivery_id, status) SELECT id, 'queued' FROM j`
	deliver := `WITH d AS (DELETE FROM ` + s + `.jobs WHERE seq IN (
			SELECT seq FROM ` + s + `.jobs ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, payload)
		INSERT INTO ` + s + `.log (delivery_id, status) SELECT id, 'sent' FROM d RETURNING delivery_id`
	n := b.N
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = []byte(fmt.Sprintf(`{"delivery":{"id":"d-%09d","channel":"push","address":"device-token-%d","message":{"title":"Order shipped","body":"Your order %d is on its way"}}}`, i, i, i))
	}
	c := &cost{pool: pool}
	c.start(schema)
	b.ResetTimer()
	start := time.Now()
	var delivered atomic.Int64
	dctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range workers / fetchBatch * 4 {
		wg.Go(func() {
			for dctx.Err() == nil {
				rows, err := pool.Query(dctx, deliver, fetchBatch)
				if err != nil {
					return
				}
				ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					if dctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				if len(ids) == 0 {
					time.Sleep(time.Millisecond) // the floor polls; LISTEN would cost it more
					continue
				}
				if delivered.Add(int64(len(ids))) >= int64(n) {
					cancel()
				}
			}
		})
	}
	runCallers(b, n, func(i int) error {
		_, err := pool.Exec(ctx, accept, fmt.Sprintf("d-%09d", i), payloads[i])
		return err
	})
	wg.Wait()
	cancel()
	elapsed := time.Since(start)
	b.StopTimer()
	c.stop(schema)
	rate(b, n, elapsed)
	c.report(b, n, s+".jobs", s+".log")
}

// rate reports notifications/s.
func rate(b *testing.B, n int, elapsed time.Duration) {
	b.ReportMetric(float64(n)/elapsed.Seconds(), "notification/s")
	b.ReportMetric(0, "ns/op")
}

// delayedURL returns the test server's URL through a TCP proxy that
// delays every chunk by delay in each direction (so a round trip gains
// 2*delay), closed when the benchmark ends.
func delayedURL(b *testing.B, delay time.Duration) string {
	b.Helper()
	raw := testenv.Need(b, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		b.Fatalf("NOTIFY_BENCH_DELAY needs NOTIFY_TEST_POSTGRES_URL as a URL")
	}
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go pump(c, s, delay)
			go pump(s, c, delay)
		}
	}()
	u.Host = ln.Addr().String()
	return u.String()
}

// pump copies src to dst, each chunk delay after it was read, in order.
func pump(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

// countingQueue counts Receives and the jobs they lease; the Dispatcher
// finds the queue's other capabilities through Unwrap.
type countingQueue struct {
	notify.Queue
	receives, jobs atomic.Int64
}

func (q *countingQueue) Unwrap() any { return q.Queue }

func (q *countingQueue) Receive(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	ls, err := q.Queue.Receive(ctx, queue, limit)
	if len(ls) > 0 {
		q.receives.Add(1)
		q.jobs.Add(int64(len(ls)))
	}
	return ls, err
}

// BenchmarkDrain: a backlog of b.N jobs (enqueued before the clock
// starts) delivered by Dispatcher.Run to a no-op channel with 64 workers
// leasing up to 64 at a time; reports deliveries/s and jobs per Receive.
func BenchmarkDrain(b *testing.B) {
	pool, schema := setupApp(b, "")
	ctx := context.Background()
	pg := migrated(b, pool, schema)
	n := b.N
	jobs := make([]notify.Job, n)
	for i := range jobs {
		d := delivery(i)
		jobs[i] = notify.Job{ID: d.ID, Queue: "notify.push", Delivery: d} // the Dispatcher's queue of channel push
	}
	for i := 0; i < n; i += insertBatch {
		if err := pg.Queue().Enqueue(ctx, jobs[i:min(i+insertBatch, n)]...); err != nil {
			b.Fatal(err)
		}
	}
	ch := &noopChannel{want: int64(n), done: make(chan struct{})}
	cq := &countingQueue{Queue: pg.Queue()}
	d := pipelineDispatcher(b, cq, pg.Store(), pg.Deduper(), ch, workers)
	b.ResetTimer()
	start := time.Now()
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = d.Run(rctx); close(ran) }()
	<-ch.done
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	<-ran
	rate(b, n, elapsed)
	b.ReportMetric(float64(cq.jobs.Load())/float64(max(cq.receives.Load(), 1)), "jobs/receive")
}
