package pgkeys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/notifyhttp/pgkeys"
)

// newStore returns a migrated Store in a fresh schema, dropped after the test.
func newStore(t *testing.T, encKey []byte) (*pgkeys.Store, *pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pgkeys_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	s, err := pgkeys.New(pool, pgkeys.Config{Schema: schema, EncryptionKey: encKey})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Migrate(ctx), "Migrate is idempotent")
	return s, pool, schema
}

func key32() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func TestStore(t *testing.T) {
	enc := key32()
	s, pool, schema := newStore(t, enc)
	ctx := context.Background()

	_, err := s.Key(ctx, "nk_missing")
	assert.ErrorIs(t, err, notify.ErrNotFound)

	k, secret, err := notifyhttp.NewKey("billing", notifyhttp.ScopeSend, notifyhttp.ScopeRead)
	require.NoError(t, err)
	k.Limit = &notify.Limit{Rate: 10, Per: time.Second, Burst: 20}
	k.CreatedAt = k.CreatedAt.Truncate(time.Microsecond)
	require.NoError(t, s.PutKey(ctx, k))
	got, err := s.Key(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k.ID, got.ID)
	assert.Equal(t, "billing", got.Name)
	assert.Equal(t, k.Scopes, got.Scopes)
	assert.Equal(t, *k.Limit, *got.Limit)
	assert.True(t, k.CreatedAt.Equal(got.CreatedAt))
	require.Len(t, got.Secrets, 1)
	assert.Equal(t, secret, string(got.Secrets[0].Value))
	assert.True(t, got.RevokedAt.IsZero())

	// Encrypted at rest: the row's bytes do not hold the secret.
	var blob []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT secrets FROM "+pgx.Identifier{schema, "api_keys"}.Sanitize()+" WHERE id = $1", k.ID).Scan(&blob))
	assert.False(t, bytes.Contains(blob, []byte(secret)), "the secret is stored in clear")
	assert.False(t, bytes.Contains(blob, []byte(secret[4:20])))

	// Rotation and revocation round-trip.
	now := time.Now().Truncate(time.Microsecond)
	newSecret, err := notifyhttp.Rotate(&got, time.Hour, now)
	require.NoError(t, err)
	got.RevokedAt = now.Add(time.Minute)
	got.Limit = nil
	require.NoError(t, s.PutKey(ctx, got))
	again, err := s.Key(ctx, k.ID)
	require.NoError(t, err)
	require.Len(t, again.Secrets, 2)
	assert.Equal(t, secret, string(again.Secrets[0].Value))
	assert.True(t, again.Secrets[0].ExpiresAt.Equal(now.Add(time.Hour)))
	assert.Equal(t, newSecret, string(again.Secrets[1].Value))
	assert.True(t, again.Secrets[1].ExpiresAt.IsZero())
	assert.True(t, again.RevokedAt.Equal(now.Add(time.Minute)))
	assert.Nil(t, again.Limit)

	k2, _, err := notifyhttp.NewKey("ops", notifyhttp.ScopeAdmin)
	require.NoError(t, err)
	require.NoError(t, s.PutKey(ctx, k2))
	all, err := s.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)

	// A row's secrets cannot be read under another encryption key, nor
	// moved onto another key's row.
	other, err := pgkeys.New(pool, pgkeys.Config{Schema: schema, EncryptionKey: key32()})
	require.NoError(t, err)
	_, err = other.Key(ctx, k.ID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "EncryptionKey")
	assert.NotContains(t, err.Error(), secret)
	_, err = pool.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "api_keys"}.Sanitize()+" SET secrets = $1 WHERE id = $2", blob, k2.ID)
	require.NoError(t, err)
	_, err = s.Key(ctx, k2.ID)
	assert.Error(t, err, "a blob bound to another key ID must not decrypt")
}

func TestNewChecksConfig(t *testing.T) {
	_, err := pgkeys.New(nil, pgkeys.Config{EncryptionKey: key32()})
	assert.Error(t, err)
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none")
	require.NoError(t, err)
	defer pool.Close()
	_, err = pgkeys.New(pool, pgkeys.Config{EncryptionKey: make([]byte, 16)})
	assert.ErrorContains(t, err, "32")
	_, err = pgkeys.New(pool, pgkeys.Config{Schema: "bad;schema", EncryptionKey: key32()})
	assert.ErrorContains(t, err, "schema")
}
