package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/postgres"
)

// testDB connects to the test server and migrates a schema of the test's
// own (random name), dropped when the test ends.
func testDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err, "parse NOTIFY_TEST_POSTGRES_URL")
	cfg.MaxConns = 16
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err, "connect to PostgreSQL")
	t.Cleanup(pool.Close)
	schema := randomSchema()
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.MigrateConfig{Schema: schema}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		if err != nil {
			t.Logf("drop test schema %s: %v", schema, err)
		}
	})
	return pool, schema
}

func randomSchema() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "nt_" + hex.EncodeToString(b[:])
}
