package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
)

// The queue and store Backend.Tx binds to a transaction write the log and
// the jobs in it, and only with each other.
func TestLoggedInTx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, schema := internalTestDB(t)
	// begin starts a transaction that is rolled back, if still open, when
	// the test ends (before the schema is dropped: a failed check must not
	// leave it holding locks).
	begin := func() pgx.Tx {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		return tx
	}
	pg, err := New(pool, Config{Schema: schema, Visibility: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close() })
	q, s := pg.Queue(), pg.Store()

	ev := func(id string, st notify.Status) []notify.Event {
		return []notify.Event{{DeliveryID: id, NotificationID: "n", Status: st, At: time.Now()}}
	}
	job := func(id string) []notify.Job { return []notify.Job{{Queue: "push", ID: id}} }
	ready := func() int {
		st, err := q.Stats(ctx, "push")
		require.NoError(t, err)
		return st.Ready
	}
	logged := func(id string) bool {
		_, err := s.Delivery(ctx, id)
		if errors.Is(err, notify.ErrNotFound) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	// Rolled back: nothing.
	tx := begin()
	require.NoError(t, q.withTx(tx).EnqueueLogged(ctx, s.withTx(tx), ev("d1", notify.StatusQueued), job("d1")))
	require.NoError(t, tx.Rollback(ctx))
	assert.Equal(t, 0, ready())
	assert.False(t, logged("d1"))

	// Mismatched bindings are refused before anything is written.
	tx = begin()
	other := begin()
	for name, pair := range map[string][2]any{
		"tx queue, pool store":    {q.withTx(tx), s},
		"pool queue, tx store":    {q, s.withTx(tx)},
		"queue and store, two tx": {q.withTx(tx), s.withTx(other)},
	} {
		qq, ss := pair[0].(*Queue), pair[1].(*Store)
		err := qq.EnqueueLogged(ctx, ss, ev("d2", notify.StatusQueued), job("d2"))
		assert.ErrorIs(t, err, errors.ErrUnsupported, name)
	}
	require.NoError(t, other.Rollback(ctx))

	// Committed: both, and the job can be acked with its event in another tx.
	require.NoError(t, q.withTx(tx).EnqueueLogged(ctx, s.withTx(tx), ev("d2", notify.StatusQueued), job("d2")))
	assert.Equal(t, 0, ready(), "uncommitted rows are visible outside the transaction")
	require.NoError(t, tx.Commit(ctx))
	assert.Equal(t, 1, ready())
	assert.True(t, logged("d2"))
	assert.False(t, logged("d1"))

	leases, err := q.Receive(ctx, "push", 1)
	require.NoError(t, err)
	require.Len(t, leases, 1)
	tx = begin()
	require.NoError(t, q.withTx(tx).AckLogged(ctx, s.withTx(tx), leases[0], ev("d2", notify.StatusSent)[0]))
	require.ErrorIs(t, q.withTx(tx).AckLogged(ctx, s.withTx(tx), leases[0], ev("d2", notify.StatusSent)[0]), notify.ErrLeaseLost)
	require.NoError(t, tx.Commit(ctx))
	ds, err := s.Delivery(ctx, "d2")
	require.NoError(t, err)
	assert.Len(t, ds.Events, 3)
	st, err := q.Stats(ctx, "push")
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st)
}

// internalTestDB is testDB for this package's internal tests: a pool and a
// migrated schema of its own, dropped when the test ends.
func internalTestDB(t *testing.T) (*pgxpool.Pool, string) {
	url := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "nt_" + hex.EncodeToString(b[:])
	require.NoError(t, migrate(ctx, pool, schema))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	return pool, schema
}

// Two Dedupers whose combined claims hold the same keys in opposite orders
// must not deadlock: each statement claims its keys in key order.
func TestClaimsSameKeysOppositeOrders(t *testing.T) {
	pool, schema := internalTestDB(t)
	dds := make([]*Deduper, 2)
	for i := range dds {
		pg, err := New(pool, Config{Schema: schema})
		require.NoError(t, err)
		dds[i] = pg.Deduper()
	}
	for round := range 20 {
		reqs := make([][]*claimReq, 2)
		for i := range 100 {
			key := fmt.Sprintf("r%02d-k%03d", round, i)
			reqs[0] = append(reqs[0], &claimReq{key: key, owner: "a", ttl: time.Hour})
			reqs[1] = append(reqs[1], &claimReq{key: key, owner: "b", ttl: time.Hour})
		}
		slices.Reverse(reqs[1])
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range dds {
			wg.Go(func() { errs[i] = dds[i].runClaims(t.Context(), reqs[i]) })
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...), "round %d", round)
		for i := range 100 {
			a, b := reqs[0][i], reqs[1][99-i]
			require.True(t, a.claimed != b.claimed, "key %s: exactly one claim wins", a.key)
		}
	}
}
