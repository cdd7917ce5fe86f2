package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/gonotify/notify"
)

// Config configures a Backend. Zero values mean the defaults noted.
type Config struct {
	// Visibility is how long a received job stays leased before another
	// receiver may take it, unless the lease is extended (Queue.Extend;
	// the Dispatcher does). Default 5m.
	Visibility time.Duration
	// Retention is how long Store.Prune keeps log events. Default (zero)
	// 30 days; negative: forever (Prune deletes none). Keep it above the
	// Dispatcher's DedupTTL.
	Retention time.Duration
	// Readers is how many read connections the Backend keeps (reads run
	// beside the one write connection, WAL mode). Default 4.
	Readers int
	// BusyTimeout is how long a connection waits for a lock the file's
	// other connections hold (SQLite's busy_timeout): a host's transaction
	// on Backend.DB, a checkpoint. Default 5s.
	BusyTimeout time.Duration
	// PollInterval bounds how long a waiting Receive goes without looking
	// at the table. Enqueues of this Backend wake receivers at once (also
	// those committed by a host's transaction on Backend.DB); the poll only
	// catches rows written to the file by other means. Default 1s.
	PollInterval time.Duration
	// Synchronous is SQLite's synchronous setting for the write
	// connection: "FULL" (the default) fsyncs the write-ahead log at every
	// commit, so a write that returned survives power loss; "NORMAL"
	// fsyncs only at checkpoints: a committed write survives a crash of
	// the process but the last ones may be lost with the machine's power.
	Synchronous string
}

func (c Config) withDefaults() (Config, error) {
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Minute
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.Readers <= 0 {
		c.Readers = 4
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	switch strings.ToUpper(c.Synchronous) {
	case "":
		c.Synchronous = "FULL"
	case "FULL", "NORMAL", "EXTRA":
		c.Synchronous = strings.ToUpper(c.Synchronous)
	default:
		return c, fmt.Errorf("sqlite: Config.Synchronous %q: use FULL (durable against power loss, the default), EXTRA or NORMAL", c.Synchronous)
	}
	return c, nil
}

// Backend is notify's durable state in one SQLite database file: a Queue,
// a Store (contacts, preferences and the notification log) and a Deduper,
// which write to each other's tables in one transaction, and Tx, which
// binds the three to a host's transaction for notify.Dispatcher.SendTx.
// One process owns the file while a Backend is open (see Open). It is
// safe for concurrent use.
type Backend struct {
	path string
	cfg  Config
	lock *os.File
	wdb  *sql.DB // the one write connection
	rdb  *sql.DB // the read connections
	w    *writer

	queue *Queue
	store *Store
	dedup *Deduper

	// The queue's state: receivers waiting per queue, and lease tokens.
	qmu     sync.Mutex
	qclosed bool
	qdone   chan struct{} // closed by Queue.Close
	waiters map[string]chan struct{}
	token   atomic.Int64

	wakeMu  sync.Mutex
	txWakes []func() // wake-ups due when the host's transaction commits

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it when missing) the database file at path and
// returns its Backend. It takes an exclusive lock on path+".lock" (flock)
// for as long as the Backend is open: a second Open of the same file, in
// this process or another, fails with a *LockedError. The file is put in
// WAL mode. Open creates no table: call Migrate before the first use.
// Close releases the file.
func Open(path string, cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: Open(%q): give the path of a database file (without '?' or '#'; not :memory:)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: Open(%q): %w", path, err)
	}
	lock, err := lockFile(abs + ".lock")
	if err != nil {
		return nil, err
	}
	b := &Backend{path: abs, cfg: cfg, lock: lock}
	fail := func(err error) (*Backend, error) {
		if b.wdb != nil {
			b.wdb.Close()
		}
		if b.rdb != nil {
			b.rdb.Close()
		}
		unlockFile(lock)
		return nil, err
	}
	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", cfg.BusyTimeout.Milliseconds())
	name := (&url.URL{Path: abs}).EscapedPath()
	b.wdb = sql.OpenDB(&connector{
		dsn:    name + "?" + busy + "&_pragma=journal_mode(WAL)&_pragma=synchronous(" + cfg.Synchronous + ")&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_txlock=immediate",
		onOpen: b.hookWriter,
	})
	b.wdb.SetMaxOpenConns(1)
	b.wdb.SetMaxIdleConns(1)
	b.wdb.SetConnMaxLifetime(0)
	b.wdb.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.BusyTimeout+10*time.Second)
	defer cancel()
	var mode string
	if err := b.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(fmt.Errorf("sqlite: open %s: %w", abs, err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("sqlite: open %s: the file is in journal mode %q, not WAL: is it on a file system without shared memory?", abs, mode))
	}
	b.rdb = sql.OpenDB(&connector{dsn: name + "?" + busy + "&_pragma=query_only(1)"})
	b.rdb.SetMaxOpenConns(cfg.Readers)
	b.rdb.SetMaxIdleConns(cfg.Readers)
	if err := b.rdb.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: open %s for reading: %w", abs, err))
	}
	b.w = newWriter(b.wdb)
	b.waiters = map[string]chan struct{}{}
	b.qdone = make(chan struct{})
	b.token.Store(newTokenSeed())
	b.queue = &Queue{b: b}
	b.store = &Store{b: b}
	b.dedup = &Deduper{b: b}
	return b, nil
}

// connector opens modernc.org/sqlite connections of one DSN, calling
// onOpen on each.
type connector struct {
	drv    msqlite.Driver
	dsn    string
	onOpen func(driver.Conn) error
}

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	if c.onOpen != nil {
		if err := c.onOpen(conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func (c *connector) Driver() driver.Driver { return &c.drv }

// hookWriter registers the write connection's commit and rollback hooks,
// which wake the receivers of jobs a host's transaction enqueued (see Tx)
// when it commits.
func (b *Backend) hookWriter(conn driver.Conn) error {
	h, ok := conn.(msqlite.HookRegisterer)
	if !ok {
		return fmt.Errorf("sqlite: the driver's connection (%T) takes no commit hook", conn)
	}
	h.RegisterCommitHook(func() int32 {
		b.runTxWakes(true)
		return 0
	})
	h.RegisterRollbackHook(func() { b.runTxWakes(false) })
	return nil
}

func (b *Backend) addTxWake(f func()) {
	b.wakeMu.Lock()
	b.txWakes = append(b.txWakes, f)
	b.wakeMu.Unlock()
}

// runTxWakes runs (commit) or drops (rollback) the wake-ups of the
// transaction ending. Receivers woken before the commit is complete wait
// for the write connection, which the committing transaction holds, so
// they see its rows.
func (b *Backend) runTxWakes(commit bool) {
	b.wakeMu.Lock()
	fs := b.txWakes
	b.txWakes = nil
	b.wakeMu.Unlock()
	if commit {
		for _, f := range fs {
			f()
		}
	}
}

// Queue returns the Backend's notify.Queue (notify.Config.Queue of the
// Dispatcher).
func (b *Backend) Queue() *Queue { return b.queue }

// Store returns the Backend's notify.Store (notify.Config.Store of the
// Dispatcher).
func (b *Backend) Store() *Store { return b.store }

// Deduper returns the Backend's notify.Deduper (notify.Config.Deduper of
// the Dispatcher).
func (b *Backend) Deduper() *Deduper { return b.dedup }

// DB returns the handle of the Backend's write connection, for the host's
// own tables and transactions: begin the transactions passed to Tx on it.
// It has one connection: a transaction on it holds every write of the
// Backend back until it ends, so keep it short, and do not call the
// Backend's methods (Send, say) from inside it, except through Tx
// (SendTx): they would wait for the transaction, which waits for them.
// Do not close it; Close does.
func (b *Backend) DB() *sql.DB { return b.wdb }

// Path returns the database file's absolute path.
func (b *Backend) Path() string { return b.path }

// WriteStats counts the Backend's write transactions since Open.
type WriteStats struct {
	// Commits is how many transactions the Backend committed: with the
	// default Config.Synchronous (FULL) each is one fsync of the log.
	Commits uint64
	// Writes is how many writes (Enqueue, Ack, Record, Claim, Accept, ...)
	// they carried: Writes/Commits is the mean group-commit batch.
	Writes uint64
}

// WriteStats returns the Backend's write counts. Transactions of the
// host's (Tx) are not counted.
func (b *Backend) WriteStats() WriteStats {
	return WriteStats{Commits: b.w.commits.Load(), Writes: b.w.writes.Load()}
}

// Close closes the Queue (blocked Receives return notify.ErrClosed), waits
// for the write running, fails the writes still queued with
// notify.ErrClosed, closes the connections and releases the file's lock.
// Later calls of the Backend's values return errors. It is idempotent.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.queue.Close()
		b.w.close()
		b.closeErr = errors.Join(b.rdb.Close(), b.wdb.Close())
		unlockFile(b.lock)
	})
	return b.closeErr
}

// String names the Backend by its file.
func (b *Backend) String() string { return fmt.Sprintf("sqlite.Backend (%s)", b.path) }

// boundTx is a host's transaction the Backend's values are bound to (Tx).
type boundTx struct {
	tx *sql.Tx
	// w, when set, is the writer's own transaction (RecordOnce's then):
	// writes run in savepoints of it.
	w       *wtx
	once    sync.Once
	errMine error // nil when tx is on the Backend's file
}

// write runs fn: through the writer (group commit) when bt is nil, else in
// a savepoint of the host's transaction bt.
func (b *Backend) write(ctx context.Context, bt *boundTx, fn writeFunc) error {
	return b.writeIsolated(ctx, bt, fn, false)
}

// writeIsolated is write, with fn in a savepoint of its own from the
// start when isolate is set (see writer.run).
func (b *Backend) writeIsolated(ctx context.Context, bt *boundTx, fn writeFunc, isolate bool) error {
	if bt == nil {
		return b.w.do(ctx, fn, isolate)
	}
	if bt.w != nil {
		return bt.w.savepoint(ctx, fn)
	}
	if err := b.checkTx(ctx, bt); err != nil {
		return err
	}
	t := &wtx{tx: bt.tx, w: b.w, onCommit: b.addTxWake}
	return t.savepoint(ctx, fn)
}

// checkTx checks, once per binding, that bt's transaction is on the
// Backend's file.
func (b *Backend) checkTx(ctx context.Context, bt *boundTx) error {
	bt.once.Do(func() {
		var file string
		if err := bt.tx.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
			bt.errMine = fmt.Errorf("sqlite: read the transaction's database file: %w", err)
			return
		}
		a, err1 := os.Stat(file)
		m, err2 := os.Stat(b.path)
		if err1 != nil || err2 != nil || !os.SameFile(a, m) {
			bt.errMine = fmt.Errorf("sqlite: the transaction is on %q, not on %s's file: begin it on Backend.DB(): %w", file, b, notify.ErrNotQueued)
		}
	})
	return bt.errMine
}

// querier is what reads run on: the read pool or a host's transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (b *Backend) reader(bt *boundTx) querier {
	if bt != nil {
		return bt.tx
	}
	return b.rdb
}

// Tx returns tx, a transaction begun on DB(), as the notify.Tx of
// Dispatcher.SendTx: the notification's dedup claim, log rows and queue
// rows are written through tx, and commit or roll back with it. Receivers
// are woken when tx commits.
//
// SendTx refuses (a *notify.ForeignBackendError, nothing written) unless
// the Dispatcher's Queue, Store and Deduper are this Backend's own, or
// wrappers that unwrap to them (notify.As). Through tx, the Backend's own
// values are written, bypassing such wrappers. A Dispatcher without a
// Deduper still has its event IDs de-duplicated through tx, in this
// Backend's claims, as if it had Deduper(). The first write through tx
// checks that tx is on this Backend's file, and fails (notify.ErrNotQueued)
// when it is not.
func (b *Backend) Tx(tx *sql.Tx) notify.Tx { return txBinder{b: b, tx: tx} }

// txBinder is Backend.Tx's notify.Tx.
type txBinder struct {
	b  *Backend
	tx *sql.Tx
}

// Bind returns the Backend's Queue, Store and Deduper bound to the
// transaction, after checking that ab's are the Backend's own.
func (t txBinder) Bind(ab notify.AcceptBackends) (notify.AcceptBackends, error) {
	b := t.b
	if b == nil || t.tx == nil {
		return notify.AcceptBackends{}, fmt.Errorf("sqlite: Tx needs a Backend and a transaction (Backend.DB().BeginTx): %w", notify.ErrNotQueued)
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
	bt := &boundTx{tx: t.tx}
	return notify.AcceptBackends{
		Queue:    b.queue.withTx(bt),
		EventLog: b.store.withTx(bt),
		Deduper:  b.dedup.withTx(bt),
	}, nil
}

// another describes a Queue, Store or Deduper of another Backend.
func another[T interface{ backend() *Backend }](role string) func(T) string {
	return func(v T) string {
		return fmt.Sprintf("the %s of another sqlite.Backend (%s)", role, v.backend().path)
	}
}

// nanos encodes t for an INTEGER column: Unix nanoseconds, NULL for the
// zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromNanos decodes an INTEGER time column.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}
