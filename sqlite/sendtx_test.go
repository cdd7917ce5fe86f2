package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	"github.com/gonotify/notify/sqlite"
	smem "github.com/gonotify/notify/store/memory"
)

func TestSendTx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := open(t, sqlite.Config{})
	ch := notifytest.NewChannel("push")
	d := dispatcher(t, b, ch, 4)
	runDispatcher(t, d)
	_, err := b.DB().ExecContext(ctx, "CREATE TABLE orders (id TEXT PRIMARY KEY)")
	require.NoError(t, err)

	// Rolled back: nothing is sent, logged, queued or claimed.
	tx, err := b.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO orders VALUES ('o1')")
	require.NoError(t, err)
	rolled, err := d.SendTx(ctx, b.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	require.Len(t, rolled.Deliveries, 1)
	require.NoError(t, tx.Rollback())

	// Committed, with the same event ID: the rolled-back claim is gone.
	tx, err = b.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO orders VALUES ('o1')")
	require.NoError(t, err)
	committed, err := d.SendTx(ctx, b.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	assert.False(t, committed.Duplicate, "the claim of a rolled-back SendTx was left behind")
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, ch.SentCount(committed.Deliveries[0].ID), "a delivery was sent before its transaction committed")
	start := time.Now()
	require.NoError(t, tx.Commit())
	require.NoError(t, ch.WaitSent(ctx, 1))
	// The commit hook wakes the receivers: no wait for the poll (1s).
	assert.Less(t, time.Since(start), 500*time.Millisecond, "the committed notification waited for the poll")
	eventually(t, 10*time.Second, func() bool {
		st, err := b.Store().State(ctx, committed.Deliveries[0].ID)
		return err == nil && st.Status == notify.StatusSent
	}, "the committed delivery was not logged as sent")
	_, err = b.Store().Deliveries(ctx, rolled.NotificationID)
	assert.ErrorIs(t, err, notify.ErrNotFound, "the rolled-back notification left log rows")

	// The event ID is now claimed: a third SendTx is a duplicate.
	tx, err = b.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	dup, err := d.SendTx(ctx, b.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	assert.True(t, dup.Duplicate, "a repeated event ID")
	assert.Equal(t, committed.NotificationID, dup.NotificationID)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, ch.Sent(), 1, "one delivery in all")
	var orders int
	require.NoError(t, b.DB().QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&orders))
	assert.Equal(t, 1, orders)
}

// TestSendTxForeignBackends: a Dispatcher whose Queue, Store or Deduper is
// not the Backend's own is refused before anything is written, with a
// *ForeignBackendError naming which.
func TestSendTxForeignBackends(t *testing.T) {
	ctx := t.Context()
	b := open(t, sqlite.Config{})
	other := open(t, sqlite.Config{})
	ch := notifytest.NewChannel("push")
	mq := qmem.New(qmem.Config{})
	t.Cleanup(func() { mq.Close() })
	cases := []struct {
		name, role string
		cfg        notify.Config
	}{
		{"memory queue", "Queue", notify.Config{Queue: mq, Store: b.Store(), Deduper: b.Deduper()}},
		{"memory store", "Store", notify.Config{Queue: b.Queue(), Store: smem.New(smem.Config{}), Deduper: b.Deduper()}},
		{"memory deduper", "Deduper", notify.Config{Queue: b.Queue(), Store: b.Store(), Deduper: dmem.New(dmem.Config{})}},
		{"another file's queue", "Queue", notify.Config{Queue: other.Queue(), Store: b.Store(), Deduper: b.Deduper()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Channels = []notify.Channel{ch}
			d, err := notify.New(c.cfg)
			require.NoError(t, err)
			tx, err := b.DB().BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = d.SendTx(ctx, b.Tx(tx), note("push", "e-"+c.name, "dev-1"))
			var fe *notify.ForeignBackendError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.role, fe.Backend)
			assert.ErrorIs(t, err, notify.ErrNotQueued)
		})
	}
}

// TestSendTxOtherFile: a transaction on another file's DB is refused at
// the first write, with nothing written.
func TestSendTxOtherFile(t *testing.T) {
	ctx := t.Context()
	b := open(t, sqlite.Config{})
	other := open(t, sqlite.Config{})
	d := dispatcher(t, b, notifytest.NewChannel("push"), 1)
	tx, err := other.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = d.SendTx(ctx, b.Tx(tx), note("push", "e1", "dev-1"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Backend.DB()")
	st, err := b.Queue().Stats(ctx, "push")
	require.NoError(t, err)
	assert.Zero(t, st.Ready)
}

// A second Open of one file, in this process or another, fails with a
// *LockedError until the first Backend is closed.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.db")
	b, err := sqlite.Open(path, sqlite.Config{})
	require.NoError(t, err)
	_, err = sqlite.Open(path, sqlite.Config{})
	var le *sqlite.LockedError
	require.ErrorAs(t, err, &le)
	assert.True(t, errors.Is(err, sqlite.ErrLocked))
	assert.Equal(t, path+".lock", le.LockFile)
	assert.Positive(t, le.PID, "the holder's PID is named")
	assert.Contains(t, err.Error(), "postgres")
	require.NoError(t, b.Close())
	b2, err := sqlite.Open(path, sqlite.Config{})
	require.NoError(t, err, "the lock is released by Close")
	require.NoError(t, b2.Close())
}

func TestOpenBadConfig(t *testing.T) {
	_, err := sqlite.Open(filepath.Join(t.TempDir(), "x.db"), sqlite.Config{Synchronous: "OFF"})
	require.ErrorContains(t, err, "Synchronous")
	_, err = sqlite.Open(":memory:", sqlite.Config{})
	require.Error(t, err)
	_, err = sqlite.Open("a?b", sqlite.Config{})
	require.Error(t, err)
}

// TestPipeline sends through a Dispatcher on one file and checks every
// delivery is sent once and logged as sent, and that commits were shared.
func TestPipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := open(t, sqlite.Config{})
	ch := notifytest.NewChannel("push")
	d := dispatcher(t, b, ch, 8)
	runDispatcher(t, d)
	const n = 500
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := d.Send(ctx, note("push", "ev-"+itoa(i), "dev-"+itoa(i)))
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	require.NoError(t, ch.WaitSent(ctx, n))
	assert.Empty(t, ch.Duplicates())
	eventually(t, 10*time.Second, func() bool {
		st, err := b.Queue().Stats(ctx, "push")
		return err == nil && st.Ready+st.InFlight+st.Delayed == 0
	}, "the queue did not drain")
	ws := b.WriteStats()
	t.Logf("%d writes in %d commits", ws.Writes, ws.Commits)
	assert.Less(t, ws.Commits, ws.Writes, "concurrent writes shared commits")
}

func itoa(i int) string { return strconv.Itoa(i) }
