package sqlite_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/sqlite"
)

// open opens a Backend on a fresh file of t's, migrated, closed with t.
func open(t testing.TB, cfg sqlite.Config) *sqlite.Backend {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "notify.db"), cfg)
}

// openPath opens a Backend on path, migrated, closed with t.
func openPath(t testing.TB, path string, cfg sqlite.Config) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, b.Migrate(t.Context()))
	return b
}

// perTest remembers one Backend per test, so the suites' separate
// constructors (a Queue, then its EventLog) get the same file.
type perTest struct {
	mu sync.Mutex
	m  map[testing.TB]*sqlite.Backend
}

func (p *perTest) get(t testing.TB, cfg sqlite.Config) *sqlite.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[testing.TB]*sqlite.Backend{}
	}
	if b := p.m[t]; b != nil {
		return b
	}
	b := open(t, cfg)
	p.m[t] = b
	t.Cleanup(func() {
		p.mu.Lock()
		delete(p.m, t)
		p.mu.Unlock()
	})
	return b
}

// dispatcher returns a Dispatcher on b's backends with ch, not running.
func dispatcher(t testing.TB, b *sqlite.Backend, ch notify.Channel, workers int) *notify.Dispatcher {
	t.Helper()
	d, err := notify.New(notify.Config{
		Queue: b.Queue(), Store: b.Store(), Deduper: b.Deduper(),
		Channels: []notify.Channel{ch}, DefaultWorkers: workers,
		ShutdownGrace: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return d
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

// note returns a notification to one explicit address on channel.
func note(channel, eventID, addr string) notify.Notification {
	return notify.Notification{
		EventID: eventID,
		To:      []notify.Address{{Channel: channel, Value: addr}},
		Content: &notify.Message{Title: "Order shipped", Body: "Your order " + addr + " is on its way"},
	}
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
