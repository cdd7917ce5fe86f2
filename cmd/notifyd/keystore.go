package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/notifyhttp/pgkeys"
)

// openKeyStore returns the PostgreSQL key store of cfg on pool (in the
// schema of notify's own tables), its table created when missing.
func openKeyStore(ctx context.Context, cfg *Config, pool *pgxpool.Pool) (notifyhttp.KeyStore, error) {
	key, err := encryptionKey(cfg.KeyEncryptionKey)
	if err != nil {
		return nil, err
	}
	ks, err := pgkeys.New(pool, pgkeys.Config{Schema: cfg.PostgresSchema, EncryptionKey: key})
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	if err := ks.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	return ks, nil
}
