package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
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
	rolled, err := b.store.SendTx(ctx, d, tx, note("push", "order-o1-shipped", "dev-1"))
	require.NoError(t, err)
	require.Len(t, rolled.Deliveries, 1)
	require.NoError(t, tx.Rollback(ctx))

	// Committed, with the same event ID: the rolled-back claim is gone, so
	// this is not a duplicate, and it is delivered.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+orders+" VALUES ('o1')")
	require.NoError(t, err)
	committed, err := b.store.SendTx(ctx, d, tx, note("push", "order-o1-shipped", "dev-1"))
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
	dup, err := b.store.SendTx(ctx, d, tx, note("push", "order-o1-shipped", "dev-1"))
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
