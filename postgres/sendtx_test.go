package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

func TestSendTx(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)
	ch := newCountChannel("push", nil)
	d := b.dispatcher(t, ch, 4, nil)
	runDispatcher(t, d)

	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	_, err := pool.Exec(ctx, "CREATE TABLE "+orders+" (id text PRIMARY KEY)")
	require.NoError(t, err)

	// Rolled back: nothing is sent, logged, queued or claimed.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+orders+" VALUES ('o1')")
	require.NoError(t, err)
	rolled, err := d.SendTx(ctx, b.pg.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	require.Len(t, rolled.Deliveries, 1)
	require.NoError(t, tx.Rollback(ctx))

	// Committed, with the same event ID: the rolled-back claim is gone, so
	// this is not a duplicate, and it is delivered.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+orders+" VALUES ('o1')")
	require.NoError(t, err)
	committed, err := d.SendTx(ctx, b.pg.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	assert.False(t, committed.Duplicate, "the claim of a rolled-back SendTx was left behind")
	require.Len(t, committed.Deliveries, 1)
	// Not visible to workers before commit.
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, ch.total(), "a delivery was sent before its transaction committed")
	require.NoError(t, tx.Commit(ctx))

	eventually(t, 10*time.Second, func() bool { return ch.count(committed.Deliveries[0].ID) == 1 },
		"the committed notification was not delivered")
	eventually(t, 10*time.Second, func() bool {
		st, err := b.store.State(ctx, committed.Deliveries[0].ID)
		return err == nil && st.Status == notify.StatusSent
	}, "the committed delivery was not logged as sent")

	_, err = b.store.Deliveries(ctx, rolled.NotificationID)
	assert.ErrorIs(t, err, notify.ErrNotFound, "the rolled-back notification left log rows")
	assert.Zero(t, ch.count(rolled.Deliveries[0].ID), "the rolled-back delivery was sent")

	// The event ID is now claimed: a third SendTx is a duplicate of the second.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	dup, err := d.SendTx(ctx, b.pg.Tx(tx), note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	assert.True(t, dup.Duplicate, "a repeated event ID")
	assert.Equal(t, committed.NotificationID, dup.NotificationID, "a duplicate names the original notification")

	// Nothing else was ever sent, and the queue is empty.
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, ch.total(), "sends in all")
	eventually(t, 10*time.Second, func() bool {
		st, err := b.queue.Stats(ctx, d.QueueName("push"))
		return err == nil && st == (notify.QueueStats{})
	}, "the queue is not empty after the delivery")
}

// A Dispatcher without a Deduper still has SendTx's event IDs
// de-duplicated, in the Backend's claims.
func TestSendTxWithoutDeduper(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)
	d, err := notify.New(notify.Config{
		Queue: b.queue, Store: b.store, Channels: []notify.Channel{newCountChannel("push", nil)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	var receipts []notify.Receipt
	for range 2 {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		r, err := d.SendTx(ctx, b.pg.Tx(tx), note("push", "order-o2-shipped", "dev-2"))
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		receipts = append(receipts, r)
	}
	assert.False(t, receipts[0].Duplicate)
	assert.True(t, receipts[1].Duplicate, "SendTx without a Deduper did not de-duplicate")
	assert.Equal(t, receipts[0].NotificationID, receipts[1].NotificationID)
	assert.Equal(t, 1, count(t, pool, schema, "dedup_claims"), "claims")
	assert.Equal(t, 1, count(t, pool, schema, "queue_jobs"), "jobs")
}

// unwrapping wraps a backend (as a metrics wrapper would) and says so.
type unwrapping struct {
	notify.Store
}

func (w unwrapping) Unwrap() any { return w.Store }

// opaque wraps a backend without saying what it wraps.
type opaque struct {
	notify.Store
}

// A Dispatcher whose Queue, Store or Deduper is not the Backend's own is
// refused before anything is written, with a *ForeignBackendError naming
// which; a wrapper that unwraps to the Backend's own is accepted.
func TestSendTxForeignBackends(t *testing.T) {
	pool, schema := testDB(t)
	_, otherSchema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := newBackends(t, pool, schema, 30*time.Second)
	other := newBackends(t, pool, otherSchema, 30*time.Second)
	memQueue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = memQueue.Close() })
	memStore := smem.New(smem.Config{})
	ch := newCountChannel("push", nil)
	dispatcher := func(q notify.Queue, s notify.Store, dd notify.Deduper) *notify.Dispatcher {
		d, err := notify.New(notify.Config{
			Queue: q, Store: s, Deduper: dd, Channels: []notify.Channel{ch},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(t, err)
		return d
	}

	for _, c := range []struct {
		name    string
		d       *notify.Dispatcher
		foreign string // the Backend field of the error
		reason  string // in its Reason
	}{
		{"memory queue", dispatcher(memQueue, b.store, b.deduper), "Queue", "*memory.Queue"},
		{"memory store", dispatcher(b.queue, memStore, b.deduper), "Store", "*memory.Store"},
		{"memory deduper", dispatcher(b.queue, b.store, dmem.New(dmem.Config{})), "Deduper", "*memory.Deduper"},
		{"another Backend", dispatcher(other.queue, other.store, other.deduper), "Queue", `another postgres.Backend (schema "` + otherSchema + `")`},
		{"another Backend's store", dispatcher(b.queue, other.store, b.deduper), "Store", `another postgres.Backend (schema "` + otherSchema + `")`},
		{"another Backend's deduper", dispatcher(b.queue, b.store, other.deduper), "Deduper", `another postgres.Backend (schema "` + otherSchema + `")`},
		{"wrapper without Unwrap", dispatcher(b.queue, opaque{b.store}, b.deduper), "Store", "postgres_test.opaque, which neither is nor unwraps to a *postgres.Store"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = c.d.SendTx(ctx, b.pg.Tx(tx), note("push", "e-"+c.name, "dev-1"))
			require.ErrorIs(t, err, notify.ErrNotQueued)
			var fe *notify.ForeignBackendError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, c.foreign, fe.Backend)
			assert.Contains(t, fe.Reason, c.reason)
			assert.Contains(t, err.Error(), `postgres.Backend (schema "`+schema+`")`, "the error names the transaction's backend")
			// The transaction is intact (no statement failed in it), and
			// committing it stores nothing.
			require.NoError(t, tx.Commit(ctx))
			for _, s := range []string{schema, otherSchema} {
				for _, table := range []string{"queue_jobs", "log_events", "dedup_claims"} {
					assert.Zero(t, count(t, pool, s, table), "rows in %s.%s", s, table)
				}
			}
			st, err := memQueue.Stats(ctx, c.d.QueueName("push"))
			require.NoError(t, err)
			assert.Zero(t, st.Ready, "jobs on the memory queue")
		})
	}

	// A wrapper that unwraps to the Backend's own Store is accepted; the
	// notification is written in the transaction.
	d := dispatcher(b.queue, unwrapping{b.store}, b.deduper)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	r, err := d.SendTx(ctx, b.pg.Tx(tx), note("push", "e-wrapped", "dev-1"))
	require.NoError(t, err)
	assert.Zero(t, count(t, pool, schema, "queue_jobs"), "written outside the transaction")
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, 1, count(t, pool, schema, "queue_jobs"), "jobs after commit")
	assert.Equal(t, 1, count(t, pool, schema, "dedup_claims"), "claims after commit")
	ds, err := b.store.Deliveries(ctx, r.NotificationID)
	require.NoError(t, err)
	assert.Len(t, ds, 1)

	// A nil transaction is refused too.
	_, err = d.SendTx(ctx, b.pg.Tx(nil), note("push", "e-nil", "dev-1"))
	assert.ErrorIs(t, err, notify.ErrNotQueued)
}

// count returns how many rows table of schema has.
func count(t *testing.T, pool *pgxpool.Pool, schema, table string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n))
	return n
}
