package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	dredis "github.com/gonotify/notify/dedup/redis"
	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/postgres"
	qmem "github.com/gonotify/notify/queue/memory"
	"github.com/gonotify/notify/queue/sqs"
	rmem "github.com/gonotify/notify/ratelimit/memory"
	rredis "github.com/gonotify/notify/ratelimit/redis"
	"github.com/gonotify/notify/sqlite"
	smem "github.com/gonotify/notify/store/memory"
)

// defaultSQLite is the SQLite file notifyd uses when no backend is given.
const defaultSQLite = "notifyd.db"

// backends are the Dispatcher's backends and the API's key store, chosen
// by the configuration.
type backends struct {
	queue   notify.Queue
	store   notify.Store
	dedup   notify.Deduper
	limiter notify.Limiter
	keys    notifyhttp.KeyStore
	// durable is false in the memory mode: a restart loses everything.
	durable bool
	// keysInMemory: the API keys come from --key-file or
	// NOTIFYD_BOOTSTRAP_KEY (memory and SQLite modes), not a key store.
	keysInMemory bool
	// roles names each role's backend ("queue": "postgres"), for the
	// start-up log.
	roles map[string]string
	// pings are what readiness checks, by backend name.
	pings   map[string]func(ctx context.Context) error
	closers []func()
	// sqs is the SQS queue, when deliveries go through SQS.
	sqs *sqs.Queue
}

// role records that backend plays each of roles.
func (b *backends) role(backend string, roles ...string) {
	for _, r := range roles {
		b.roles[r] = backend
	}
}

// ready reports the first backend that does not answer.
func (b *backends) ready(ctx context.Context) error {
	for name, ping := range b.pings {
		if err := ping(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// close releases the backends, last opened first.
func (b *backends) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// checkBackends refuses combinations that cannot work, before anything is
// opened.
func checkBackends(cfg *Config) error {
	if cfg.SQSRegion != "" || cfg.SQSEndpoint != "" {
		if cfg.PostgresURL == "" {
			return errors.New("--sqs-* needs --postgres-url: SQS carries the deliveries, PostgreSQL keeps the log, contacts and API keys")
		}
	}
	if cfg.PostgresURL != "" && cfg.KeyEncryptionKey == "" {
		return errors.New("--postgres-url needs --key-encryption-key (or NOTIFYD_KEY_ENCRYPTION_KEY): the AES key that encrypts API secrets in the database; make one with: openssl rand -base64 32")
	}
	switch {
	case cfg.SQLite != "" && cfg.PostgresURL != "":
		return errors.New("--sqlite and --postgres-url both name the durable backend: give one")
	case cfg.Memory && (cfg.SQLite != "" || cfg.PostgresURL != ""):
		return errors.New("--memory keeps everything in memory: drop it, or drop --sqlite/--postgres-url")
	}
	return nil
}

// encryptionKey decodes --key-encryption-key.
func encryptionKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("--key-encryption-key is not base64; make one with: openssl rand -base64 32")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("--key-encryption-key decodes to %d bytes; want 32 (AES-256): openssl rand -base64 32", len(k))
	}
	return k, nil
}

// openPostgres connects to cfg.PostgresURL and checks the connection.
func openPostgres(ctx context.Context, cfg *Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("--postgres-url: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("--postgres-url: connect: %w", err)
	}
	return pool, nil
}

// openBackends opens the backends cfg names; with none, everything is in
// memory.
func openBackends(ctx context.Context, cfg *Config, log *slog.Logger) (_ *backends, err error) {
	if err := checkBackends(cfg); err != nil {
		return nil, err
	}
	b := &backends{pings: map[string]func(context.Context) error{}, roles: map[string]string{}}
	defer func() {
		if err != nil {
			b.close()
		}
	}()

	switch {
	case cfg.PostgresURL != "":
		pool, err := openPostgres(ctx, cfg)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, pool.Close)
		pg, err := postgres.New(pool, postgres.Config{Schema: cfg.PostgresSchema, Visibility: cfg.QueueVisibility, Logger: log})
		if err != nil {
			return nil, err
		}
		if err := pg.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("postgres: migrate schema %q: %w", cfg.PostgresSchema, err)
		}
		b.closers = append(b.closers, func() { _ = pg.Close() })
		ks, err := openKeyStore(ctx, cfg, pool)
		if err != nil {
			return nil, err
		}
		b.queue, b.store, b.dedup, b.keys, b.durable = pg.Queue(), pg.Store(), pg.Deduper(), ks, true
		b.limiter = rmem.New(rmem.Config{})
		b.pings["postgres"] = pool.Ping
		b.role("postgres", "queue", "store", "dedup", "keys")
		b.roles["schema"] = cfg.PostgresSchema
	case !cfg.Memory:
		path := cfg.SQLite
		if path == "" {
			path = defaultSQLite
			log.Info("no backend given: using the SQLite file " + path + " (--sqlite PATH to choose it, --postgres-url for several machines, --memory for nothing durable)")
		}
		db, err := sqlite.Open(path, sqlite.Config{Visibility: cfg.QueueVisibility})
		if err != nil {
			return nil, fmt.Errorf("--sqlite %s: %w", path, err)
		}
		b.closers = append(b.closers, func() { _ = db.Close() })
		if err := db.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("--sqlite %s: migrate: %w", path, err)
		}
		if cfg.KeyFile == "" {
			cfg.KeyFile = path + ".keys" // keys that survive a restart, beside the data
		}
		b.queue, b.store, b.dedup, b.durable = db.Queue(), db.Store(), db.Deduper(), true
		b.keys, b.keysInMemory = notifyhttp.NewMemoryKeys(), true
		b.limiter = rmem.New(rmem.Config{})
		b.pings["sqlite"] = db.DB().PingContext
		b.role("sqlite", "queue", "store", "dedup")
		b.role("key-file", "keys")
		b.roles["sqlite"] = path
	default:
		b.queue = qmem.New(qmem.Config{Visibility: cfg.QueueVisibility})
		b.store = smem.New(smem.Config{})
		b.dedup = dmem.New(dmem.Config{})
		b.limiter = rmem.New(rmem.Config{})
		b.keys, b.keysInMemory = notifyhttp.NewMemoryKeys(), true
		q := b.queue
		b.closers = append(b.closers, func() { _ = q.Close() })
		b.role("memory", "queue", "store", "dedup", "keys")
	}

	if cfg.SQSRegion != "" || cfg.SQSEndpoint != "" {
		sq, err := sqs.New(ctx, sqs.Config{
			Region: cfg.SQSRegion, Endpoint: cfg.SQSEndpoint, CreateQueues: cfg.SQSCreateQueues,
			Visibility: cfg.QueueVisibility, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		b.queue, b.sqs = sq, sq
		b.closers = append(b.closers, func() { _ = sq.Close() })
		b.role("sqs", "queue")
	}

	if cfg.RedisAddr != "" {
		rdb := goredis.NewClient(&goredis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, DB: cfg.RedisDB})
		b.closers = append(b.closers, func() { _ = rdb.Close() })
		if err := rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("--redis-addr %s: %w", cfg.RedisAddr, err)
		}
		dd, err := dredis.New(rdb, dredis.Config{Logger: log})
		if err != nil {
			return nil, err
		}
		lim, err := rredis.New(rdb, rredis.Config{Logger: log})
		if err != nil {
			return nil, err
		}
		b.dedup, b.limiter = dd, lim
		b.pings["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
		b.role("redis", "dedup", "ratelimit")
	} else {
		b.role("memory", "ratelimit")
	}
	return b, nil
}
