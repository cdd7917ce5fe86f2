package sqs_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/queue/sqs"
)

// store is the smallest notify.Store the Dispatcher tests need: contacts,
// no opt-outs, and a log. (Backends do not import each other; store/memory
// is another package's business.)
type store struct {
	mu       sync.Mutex
	contacts map[string]notify.Contact
	events   map[string][]notify.Event
}

func newStore() *store {
	return &store{contacts: map[string]notify.Contact{}, events: map[string][]notify.Event{}}
}

func (s *store) Contact(_ context.Context, userID string) (notify.Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[userID]
	if !ok {
		return notify.Contact{}, notify.ErrNotFound
	}
	return c, nil
}

func (s *store) PutContact(_ context.Context, c notify.Contact) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contacts[c.UserID] = c
	return nil
}

func (s *store) RemoveAddress(context.Context, string, string, string, time.Time) error { return nil }

func (s *store) Consent(context.Context, string, string, string) (notify.Consent, error) {
	return notify.ConsentUnset, nil
}

func (s *store) SetPreference(context.Context, string, string, string, bool) error { return nil }

func (s *store) Record(_ context.Context, events ...notify.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.events[e.DeliveryID] = append(s.events[e.DeliveryID], e)
	}
	return nil
}

func (s *store) State(_ context.Context, id string) (notify.DeliveryState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, ok := s.events[id]
	if !ok {
		return notify.DeliveryState{}, notify.ErrNotFound
	}
	var st notify.DeliveryState
	for _, e := range evs {
		st.Apply(e)
	}
	return st, nil
}

func (s *store) Delivery(_ context.Context, id string) (notify.DeliveryRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, ok := s.events[id]
	if !ok {
		return notify.DeliveryRecord{}, notify.ErrNotFound
	}
	return notify.NewDeliveryRecord(evs), nil
}

func (s *store) Deliveries(_ context.Context, nid string) ([]notify.DeliveryRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []notify.DeliveryRecord
	for _, evs := range s.events {
		if len(evs) > 0 && evs[0].NotificationID == nid {
			out = append(out, notify.NewDeliveryRecord(evs))
		}
	}
	return out, nil
}

func (s *store) addUsers(n int) {
	for i := range n {
		_ = s.PutContact(context.Background(), notify.Contact{UserID: fmt.Sprintf("u%d", i), Phone: fmt.Sprintf("+1555%07d", i)})
	}
}

// dispatcher returns a Dispatcher delivering to ch through q with s.
func dispatcher(t testing.TB, q notify.Queue, s notify.Store, prefix string, ch notify.Channel) *notify.Dispatcher {
	t.Helper()
	d, err := notify.New(notify.Config{Queue: q, Store: s, Channels: []notify.Channel{ch}, QueuePrefix: prefix,
		DefaultWorkers: 16, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return d
}

// sendAll sends n notifications (user i%users) through d from workers
// goroutines.
func sendAll(t testing.TB, d *notify.Dispatcher, n, users, workers int, tag string) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := d.Send(context.Background(), notify.Notification{
					EventID: fmt.Sprintf("%s-%d", tag, i), UserID: fmt.Sprintf("u%d", i%users),
					Channels: []string{"sms"}, Content: &notify.Message{Body: fmt.Sprintf("message %d", i)}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// Two Dispatchers (two processes: each its own Queue and its own log, so
// nothing but the queue keeps them from sending a delivery twice) share one
// SQS queue and deliver 10,000 notifications, each exactly once.
func TestTwoDispatchersDeliverEachOnce(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprintf("fifo=%v", fifo), func(t *testing.T) {
			n := 10_000
			if testing.Short() {
				n = 1_000
			}
			prefix := notifytest.UniqueName(t) + "."
			ch := notifytest.NewChannel("sms")
			sa, sb := newStore(), newStore()
			sa.addUsers(100)
			qa := newQueue(t, sqs.Config{FIFO: fifo})
			qb := newQueue(t, sqs.Config{FIFO: fifo})
			da := dispatcher(t, qa, sa, prefix, ch)
			db := dispatcher(t, qb, sb, prefix, ch)

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { assert.NoError(t, da.Run(ctx)) })
			wg.Go(func() { assert.NoError(t, db.Run(ctx)) })
			sendAll(t, da, n, 100, 32, "two")

			wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer wcancel()
			err := ch.WaitSent(wctx, n)
			time.Sleep(time.Second) // a second delivery of anything would show now
			cancel()
			wg.Wait()
			require.NoError(t, err)

			assert.Empty(t, ch.Duplicates(), "deliveries sent more than once")
			assert.Len(t, ch.Sent(), n, "sends")
			sentA, sentB := 0, 0
			for _, del := range ch.Sent() {
				if _, err := sb.State(context.Background(), del.ID); err == nil {
					sentB++
				} else {
					sentA++
				}
			}
			t.Logf("%d deliveries: %d by the first Dispatcher, %d by the second", n, sentA, sentB)
			assert.Positive(t, sentB, "the second Dispatcher delivered nothing: the test shows nothing")

			require.NoError(t, qa.Close())
			require.NoError(t, qb.Close())
			check := newQueue(t, sqs.Config{FIFO: fifo})
			st, err := check.Stats(context.Background(), prefix+"sms")
			require.NoError(t, err)
			assert.Equal(t, notify.QueueStats{}, st, "every delivery acked")
		})
	}
}

// BenchmarkRequestsPerDelivery counts the SQS requests (every API call,
// through an HTTP middleware) per notification delivered in steady state:
// producers call Dispatcher.Send (64 concurrently, or one at a time), one
// Dispatcher.Run delivers to a channel that answers at once. Acks still pending at the end are
// flushed (Close) before counting.
func BenchmarkRequestsPerDelivery(b *testing.B) {
	for _, c := range []struct {
		fifo      bool
		producers int
	}{{false, 64}, {true, 64}, {false, 1}} {
		fifo := c.fifo
		b.Run(fmt.Sprintf("fifo=%v/producers=%d", fifo, c.producers), func(b *testing.B) {
			tr := newTransport()
			q := newQueue(b, sqs.Config{Client: client(server(b), tr), FIFO: fifo})
			s := newStore()
			s.addUsers(1000)
			ch := notifytest.NewChannel("sms")
			prefix := fmt.Sprintf("bench-%d-%v.", time.Now().UnixNano(), fifo)
			d := dispatcher(b, q, s, prefix, ch)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = d.Run(ctx) })

			const warm = 500
			sendAll(b, d, warm, 1000, 64, "warm")
			require.NoError(b, ch.WaitSent(context.Background(), warm))
			tr.reset()
			b.ResetTimer()
			sendAll(b, d, b.N, 1000, c.producers, "bench")
			require.NoError(b, ch.WaitSent(context.Background(), warm+b.N))
			b.StopTimer()
			cancel()
			wg.Wait()
			require.NoError(b, q.Close())

			per := func(ops ...string) float64 { return float64(tr.total(ops...)) / float64(b.N) }
			b.ReportMetric(per(), "requests/delivery")
			b.ReportMetric(per("SendMessageBatch"), "send/delivery")
			b.ReportMetric(per("ReceiveMessage"), "receive/delivery")
			b.ReportMetric(per("DeleteMessageBatch"), "delete/delivery")
			assert.Empty(b, ch.Duplicates())
		})
	}
}
