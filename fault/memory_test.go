package fault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dedupmem "github.com/gonotify/notify/dedup/memory"
	queuemem "github.com/gonotify/notify/queue/memory"
	storemem "github.com/gonotify/notify/store/memory"
)

// TestFaultMemory runs the suite on the memory backends, in this process:
// the faults are the panicking and hanging channel, and backends whose
// calls sometimes fail, before taking effect or after (a reply lost at the
// Go level). A SIGKILL would take the backends with it, so there is none.
func TestFaultMemory(t *testing.T) {
	s := runScale(t)
	var total tally
	for round := 1; round <= s.rounds; round++ {
		tl := memoryRound(t, s, round)
		t.Logf("memory round %d/%d: %s", round, s.rounds, tl.line())
		tl.check(t, fmt.Sprintf("memory round %d", round))
		total.add(tl)
	}
	total.checkFired(t, s, false, "all rounds")
	summary("memory", s, total)
}

func memoryRound(t *testing.T, s scale, round int) tally {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.giveUp+s.maxWait+2*time.Minute)
	defer cancel()
	every := int64(s.backendEvery)
	if !s.on("backend") {
		every = 0
	}
	inner := queuemem.New(queuemem.Config{Visibility: visibility})
	defer inner.Close()
	store := &faultStore{Store: storemem.New(storemem.Config{}), f: &faulty{every: every}, ids: map[string]struct{}{}}
	queue := &faultQueue{inner: inner, f: &faulty{every: every}}
	dedup := &faultDeduper{inner: dedupmem.New(dedupmem.Config{}), f: &faulty{every: every}}
	p := newProvider()
	ch := &faultChannel{
		call: func(_ context.Context, d *notify.Delivery) (string, error) {
			return p.accept(call{DeliveryID: d.ID, EventID: d.EventID, NotificationID: d.NotificationID, Attempt: d.Attempt}), nil
		},
		report: p.fault,
	}
	if s.on("panic") {
		ch.panicEvery = int64(s.panicEvery)
	}
	if s.on("hang") {
		ch.hangEvery = int64(s.hangEvery)
	}
	logs := &tailBuffer{max: 64 << 10}
	d, err := notify.New(notify.Config{
		Queue: queue, Store: store, Deduper: dedup, Channels: []notify.Channel{ch},
		DefaultWorkers: 16, SendTimeout: sendTimeout, BackendTimeout: backendTimeout, ShutdownGrace: 3 * time.Second,
		Retry:      notify.RetryPolicy{MaxAttempts: 10, BaseDelay: 20 * time.Millisecond, MaxDelay: 500 * time.Millisecond},
		PruneEvery: -1,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	var stopOnce sync.Once
	var runErr error
	stop := func() error {
		stopOnce.Do(func() { stopRun(); runErr = <-ran })
		return runErr
	}
	defer func() {
		_ = stop()
		if t.Failed() {
			t.Logf("last Dispatcher logs:\n%s", logs.String())
		}
	}()

	results := sendAll(ctx, d, randomName(fmt.Sprintf("mem%d_", round)), s.n, s.giveUp)
	sent := time.Now()
	statuses := func() map[string]notify.DeliveryRecord {
		out := map[string]notify.DeliveryRecord{}
		for _, id := range store.deliveryIDs() {
			if ds, err := store.Store.Delivery(ctx, id); err == nil {
				out[id] = ds
			}
		}
		return out
	}
	ok := waitFinal(ctx, s, 100*time.Millisecond, func() (int, string) {
		st, err := inner.Stats(ctx, d.QueueName(channelName))
		require.NoError(t, err)
		live := st.Ready + st.Delayed + st.InFlight
		open := 0
		for _, ds := range statuses() {
			if !ds.Status.Final() {
				open++
			}
		}
		return live + open, fmt.Sprintf("%d %d %d", live, open, p.count())
	})
	settled := time.Now()
	if !ok {
		t.Errorf("memory round %d: the deliveries did not all settle (no progress for %v)", round, s.stall)
	}
	require.NoError(t, stop())
	calls, faults := p.snapshot()
	tl := count(results, calls, statuses(), nil)
	tl.faults.panics, tl.faults.hangs = faults["panic"], faults["hang"]
	tl.faults.backend = store.f.injected.Load() + queue.f.injected.Load() + dedup.f.injected.Load()
	tl.sending, tl.settling, tl.took = sent.Sub(start), settled.Sub(sent), time.Since(start)
	return tl
}

// The errors the faulty memory backends return.
var (
	errLostReply = errors.New("fault: the backend's reply was lost (the call took effect)")
	errDown      = errors.New("fault: the backend failed (the call took no effect)")
)

// faulty picks the calls that fail: of every every calls, one fails
// before taking effect and one after.
type faulty struct {
	every    int64
	n        atomic.Int64
	injected atomic.Int64
}

func (f *faulty) next() (before, after bool) {
	if f.every <= 0 {
		return false, false
	}
	k := f.n.Add(1)
	before, after = k%f.every == f.every/2, k%f.every == 0
	if before || after {
		f.injected.Add(1)
	}
	return before, after
}

// faultStore fails Record and State, and remembers every delivery ID it
// wrote so the test can read each one's log at the end.
type faultStore struct {
	notify.Store
	f   *faulty
	mu  sync.Mutex
	ids map[string]struct{}
}

func (s *faultStore) Record(ctx context.Context, events ...notify.Event) error {
	before, after := s.f.next()
	if before {
		return errDown
	}
	if err := s.Store.Record(ctx, events...); err != nil {
		return err
	}
	s.mu.Lock()
	for _, e := range events {
		s.ids[e.DeliveryID] = struct{}{}
	}
	s.mu.Unlock()
	if after {
		return errLostReply
	}
	return nil
}

func (s *faultStore) State(ctx context.Context, id string) (notify.DeliveryState, error) {
	if before, after := s.f.next(); before || after {
		return notify.DeliveryState{}, errDown
	}
	return s.Store.State(ctx, id)
}

func (s *faultStore) deliveryIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	return out
}

// faultDeduper fails Claim and Release.
type faultDeduper struct {
	inner notify.Deduper
	f     *faulty
}

func (d *faultDeduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	before, after := d.f.next()
	if before {
		return false, "", errDown
	}
	ok, holder, err := d.inner.Claim(ctx, key, owner, ttl)
	if err == nil && after {
		return false, "", errLostReply
	}
	return ok, holder, err
}

func (d *faultDeduper) Release(ctx context.Context, key, owner string) error {
	before, after := d.f.next()
	if before {
		return errDown
	}
	err := d.inner.Release(ctx, key, owner)
	if err == nil && after {
		return errLostReply
	}
	return err
}

// faultQueue fails Enqueue, Ack and Nack. It passes on the memory queue's
// lease extension and visibility, which the Dispatcher relies on.
type faultQueue struct {
	inner *queuemem.Queue
	f     *faulty
}

func (q *faultQueue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	before, after := q.f.next()
	if before {
		return errDown
	}
	err := q.inner.Enqueue(ctx, jobs...)
	if err == nil && after {
		return errLostReply
	}
	return err
}

func (q *faultQueue) Ack(ctx context.Context, leases ...notify.Lease) error {
	before, after := q.f.next()
	if before {
		return errDown
	}
	err := q.inner.Ack(ctx, leases...)
	if err == nil && after {
		return errLostReply
	}
	return err
}

func (q *faultQueue) Nack(ctx context.Context, l notify.Lease, delay time.Duration) error {
	if before, _ := q.f.next(); before {
		return errDown
	}
	return q.inner.Nack(ctx, l, delay)
}

func (q *faultQueue) Receive(ctx context.Context, queue string, max int) ([]notify.Lease, error) {
	return q.inner.Receive(ctx, queue, max)
}

func (q *faultQueue) Bury(ctx context.Context, l notify.Lease, reason string) error {
	return q.inner.Bury(ctx, l, reason)
}

func (q *faultQueue) Replay(ctx context.Context, queue, id string) error {
	return q.inner.Replay(ctx, queue, id)
}

func (q *faultQueue) Stats(ctx context.Context, queue string) (notify.QueueStats, error) {
	return q.inner.Stats(ctx, queue)
}

func (q *faultQueue) Close() error { return q.inner.Close() }

// Extend passes on to the memory queue (a notify.LeaseExtender).
func (q *faultQueue) Extend(ctx context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	ext, ok := any(q.inner).(notify.LeaseExtender)
	if !ok {
		return time.Time{}, fmt.Errorf("fault: the memory queue cannot extend leases: %w", errors.ErrUnsupported)
	}
	return ext.Extend(ctx, l, d)
}

// Visibility is the memory queue's lease length.
func (q *faultQueue) Visibility() time.Duration { return visibility }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

var _ io.Writer = (*tailBuffer)(nil)
