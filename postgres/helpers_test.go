package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// countChannel counts sends per delivery ID and, when out is set, appends
// each delivered ID to out with one write (which survives a SIGKILL).
type countChannel struct {
	name   string
	mu     sync.Mutex
	counts map[string]int
	out    *os.File
	sent   chan struct{} // receives after every send, when not full
	// latency is how long Send takes after the provider has the message
	// (its ID is written): a kill then leaves a send in flight.
	latency time.Duration
}

func newCountChannel(name string, out *os.File) *countChannel {
	return &countChannel{name: name, counts: map[string]int{}, out: out, sent: make(chan struct{}, 1)}
}

func (c *countChannel) Name() string { return c.name }

func (c *countChannel) Send(_ context.Context, d *notify.Delivery) (notify.Result, error) {
	c.mu.Lock()
	c.counts[d.ID]++
	if c.out != nil {
		if _, err := c.out.WriteString(d.ID + "\n"); err != nil {
			c.mu.Unlock()
			return notify.Result{}, err
		}
	}
	c.mu.Unlock()
	if c.latency > 0 {
		time.Sleep(c.latency)
	}
	select {
	case c.sent <- struct{}{}:
	default:
	}
	return notify.Result{ProviderID: "p-" + d.ID}, nil
}

func (c *countChannel) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

func (c *countChannel) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[id]
}

// newPG returns the Backend of cfg on pool, closed when the test ends.
func newPG(t testing.TB, pool *pgxpool.Pool, cfg postgres.Config) *postgres.Backend {
	t.Helper()
	pg, err := postgres.New(pool, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	return pg
}

// backends are a Backend's three backends.
type backends struct {
	pg      *postgres.Backend
	queue   *postgres.Queue
	store   *postgres.Store
	deduper *postgres.Deduper
}

func newBackends(t testing.TB, pool *pgxpool.Pool, schema string, visibility time.Duration) backends {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg := newPG(t, pool, postgres.Config{Schema: schema, Visibility: visibility, PollInterval: time.Second, Logger: logger})
	return backends{pg, pg.Queue(), pg.Store(), pg.Deduper()}
}

func (b backends) dispatcher(t testing.TB, ch notify.Channel, workers int, logger *slog.Logger) *notify.Dispatcher {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := notify.New(notify.Config{
		Queue: b.queue, Store: b.store, Deduper: b.deduper,
		Channels: []notify.Channel{ch}, DefaultWorkers: workers,
		ShutdownGrace: 5 * time.Second, Logger: logger,
	})
	require.NoError(t, err)
	return d
}

// note returns a notification to one explicit address on channel.
func note(channel, eventID, addr string) notify.Notification {
	return notify.Notification{
		EventID: eventID,
		To:      []notify.Address{{Channel: channel, Value: addr}},
		Content: &notify.Message{Title: "Order shipped", Body: "Your order " + addr + " is on its way"},
	}
}

// runDispatcher runs d until the test ends.
func runDispatcher(t testing.TB, d *notify.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond every 20ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
