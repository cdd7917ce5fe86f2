package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
)

// DefaultSchema is the schema the package's tables live in when a Config
// names none.
const DefaultSchema = "notify"

// Config configures a Backend. Zero values mean the defaults noted.
type Config struct {
	// Schema holds the tables, created and upgraded by Backend.Migrate.
	// Default "notify". Up to 56 ASCII letters, digits and underscores, not
	// starting with a digit. Backends of one schema, in one process or in
	// many, share its queue, log and claims.
	Schema string
	// Visibility is how long a received job stays leased before another
	// receiver may take it. It must exceed the longest time a job is held
	// before it is acked (a send and its bookkeeping), unless the lease is
	// extended (Queue.Extend; the Dispatcher does). Default 5m.
	Visibility time.Duration
	// PollInterval bounds how long a waiting Receive goes without looking
	// at the table when no notification arrives: the fallback for lost
	// LISTEN/NOTIFY wake-ups. Default 5s.
	PollInterval time.Duration
	// Retention is how long Store.Prune keeps log events. Default (zero)
	// 30 days; negative: forever (Prune deletes none). Keep it above the
	// Dispatcher's DedupTTL.
	Retention time.Duration
	// Logger receives the queue listener's reconnection warnings. Default
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// schemaRE allows 56 characters at most: the NOTIFY channel, the schema's
// name plus ".queue", must fit PostgreSQL's 63-byte identifiers.
var schemaRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,55}$`)

func checkSchema(s string) error {
	if !schemaRE.MatchString(s) {
		return fmt.Errorf("postgres: schema name %q: use 1 to 56 ASCII letters, digits and underscores, not starting with a digit", s)
	}
	return nil
}

// Backend is notify's durable state in one PostgreSQL schema: a Queue, a
// Store (contacts, preferences and the notification log) and a Deduper on
// one pool, which write to each other's tables in one statement, and Tx,
// which binds the three to a caller's transaction for
// notify.Dispatcher.SendTx. It is safe for concurrent use.
type Backend struct {
	pool  *pgxpool.Pool
	cfg   Config
	queue *Queue
	store *Store
	dedup *Deduper
}

// New returns the Backend of cfg.Schema on pool's database. It does no
// I/O: call Migrate before the first use of the schema. The Backend does
// not own pool: Close leaves it open.
func New(pool *pgxpool.Pool, cfg Config) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("postgres: New needs a pool (pgxpool.New)")
	}
	cfg = cfg.withDefaults()
	if err := checkSchema(cfg.Schema); err != nil {
		return nil, err
	}
	return &Backend{
		pool:  pool,
		cfg:   cfg,
		queue: newQueue(pool, cfg),
		store: newStore(pool, cfg),
		dedup: newDeduper(pool, cfg.Schema),
	}, nil
}

// Queue returns the Backend's notify.Queue (notify.Config.Queue of the
// Dispatcher).
func (b *Backend) Queue() *Queue { return b.queue }

// Store returns the Backend's notify.Store (notify.Config.Store of the
// Dispatcher).
func (b *Backend) Store() *Store { return b.store }

// Deduper returns the Backend's notify.Deduper (notify.Config.Deduper of the
// Dispatcher).
func (b *Backend) Deduper() *Deduper { return b.dedup }

// Migrate creates or upgrades the Backend's tables in its schema, which it
// creates when missing: it applies, in order and in one transaction, every
// migration embedded in the package that the schema's schema_migrations
// table does not record yet. It holds a transaction-level advisory lock
// while it works, so many processes may call it at start-up at once: one
// applies the migrations, the others wait and then find nothing to do. It
// is idempotent. Call it before the first use of the schema.
func (b *Backend) Migrate(ctx context.Context) error {
	return migrate(ctx, b.pool, b.cfg.Schema)
}

// Close closes the Queue (see Queue.Close): blocked Receives return
// notify.ErrClosed, as does every later Queue call. It does not close the
// pool; the Store and the Deduper keep working.
func (b *Backend) Close() error { return b.queue.Close() }

// String names the Backend by its schema.
func (b *Backend) String() string { return fmt.Sprintf("postgres.Backend (schema %q)", b.cfg.Schema) }

// Tx returns tx, a transaction on the Backend's database, as the
// notify.Tx of Dispatcher.SendTx: the notification's dedup claim, log rows
// and queue rows are written through tx, and commit or roll back with it.
//
// SendTx refuses (a *notify.ForeignBackendError, nothing written) unless
// the Dispatcher's Queue, Store and Deduper are this Backend's own, or
// wrappers that unwrap to them (notify.As): a Dispatcher with an SQS
// queue, a memory store, a Redis deduper or another Backend's would
// otherwise accept notifications into tables no worker reads, or
// de-duplicate in two places. Through tx, the Backend's own values are
// written, bypassing such wrappers. A Dispatcher without a Deduper still
// has its event IDs de-duplicated through tx, in this Backend's claims, as
// if it had Deduper().
func (b *Backend) Tx(tx pgx.Tx) notify.Tx { return txBinder{b: b, tx: tx} }

// txBinder is Backend.Tx's notify.Tx.
type txBinder struct {
	b  *Backend
	tx pgx.Tx
}

// Bind returns the Backend's Queue, Store and Deduper bound to the
// transaction, after checking that ab's are the Backend's own.
func (t txBinder) Bind(ab notify.AcceptBackends) (notify.AcceptBackends, error) {
	b := t.b
	if b == nil || t.tx == nil {
		return notify.AcceptBackends{}, fmt.Errorf("postgres: Tx needs a Backend and a transaction (pool.Begin): %w", notify.ErrNotQueued)
	}
	if err := notify.CheckOwned("Queue", b.String(), ab.Queue, b.queue, another[*Queue]("Queue")); err != nil {
		return notify.AcceptBackends{}, err
	}
	if err := notify.CheckOwned("Store", b.String(), ab.EventLog, b.store, another[*Store]("Store")); err != nil {
		return notify.AcceptBackends{}, err
	}
	if ab.Deduper != nil {
		if err := notify.CheckOwned("Deduper", b.String(), ab.Deduper, b.dedup, another[*Deduper]("Deduper")); err != nil {
			return notify.AcceptBackends{}, err
		}
	}
	return notify.AcceptBackends{
		Queue:    b.queue.withTx(t.tx),
		EventLog: b.store.withTx(t.tx),
		Deduper:  b.dedup.withTx(t.tx),
	}, nil
}

// another describes a Queue, Store or Deduper of another Backend.
func another[T interface{ ownSchema() string }](role string) func(T) string {
	return func(v T) string {
		return fmt.Sprintf("the %s of another postgres.Backend (schema %q)", role, v.ownSchema())
	}
}

func (q *Queue) ownSchema() string   { return q.core.cfg.Schema }
func (s *Store) ownSchema() string   { return s.core.cfg.Schema }
func (d *Deduper) ownSchema() string { return d.schema }
