package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify"
)

// batchTimeout bounds one group-commit transaction. It does not depend on
// the callers' contexts: a transaction runs for every caller in it.
const batchTimeout = 30 * time.Second

// maxBatch is how many writes one transaction serves at most.
const maxBatch = 512

// writeFunc is one write: statements run through w, inside a transaction
// (and a savepoint of its own when it shares the transaction).
type writeFunc func(ctx context.Context, w *wtx) error

// writeReq is one write waiting for the writer.
type writeReq struct {
	fn writeFunc
	// isolate runs fn in a savepoint even on the first pass (see run):
	// for a write whose fn calls code of the caller's.
	isolate bool
	err     error
	state   atomic.Int32 // reqPending, reqTaken or reqAbandoned
	done    chan struct{}
}

const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

// writer owns the database's one write connection and runs every write
// of the Backend through it: writes that arrive while a transaction
// commits wait, and the next transaction runs them all (group commit),
// each in a savepoint of its own so that one failing write does not undo
// the others. Nobody waits on a timer: an idle writer commits a lone
// write at once, and under load one commit (one fsync of the WAL) serves
// many writes.
type writer struct {
	db   *sql.DB // one connection
	reqs chan *writeReq
	stop chan struct{} // closed by close
	done chan struct{} // closed when the loop returns

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // prepared on db
	wanted map[string]bool      // to prepare between transactions

	commits atomic.Uint64
	writes  atomic.Uint64
}

func newWriter(db *sql.DB) *writer {
	w := &writer{
		db:     db,
		reqs:   make(chan *writeReq, maxBatch),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		stmts:  map[string]*sql.Stmt{},
		wanted: map[string]bool{},
	}
	go w.loop()
	return w
}

// do runs fn in the next transaction and returns its error, or the
// commit's. A ctx that ends before the write starts takes it back (nothing
// is written); one that ends while it runs returns ctx's error, and the
// caller cannot know whether the write committed.
func (w *writer) do(ctx context.Context, fn writeFunc, isolate bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{fn: fn, isolate: isolate, done: make(chan struct{})}
	select {
	case w.reqs <- r:
	case <-w.stop:
		return notify.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			return ctx.Err()
		}
		select { // taken: it runs without its caller; wait a moment for it
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		case <-w.stop:
			w.failPending()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.run(batch)
		w.prepareWanted()
	}
}

// failPending answers the writes still queued at close.
func (w *writer) failPending() {
	for {
		select {
		case r := <-w.reqs:
			r.err = notify.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// run runs batch in one transaction. Writes run one after the other,
// bare: a write that fails is rare (a full disk, a bug), so rather than a
// savepoint around each (three more statements per write), the first
// failure rolls the transaction back and the batch runs again with each
// write in a savepoint of its own, where a failing write undoes only
// itself. Writes marked isolate get their savepoint on the first pass too.
func (w *writer) run(batch []*writeReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			live = append(live, r)
		} else {
			close(r.done)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	finish := func(err error) {
		for _, r := range live {
			if err != nil {
				r.err = err
			}
			close(r.done)
		}
	}
	var t *wtx
	for pass := 0; ; pass++ {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			finish(fmt.Errorf("sqlite: begin a transaction: %w", err))
			return
		}
		t = &wtx{tx: tx, w: w}
		if len(live) == 1 && !live[0].isolate {
			// Alone: the transaction is the write's own.
			r := live[0]
			if r.err = r.fn(ctx, t); r.err != nil {
				_ = tx.Rollback()
				finish(nil)
				return
			}
			break
		}
		failed := false
		for _, r := range live {
			if pass > 0 || r.isolate {
				r.err = t.savepoint(ctx, r.fn)
				continue
			}
			if r.err = r.fn(ctx, t); r.err != nil {
				failed = true
				break
			}
		}
		if !failed {
			break
		}
		_ = tx.Rollback()
	}
	if err := t.tx.Commit(); err != nil {
		finish(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	w.commits.Add(1)
	w.writes.Add(uint64(len(live)))
	for _, f := range t.after {
		f()
	}
	finish(nil)
}

// prepareWanted prepares the statements the last transactions ran
// unprepared, while no transaction holds the connection.
func (w *writer) prepareWanted() {
	w.mu.Lock()
	var todo []string
	for q := range w.wanted {
		todo = append(todo, q)
	}
	clear(w.wanted)
	w.mu.Unlock()
	for _, q := range todo {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		st, err := w.db.PrepareContext(ctx, q)
		cancel()
		if err != nil {
			continue // it runs unprepared; a later transaction asks again
		}
		w.mu.Lock()
		if _, ok := w.stmts[q]; ok {
			st.Close()
		} else {
			w.stmts[q] = st
		}
		w.mu.Unlock()
	}
}

// close stops the loop after the transaction running, failing the writes
// still queued with notify.ErrClosed, and closes the prepared statements.
func (w *writer) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.stmts {
		st.Close()
	}
	clear(w.stmts)
}

// wtx runs statements in one transaction: the writer's, or a host's
// (Backend.Tx). Statements the writer has prepared are reused.
type wtx struct {
	tx *sql.Tx
	w  *writer
	// after runs once the transaction has committed (wake-ups); a host's
	// transaction hands them to the commit hook instead.
	after []func()
	// onCommit, when set (a host's transaction), takes the after
	// functions instead.
	onCommit func(func())
}

func (t *wtx) afterCommit(f func()) {
	if t.onCommit != nil {
		t.onCommit(f)
		return
	}
	t.after = append(t.after, f)
}

// stmt returns q prepared on the write connection, or nil (then q runs
// unprepared and is prepared between transactions).
func (t *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	t.w.mu.Lock()
	st := t.w.stmts[q]
	if st == nil {
		t.w.wanted[q] = true
	}
	t.w.mu.Unlock()
	if st == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

func (t *wtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *wtx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *wtx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// savepoint runs fn in a savepoint: its statements are undone if it fails,
// and the transaction goes on.
func (t *wtx) savepoint(ctx context.Context, fn writeFunc) error {
	if _, err := t.exec(ctx, "SAVEPOINT w"); err != nil {
		return fmt.Errorf("sqlite: savepoint: %w", err)
	}
	nafter := len(t.after)
	if err := fn(ctx, t); err != nil {
		t.after = t.after[:nafter]
		_, rerr := t.exec(ctx, "ROLLBACK TO w")
		_, relErr := t.exec(ctx, "RELEASE w")
		return errors.Join(err, rerr, relErr)
	}
	if _, err := t.exec(ctx, "RELEASE w"); err != nil {
		return fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return nil
}
