package notify_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// countingChannel is a no-op channel that counts sends and wakes the
// benchmark when the last one arrives.
type countingChannel struct {
	name string
	n    atomic.Int64
	want atomic.Int64
	done chan struct{}
	once *sync.Once
}

func (c *countingChannel) Name() string { return c.name }

func (c *countingChannel) Send(context.Context, *notify.Delivery) (notify.Result, error) {
	if c.n.Add(1) == c.want.Load() {
		c.once.Do(func() { close(c.done) })
	}
	return notify.Result{ProviderID: "ok"}, nil
}

// dispatcherBench is the set-up of BenchmarkDispatcher and
// BenchmarkSendThenDeliver: a Dispatcher over the memory backends (queue
// q when not nil; the store wrapped by log when not nil) with dedup, a
// rate limit, the log and templates on, a counting no-op channel, 10,000
// users with a phone number, and b.N notifications to send.
type dispatcherBench struct {
	d  *notify.Dispatcher
	ch *countingChannel
	ns []notify.Notification
}

func newDispatcherBench(b *testing.B, q notify.Queue, log func(*smem.Store) notify.Store) dispatcherBench {
	b.Helper()
	h := newHarness(b, func(c *notify.Config) {
		c.Categories = map[string]notify.CategoryPolicy{
			"default": {Limit: notify.Limit{Rate: 1000, Per: time.Second, Burst: 1000}},
		}
	})
	ch := &countingChannel{name: "sms", done: make(chan struct{}), once: new(sync.Once)}
	cfg := h.cfg
	cfg.Channels = []notify.Channel{ch}
	if q != nil {
		cfg.Queue = q
	}
	if log != nil {
		cfg.Store = log(h.store)
	}
	d, err := notify.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	const users = 10_000
	for u := range users {
		if err := h.store.PutContact(context.Background(), notify.Contact{UserID: "u" + strconv.Itoa(u), Phone: "+1555000" + strconv.Itoa(u)}); err != nil {
			b.Fatal(err)
		}
	}
	// The notifications are built before the clock starts, sharing one
	// Data map (the Dispatcher never changes a notification's Data): a
	// map each would keep b.N maps alive through the run, which a caller
	// building each notification as it sends does not, and every garbage
	// collection would mark them.
	data := map[string]any{"name": "Ana"}
	ns := make([]notify.Notification, b.N)
	for i := range ns {
		ns[i] = notify.Notification{
			EventID: "bench-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i%users),
			Template: "welcome", Data: data,
		}
	}
	ch.want.Store(int64(b.N))
	return dispatcherBench{d: d, ch: ch, ns: ns}
}

// run starts Run and returns the function that stops it.
func (db dispatcherBench) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = db.d.Run(ctx) })
	return func() { cancel(); wg.Wait() }
}

// send sends every notification from 4 goroutines and reports whether all
// were accepted. A full queue (queue/memory's MaxJobs) pushes back, as it
// would on a real caller: the sender waits and sends again.
func (db dispatcherBench) send(b *testing.B) bool {
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Bool
	var pw sync.WaitGroup
	for range 4 {
		pw.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(db.ns)) {
					return
				}
				_, err := db.d.Send(ctx, db.ns[i])
				for errors.Is(err, notify.ErrQueueFull) {
					time.Sleep(time.Millisecond)
					_, err = db.d.Send(ctx, db.ns[i])
				}
				if err != nil {
					b.Error(err)
					failed.Store(true)
					return
				}
			}
		})
	}
	pw.Wait()
	return !failed.Load()
}

// BenchmarkDispatcher measures Send -> delivered through the memory backends
// with dedup, rate limiting, the log and template rendering all on, and a
// no-op channel. One op is one delivery. Where the system tells
// (processCPU), it also reports the process's CPU time per delivery (user
// + system, garbage collection included).
//
//	go test -run '^$' -bench Dispatcher -benchmem -count 6 .
func BenchmarkDispatcher(b *testing.B) {
	benchmarkDispatcher(b, newDispatcherBench(b, nil, nil))
}

// BenchmarkDispatcherLogFloor is BenchmarkDispatcher with less of a log,
// to show what the memory log costs the pipeline; compare each with
// BenchmarkDispatcher in the same run:
//
//	go test -run '^$' -bench 'Dispatcher(LogFloor)?$' -benchmem -benchtime 200000x .
//
// Its log is one of:
//   - map: each delivery's last status in one Go map under one mutex,
//     never evicted: about the least a log that answers State could do;
//   - none: Record keeps nothing. Not a configuration to run: with no log
//     nothing is answered, retried or deduplicated from it.
func BenchmarkDispatcherLogFloor(b *testing.B) {
	b.Run("map", func(b *testing.B) {
		benchmarkDispatcher(b, newDispatcherBench(b, nil, func(s *smem.Store) notify.Store {
			return &statusLog{Store: s, status: make(map[string]notify.Status)}
		}))
	})
	b.Run("none", func(b *testing.B) {
		benchmarkDispatcher(b, newDispatcherBench(b, nil, func(s *smem.Store) notify.Store { return noLog{s} }))
	})
}

// statusLog is a store whose log keeps each delivery's last status only,
// for BenchmarkDispatcherLogFloor.
type statusLog struct {
	*smem.Store
	mu     sync.Mutex
	status map[string]notify.Status
}

func (l *statusLog) Record(_ context.Context, events ...notify.Event) error {
	l.mu.Lock()
	for i := range events {
		l.status[events[i].DeliveryID] = events[i].Status
	}
	l.mu.Unlock()
	return nil
}

// noLog is a store whose Record keeps nothing, for
// BenchmarkDispatcherLogFloor.
type noLog struct{ *smem.Store }

func (noLog) Record(context.Context, ...notify.Event) error { return nil }

// benchmarkDispatcher runs BenchmarkDispatcher's measurement on db.
func benchmarkDispatcher(b *testing.B, db dispatcherBench) {
	stop := db.run()
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	// Producers on every core; the Dispatcher's workers compete with them,
	// as in a service that sends and delivers in one process.
	if !db.send(b) {
		b.FailNow() // fewer deliveries than b.N: ch.done would never close
	}
	<-db.ch.done
	elapsed, cpu := time.Since(start), processCPU()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	if cpu0 >= 0 {
		b.ReportMetric(float64((cpu-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/delivery")
	}
}

// BenchmarkSendThenDeliver is BenchmarkDispatcher in two phases, to tell
// what each side costs: b.N Sends with no Run (an unbounded memory queue
// holds them all), then Run delivers the backlog. It reports each phase's
// rate and, where the system tells (processCPU), the process's CPU time
// per notification (user + system, garbage collection included).
//
//	go test -run '^$' -bench SendThenDeliver -benchmem -benchtime 200000x .
func BenchmarkSendThenDeliver(b *testing.B) {
	db := newDispatcherBench(b, qmem.New(qmem.Config{Visibility: time.Minute, MaxJobs: -1}), nil)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	if !db.send(b) {
		b.FailNow()
	}
	sent, cpu1 := time.Now(), processCPU()
	stop := db.run()
	defer stop()
	<-db.ch.done
	end, cpu2 := time.Now(), processCPU()
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/sent.Sub(start).Seconds(), "sends/s")
	b.ReportMetric(n/end.Sub(sent).Seconds(), "deliveries/s")
	if cpu0 >= 0 {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/n, "send-cpu-ns")
		b.ReportMetric(float64((cpu2-cpu1).Nanoseconds())/n, "deliver-cpu-ns")
	}
}
