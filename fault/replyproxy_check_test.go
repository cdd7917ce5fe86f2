package fault_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultReplyProxy checks the proxy that loses commit replies: the
// every-th transaction end (an implicit transaction's Sync, a COMMIT) is
// committed but its reply never reaches the client; BEGIN, statements
// inside a transaction and statement preparation are not counted; an SSL
// request is declined; asynchronous notifications pass at once.
func TestFaultReplyProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := pgEnv(t)
	admin := env.admin
	schema := randomName("ntf_proxy_")
	table := pgx.Identifier{schema, "t"}.Sanitize()
	_, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+"; CREATE TABLE "+table+" (v int PRIMARY KEY)")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})

	p, err := startReplyProxy(env.hostPort, 2)
	require.NoError(t, err)
	defer p.Close()
	connect := func(sslmode string) *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, env.dsn(p.Addr(), "ntf_proxy_test", sslmode))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	committed := func(v int) bool {
		t.Helper()
		var n int
		require.NoError(t, admin.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE v = $1", v).Scan(&n))
		return n == 1
	}

	// Implicit transactions (extended protocol, prepared first).
	c1 := connect("disable")
	_, err = c1.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 1)
	require.NoError(t, err, "end 1 is relayed")
	_, err = c1.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 2)
	require.Error(t, err, "end 2's reply is lost")
	assert.True(t, committed(2), "the statement whose reply was lost committed")
	assert.EqualValues(t, 2, p.Ends())
	assert.EqualValues(t, 1, p.Dropped())

	// An explicit transaction: only COMMIT ends it.
	c2 := connect("disable")
	tx, err := c2.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 3)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx), "end 3 is relayed")
	assert.EqualValues(t, 3, p.Ends(), "BEGIN and the statement inside the transaction are not ends")
	tx, err = c2.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 4)
	require.NoError(t, err)
	require.Error(t, tx.Commit(ctx), "end 4, a COMMIT, loses its reply")
	assert.True(t, committed(4), "the COMMIT whose reply was lost committed")
	assert.EqualValues(t, 2, p.Dropped())

	// SSL declined by the proxy; notifications relayed while idle.
	c3 := connect("prefer")
	channel := randomName("ntf_proxy_ch_")
	_, err = c3.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
	require.NoError(t, err, "end 5 is relayed")
	_, err = admin.Exec(ctx, "SELECT pg_notify($1, 'hello')", channel)
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	n, err := c3.WaitForNotification(wctx)
	require.NoError(t, err)
	assert.Equal(t, "hello", n.Payload)
	var one int
	err = c3.QueryRow(ctx, "SELECT 1").Scan(&one)
	require.Error(t, err, "end 6, a read, loses its reply too")
	assert.EqualValues(t, 6, p.Ends(), fmt.Sprintf("dropped %d", p.Dropped()))
	assert.EqualValues(t, 3, p.Dropped())
	ends, dropped := p.ByApp("ntf_proxy_test")
	assert.EqualValues(t, 6, ends, "ends by application_name")
	assert.EqualValues(t, 3, dropped, "lost replies by application_name")
}
