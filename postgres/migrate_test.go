package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// Many processes start at once: every Migrate succeeds and the migrations
// are applied once.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	pool, _ := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The longest schema name allowed: its NOTIFY channel must still work.
	schema := randomSchema()
	schema += strings.Repeat("x", 56-len(schema))
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	// A Backend per process.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		pg := newPG(t, pool, postgres.Config{Schema: schema})
		wg.Go(func() { errs[i] = pg.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "Migrate %d of %d concurrent calls", i, len(errs))
	}
	pg := newPG(t, pool, postgres.Config{Schema: schema, PollInterval: time.Minute})
	require.NoError(t, pg.Migrate(ctx), "Migrate again")

	var applied, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM "+
		pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&applied, &distinct))
	assert.Equal(t, distinct, applied, "a migration was recorded twice")
	assert.GreaterOrEqual(t, applied, 1)

	// The tables work, and so does NOTIFY: a Receive blocked before the
	// Enqueue wakes well before the fallback poll.
	q := pg.Queue()
	got := make(chan []notify.Lease, 1)
	go func() {
		ls, err := q.Receive(ctx, "q", 1)
		assert.NoError(t, err)
		got <- ls
	}()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, q.Enqueue(ctx, notify.Job{ID: "j1", Queue: "q", Delivery: &notify.Delivery{ID: "j1"}}))
	select {
	case ls := <-got:
		require.Len(t, ls, 1)
		assert.Equal(t, "j1", ls[0].Job.ID)
	case <-time.After(10 * time.Second):
		t.Fatal("a blocked Receive was not woken by NOTIFY")
	}
}

func TestBadSchemaName(t *testing.T) {
	// pgxpool.New does not connect: no server is needed.
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	defer pool.Close()
	for _, s := range []string{"1abc", `a"b`, "a-b", "with space", "x'; DROP TABLE y; --", strings.Repeat("a", 57)} {
		pg, err := postgres.New(pool, postgres.Config{Schema: s})
		assert.Error(t, err, "New with schema %q", s)
		assert.Nil(t, pg, "New with schema %q", s)
	}
	for _, s := range []string{"", "notify", "Tenant_7", "_x", strings.Repeat("a", 56)} {
		pg, err := postgres.New(pool, postgres.Config{Schema: s})
		if assert.NoError(t, err, "New with schema %q", s) {
			_ = pg.Close()
		}
	}
	_, err = postgres.New(nil, postgres.Config{})
	assert.Error(t, err, "New without a pool")
}

func TestQueueDeadListsBuriedJobs(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := newPG(t, pool, postgres.Config{Schema: schema}).Queue()
	del := &notify.Delivery{ID: "d1", NotificationID: "n1", Channel: "sms", Address: "+15550100", Message: notify.Message{Body: "hi"}}
	require.NoError(t, q.Enqueue(ctx, notify.Job{ID: "d1", Queue: "dead-q", Delivery: del}))
	ls, err := q.Receive(ctx, "dead-q", 1)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	require.NoError(t, q.Bury(ctx, ls[0], "retries exhausted: 503"))

	page, err := q.Dead(ctx, notify.DeadQuery{Queue: "dead-q"})
	require.NoError(t, err)
	dead := page.Jobs
	require.Len(t, dead, 1)
	assert.Equal(t, "d1", dead[0].Job.ID)
	assert.Equal(t, "retries exhausted: 503", dead[0].Reason)
	assert.Equal(t, 1, dead[0].Attempts)
	assert.Equal(t, del.Message, dead[0].Job.Delivery.Message)
	assert.WithinDuration(t, time.Now(), dead[0].DiedAt, time.Minute)

	require.NoError(t, q.Replay(ctx, "dead-q", "d1"))
	page, err = q.Dead(ctx, notify.DeadQuery{Queue: "dead-q"})
	require.NoError(t, err)
	assert.Empty(t, page.Jobs, "a replayed job is no longer dead")
}

func TestPrune(t *testing.T) {
	pool, schema := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newPG(t, pool, postgres.Config{Schema: schema, Retention: time.Hour}).Store()
	now := time.Now()
	require.NoError(t, s.Record(ctx,
		notify.Event{DeliveryID: "old", NotificationID: "n", Status: notify.StatusQueued, At: now.Add(-3 * time.Hour)},
		notify.Event{DeliveryID: "old", NotificationID: "n", Status: notify.StatusSent, At: now.Add(-2 * time.Hour)},
		notify.Event{DeliveryID: "new", NotificationID: "n", Status: notify.StatusQueued, At: now},
	))
	n, err := s.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "events older than the retention")
	_, err = s.Delivery(ctx, "old")
	assert.ErrorIs(t, err, notify.ErrNotFound, "a delivery whose events all aged out")
	_, err = s.Delivery(ctx, "new")
	assert.NoError(t, err, "a recent delivery survives Prune")

	forever := newPG(t, pool, postgres.Config{Schema: schema, Retention: -1}).Store()
	require.NoError(t, forever.Record(ctx, notify.Event{DeliveryID: "ancient", NotificationID: "n", Status: notify.StatusQueued, At: now.Add(-24 * 365 * time.Hour)}))
	n, err = forever.Prune(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "negative Retention keeps the log forever")
	_, err = s.Delivery(ctx, "ancient")
	assert.NoError(t, err)

	d := newPG(t, pool, postgres.Config{Schema: schema}).Deduper()
	ok, _, err := d.Claim(ctx, "short", "n1", time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	ok, _, err = d.Claim(ctx, "long", "n1", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	time.Sleep(10 * time.Millisecond)
	n, err = d.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "expired claims pruned")
	ok, holder, err := d.Claim(ctx, "long", "n2", time.Hour)
	require.NoError(t, err)
	assert.False(t, ok, "Prune removed a live claim")
	assert.Equal(t, "n1", holder)
}
