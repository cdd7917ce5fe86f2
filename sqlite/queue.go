package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var (
	_ notify.Queue              = (*Queue)(nil)
	_ notify.LeaseExtender      = (*Queue)(nil)
	_ notify.VisibilityReporter = (*Queue)(nil)
	_ notify.EventLogQueue      = (*Queue)(nil)
	_ notify.Accepter           = (*Queue)(nil)
)

// Queue is a notify.Queue in a SQLite file, a Backend's (Backend.Queue).
// All queues share one table; see the package documentation for the
// guarantees. It is safe for concurrent use.
type Queue struct {
	b  *Backend
	bt *boundTx // nil, or the host's transaction it writes through
}

func (q *Queue) backend() *Backend { return q.b }

func (q *Queue) withTx(bt *boundTx) *Queue { return &Queue{b: q.b, bt: bt} }

// newTokenSeed returns where a Backend's lease tokens start: random, so a
// lease of an earlier run of the process never matches one of this run.
func newTokenSeed() int64 {
	var buf [8]byte
	_, _ = rand.Read(buf[:])
	return int64(binary.LittleEndian.Uint64(buf[:]) >> 2)
}

const (
	sqlInsertJob = `INSERT INTO queue_jobs (queue, id, run_at, not_before, created_at, delivery)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (queue, id) DO NOTHING`
	sqlReceive = `UPDATE queue_jobs SET lease = ?, lease_until = ?, attempts = attempts + 1
		WHERE rowid IN (SELECT rowid FROM queue_jobs
			WHERE queue = ? AND state = 0 AND run_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY run_at LIMIT ?)
		RETURNING id, attempts, not_before, delivery, run_at, rowid`
	sqlNextDue = `SELECT min(
			(SELECT min(run_at) FROM queue_jobs WHERE queue = ?1 AND state = 0 AND lease IS NULL),
			(SELECT min(lease_until) FROM queue_jobs WHERE queue = ?1 AND state = 0 AND lease IS NOT NULL))`
	sqlAck    = `DELETE FROM queue_jobs WHERE queue = ? AND id = ? AND lease = ?`
	sqlNack   = `UPDATE queue_jobs SET run_at = ?, lease = NULL, lease_until = NULL WHERE queue = ? AND id = ? AND lease = ?`
	sqlExtend = `UPDATE queue_jobs SET lease_until = ? WHERE queue = ? AND id = ? AND lease = ?`
	sqlBury   = `UPDATE queue_jobs SET state = 1, lease = NULL, lease_until = NULL, run_at = ?, dead_reason = ?
		WHERE queue = ? AND id = ? AND lease = ?`
	sqlReplay = `UPDATE queue_jobs SET state = 0, attempts = 0, run_at = ?, lease = NULL, lease_until = NULL, dead_reason = NULL
		WHERE queue = ? AND id = ? AND state = 1`
	sqlStats = `SELECT
			coalesce(sum(state = 0 AND run_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2)), 0),
			coalesce(sum(state = 0 AND run_at > ?2), 0),
			coalesce(sum(state = 0 AND lease_until > ?2), 0),
			coalesce(sum(state = 1), 0),
			min(CASE WHEN state = 0 AND run_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2) THEN coalesce(lease_until, run_at) END)
		FROM queue_jobs WHERE queue = ?1`
	sqlDead = `SELECT id, attempts, not_before, delivery, coalesce(dead_reason, ''), run_at
		FROM queue_jobs WHERE queue = ?1 AND state = 1
			AND (?2 = '' OR instr(coalesce(dead_reason, ''), ?2) > 0)
			AND (?3 IS NULL OR run_at >= ?3) AND (?4 IS NULL OR run_at < ?4)
			AND (?5 IS NULL OR run_at < ?5 OR (run_at = ?5 AND id < ?6))
		ORDER BY run_at DESC, id DESC LIMIT ?7`
)

func (q *Queue) checkOpen() error {
	q.b.qmu.Lock()
	defer q.b.qmu.Unlock()
	if q.b.qclosed {
		return notify.ErrClosed
	}
	return nil
}

// waiter returns the channel closed at the next wake-up of queue.
func (b *Backend) waiter(queue string) (chan struct{}, error) {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	if b.qclosed {
		return nil, notify.ErrClosed
	}
	ch := b.waiters[queue]
	if ch == nil {
		ch = make(chan struct{})
		b.waiters[queue] = ch
	}
	return ch, nil
}

// wake wakes queue's waiting receivers.
func (b *Backend) wake(queue string) {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	if ch := b.waiters[queue]; ch != nil {
		close(ch)
		delete(b.waiters, queue)
	}
}

// jobRow is a job encoded for the queue_jobs table.
type jobRow struct {
	queue, id string
	notBefore time.Time
	body      string
}

// jobRows checks and encodes jobs.
func jobRows(jobs []notify.Job) ([]jobRow, error) {
	bodies, err := sqlbackend.JobBodies(jobs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	rows := make([]jobRow, len(jobs))
	for i, j := range jobs {
		rows[i] = jobRow{queue: j.Queue, id: j.ID, body: bodies[i], notBefore: j.NotBefore}
	}
	return rows, nil
}

// insertJobs inserts rows in w's transaction and wakes their queues'
// receivers once it commits.
func (b *Backend) insertJobs(ctx context.Context, w *wtx, rows []jobRow) error {
	now := time.Now()
	var woken []string
	for _, r := range rows {
		runAt := now
		if r.notBefore.After(now) {
			runAt = r.notBefore
		}
		if _, err := w.exec(ctx, sqlInsertJob, r.queue, r.id, runAt.UnixNano(), nanos(r.notBefore), now.UnixNano(), r.body); err != nil {
			return fmt.Errorf("insert job %s: %w", r.id, err)
		}
		if !slices.Contains(woken, r.queue) {
			woken = append(woken, r.queue)
			queue := r.queue
			w.afterCommit(func() { b.wake(queue) })
		}
	}
	return nil
}

// Enqueue stores jobs in one transaction, shared with concurrent writes
// (group commit); when it returns nil every job is committed (or, bound to
// a transaction by Backend.Tx, will be with it). A job whose ID is already
// on its queue is left as it is. Receivers waiting on the jobs' queues are
// woken when the jobs commit.
func (q *Queue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if len(jobs) == 0 {
		return nil
	}
	rows, err := jobRows(jobs)
	if err != nil {
		return err
	}
	err = q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error { return q.b.insertJobs(ctx, w, rows) })
	if err != nil {
		return fmt.Errorf("sqlite: enqueue %d jobs: %w", len(rows), err)
	}
	return nil
}

// Receive leases up to limit ready jobs of queue (one, when limit < 1),
// oldest first. With none ready it waits until an Enqueue, Nack or Replay
// of this Backend wakes it, the next delayed job or expiring lease comes
// due, or Config.PollInterval passes, then looks again, until ctx is done
// (it returns ctx's error) or the Queue is closed (notify.ErrClosed). Each
// lease lasts Config.Visibility; Lease.Deadline is its end.
func (q *Queue) Receive(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	limit = max(limit, 1)
	b := q.b
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wake, err := b.waiter(queue)
		if err != nil {
			return nil, err
		}
		leases, err := q.fetch(ctx, queue, limit)
		if err != nil || len(leases) > 0 {
			return leases, err
		}
		wait := b.cfg.PollInterval
		var next sql.NullInt64
		if err := b.reader(q.bt).QueryRowContext(ctx, sqlNextDue, queue).Scan(&next); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("sqlite: receive from %s: find the next due job: %w", queue, err)
		}
		if next.Valid {
			wait = min(wait, max(time.Until(time.Unix(0, next.Int64)), 0)+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-b.qdone:
			t.Stop()
			return nil, notify.ErrClosed
		}
		t.Stop()
	}
}

func (q *Queue) fetch(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	type leased struct {
		l     notify.Lease
		runAt int64
		rowid int64
	}
	var got []leased
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error {
		got = got[:0]
		now := time.Now()
		token := q.b.token.Add(1)
		until := now.Add(q.b.cfg.Visibility)
		rows, err := w.query(ctx, sqlReceive, token, until.UnixNano(), queue, now.UnixNano(), now.UnixNano(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				x    leased
				nb   sql.NullInt64
				body []byte
			)
			if err := rows.Scan(&x.l.Job.ID, &x.l.Attempt, &nb, &body, &x.runAt, &x.rowid); err != nil {
				return err
			}
			x.l.Job.Queue = queue
			x.l.Job.NotBefore = fromNanos(nb)
			if err := json.Unmarshal(body, &x.l.Job.Delivery); err != nil {
				return fmt.Errorf("decode job %s: %w", x.l.Job.ID, err)
			}
			x.l.Handle = strconv.FormatInt(token, 10)
			x.l.Deadline = until
			got = append(got, x)
		}
		return rows.Err()
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sqlite: receive from %s: %w", queue, err)
	}
	slices.SortFunc(got, func(a, b leased) int { return cmp.Or(cmp.Compare(a.runAt, b.runAt), cmp.Compare(a.rowid, b.rowid)) })
	leases := make([]notify.Lease, len(got))
	for i, x := range got {
		leases[i] = x.l
	}
	return leases, nil
}

func parseHandle(l notify.Lease) (int64, bool) {
	t, err := strconv.ParseInt(l.Handle, 10, 64)
	return t, err == nil
}

// ackRows deletes the held ones of leases in w's transaction and returns
// how many were held.
func ackRows(ctx context.Context, w *wtx, leases []notify.Lease) (int, error) {
	held := 0
	for _, l := range leases {
		t, ok := parseHandle(l)
		if !ok {
			continue
		}
		res, err := w.exec(ctx, sqlAck, l.Job.Queue, l.Job.ID, t)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			held++
		}
	}
	return held, nil
}

// Ack deletes the leased jobs, in one transaction shared with concurrent
// writes. When some leases are no longer held the others are still acked
// and the error wraps notify.ErrLeaseLost.
func (q *Queue) Ack(ctx context.Context, leases ...notify.Lease) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if len(leases) == 0 {
		return nil
	}
	if q.bt == nil {
		// The writer may run the write after this call has returned (its
		// ctx ended): it gets its own copy, as Ack keeps no argument.
		leases = slices.Clone(leases)
	}
	var held int
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) (err error) {
		held, err = ackRows(ctx, w, leases)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: ack %d jobs: %w", len(leases), err)
	}
	if lost := len(leases) - held; lost > 0 {
		return fmt.Errorf("sqlite: ack: %d of %d leases no longer held: %w", lost, len(leases), notify.ErrLeaseLost)
	}
	return nil
}

// leaseOp runs a one-row statement on l's job and reports ErrLeaseLost
// when it touched no row.
func (q *Queue) leaseOp(ctx context.Context, what string, l notify.Lease, query string, args func(token int64) []any, wake bool) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	t, ok := parseHandle(l)
	if !ok {
		return fmt.Errorf("sqlite: %s %s: bad lease handle: %w", what, l.Job.ID, notify.ErrLeaseLost)
	}
	var n int64
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error {
		res, err := w.exec(ctx, query, args(t)...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n > 0 && wake {
			queue := l.Job.Queue
			w.afterCommit(func() { q.b.wake(queue) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s %s: %w", what, l.Job.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s %s: %w", what, l.Job.ID, notify.ErrLeaseLost)
	}
	return nil
}

// Nack returns a leased job to its queue, hidden for delay (none when
// delay <= 0). Its attempt count stays.
func (q *Queue) Nack(ctx context.Context, l notify.Lease, delay time.Duration) error {
	return q.leaseOp(ctx, "nack", l, sqlNack, func(t int64) []any {
		return []any{time.Now().Add(max(delay, 0)).UnixNano(), l.Job.Queue, l.Job.ID, t}
	}, true)
}

// Bury moves a leased job to its queue's dead state with reason. Dead jobs
// stay in the table, listed by Dead, until Replay.
func (q *Queue) Bury(ctx context.Context, l notify.Lease, reason string) error {
	return q.leaseOp(ctx, "bury", l, sqlBury, func(t int64) []any {
		return []any{time.Now().UnixNano(), reason, l.Job.Queue, l.Job.ID, t}
	}, false)
}

// Visibility returns how long a lease lasts from Receive
// (Config.Visibility, or its default).
func (q *Queue) Visibility() time.Duration { return q.b.cfg.Visibility }

// Extend moves l's expiry to d from now (d must be positive) and returns
// the new deadline. A lease no longer held (acked, nacked, buried, or
// received again) returns an error wrapping notify.ErrLeaseLost; a lease
// past its deadline that nobody has received again is still held.
func (q *Queue) Extend(ctx context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("sqlite: extend lease of %s by %v: the duration must be positive", l.Job.ID, d)
	}
	var until time.Time
	err := q.leaseOp(ctx, "extend lease of", l, sqlExtend, func(t int64) []any {
		until = time.Now().Add(d)
		return []any{until.UnixNano(), l.Job.Queue, l.Job.ID, t}
	}, false)
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// Replay makes a dead job ready again with its attempt count reset, or
// returns notify.ErrNotFound.
func (q *Queue) Replay(ctx context.Context, queue, id string) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	var n int64
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error {
		res, err := w.exec(ctx, sqlReplay, time.Now().UnixNano(), queue, id)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n > 0 {
			w.afterCommit(func() { q.b.wake(queue) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: replay %s on %s: %w", id, queue, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: replay %s on %s: no dead job with that ID: %w", id, queue, notify.ErrNotFound)
	}
	return nil
}

// Stats counts queue's jobs by state in one query (a scan of the queue's
// rows). Ready includes jobs whose lease expired. OldestReady is how long
// the oldest ready job has been visible.
func (q *Queue) Stats(ctx context.Context, queue string) (notify.QueueStats, error) {
	if err := q.checkOpen(); err != nil {
		return notify.QueueStats{}, err
	}
	var s notify.QueueStats
	var oldest sql.NullInt64
	now := time.Now()
	if err := q.b.reader(q.bt).QueryRowContext(ctx, sqlStats, queue, now.UnixNano()).Scan(&s.Ready, &s.Delayed, &s.InFlight, &s.Dead, &oldest); err != nil {
		return s, fmt.Errorf("sqlite: stats of %s: %w", queue, err)
	}
	if oldest.Valid {
		s.OldestReady = max(now.Sub(time.Unix(0, oldest.Int64)), 0)
	}
	return s, nil
}

var _ notify.DeadLister = (*Queue)(nil)

// Dead lists the dead jobs of dq.Queue that dq selects, newest first (by
// when they were buried), for inspection before Replay: one query on the
// queue_jobs_dead index.
func (q *Queue) Dead(ctx context.Context, dq notify.DeadQuery) (notify.DeadPage, error) {
	if err := q.checkOpen(); err != nil {
		return notify.DeadPage{}, err
	}
	cur, err := notify.ParsePageCursor(dq.Cursor)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("sqlite: list dead jobs of %s: %w", dq.Queue, err)
	}
	limit := dq.PageLimit()
	var since, until, curAt any
	if !dq.Since.IsZero() {
		since = dq.Since.UnixNano()
	}
	if !dq.Until.IsZero() {
		until = dq.Until.UnixNano()
	}
	if dq.Cursor != "" {
		curAt = cur.At.UnixNano()
	}
	rows, err := q.b.reader(q.bt).QueryContext(ctx, sqlDead, dq.Queue, dq.Reason, since, until, curAt, cur.ID, limit+1)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("sqlite: list dead jobs of %s: %w", dq.Queue, err)
	}
	defer rows.Close()
	var out []notify.DeadJob
	for rows.Next() {
		var dj notify.DeadJob
		var nb sql.NullInt64
		var died int64
		var body []byte
		if err := rows.Scan(&dj.Job.ID, &dj.Attempts, &nb, &body, &dj.Reason, &died); err != nil {
			return notify.DeadPage{}, fmt.Errorf("sqlite: list dead jobs of %s: %w", dq.Queue, err)
		}
		dj.Job.Queue, dj.Job.NotBefore, dj.DiedAt = dq.Queue, fromNanos(nb), time.Unix(0, died)
		if err := json.Unmarshal(body, &dj.Job.Delivery); err != nil {
			return notify.DeadPage{}, fmt.Errorf("sqlite: list dead jobs of %s: decode job %s: %w", dq.Queue, dj.Job.ID, err)
		}
		out = append(out, dj)
	}
	if err := rows.Err(); err != nil {
		return notify.DeadPage{}, fmt.Errorf("sqlite: list dead jobs of %s: %w", dq.Queue, err)
	}
	page := notify.DeadPage{Jobs: out}
	if len(out) > limit {
		page.Jobs = out[:limit:limit]
		last := page.Jobs[limit-1]
		page.Next = notify.PageCursor{At: last.DiedAt, ID: last.Job.ID}.String()
	}
	return page, nil
}

// Close wakes blocked Receives, which return notify.ErrClosed, as does
// every later call of the Queue. The Store and the Deduper keep working
// until Backend.Close.
func (q *Queue) Close() error {
	b := q.b
	b.qmu.Lock()
	defer b.qmu.Unlock()
	if !b.qclosed {
		b.qclosed = true
		close(b.qdone)
	}
	return nil
}

// logStore returns log as the *Store this Queue can write in its own
// transaction: the same Backend's, bound to the same transaction as q.
func (q *Queue) logStore(log notify.EventLog) (*Store, error) {
	s, ok := notify.As[*Store](log)
	switch {
	case !ok || s == nil:
		return nil, fmt.Errorf("the log is a %T, not a *sqlite.Store: %w", log, errors.ErrUnsupported)
	case s.b != q.b:
		return nil, fmt.Errorf("the log is the Store of another file (%s), the queue's is %s: %w", s.b.path, q.b.path, errors.ErrUnsupported)
	case s.bt != q.bt:
		return nil, fmt.Errorf("the log and the queue are not bound to the same transaction: %w", errors.ErrUnsupported)
	}
	return s, nil
}

// sameDeduper reports whether dd is the Deduper this Queue can write in
// its own transaction.
func (q *Queue) sameDeduper(dd notify.Deduper) error {
	d, ok := notify.As[*Deduper](dd)
	switch {
	case !ok || d == nil:
		return fmt.Errorf("the deduper is a %T, not a *sqlite.Deduper: %w", dd, errors.ErrUnsupported)
	case d.b != q.b:
		return fmt.Errorf("the deduper is the Deduper of another file (%s), the queue's is %s: %w", d.b.path, q.b.path, errors.ErrUnsupported)
	case d.bt != q.bt:
		return fmt.Errorf("the deduper and the queue are not bound to the same transaction: %w", errors.ErrUnsupported)
	}
	return nil
}

func checkEvents(events []notify.Event) error {
	if err := sqlbackend.CheckEvents(events); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// EnqueueLogged records events in log and enqueues jobs in one
// transaction (shared with concurrent writes): both are written or
// neither is. A job whose ID is already on its queue is left as it is
// (its events are still recorded).
//
// log must be this Backend's *Store (bound to the same transaction as the
// Queue, if any), or a wrapper that unwraps to it (it is bypassed); any
// other EventLog gets an error wrapping errors.ErrUnsupported, and nothing
// is written.
func (q *Queue) EnqueueLogged(ctx context.Context, log notify.EventLog, events []notify.Event, jobs []notify.Job) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if _, err := q.logStore(log); err != nil {
		return fmt.Errorf("sqlite: record and enqueue: %w", err)
	}
	if err := checkEvents(events); err != nil {
		return err
	}
	rows, err := jobRows(jobs)
	if err != nil {
		return err
	}
	if len(events) == 0 && len(rows) == 0 {
		return nil
	}
	err = q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error {
		if err := insertEvents(ctx, w, events); err != nil {
			return err
		}
		return q.b.insertJobs(ctx, w, rows)
	})
	if err != nil {
		return fmt.Errorf("sqlite: record %d events and enqueue %d jobs: %w", len(events), len(rows), err)
	}
	return nil
}

// AckLogged records ev in log and acks l in one transaction (shared with
// concurrent writes). When l is no longer held, ev is recorded all the
// same and the error wraps notify.ErrLeaseLost. log is as EnqueueLogged's.
func (q *Queue) AckLogged(ctx context.Context, log notify.EventLog, l notify.Lease, ev notify.Event) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if _, err := q.logStore(log); err != nil {
		return fmt.Errorf("sqlite: record and ack %s: %w", l.Job.ID, err)
	}
	if err := checkEvents([]notify.Event{ev}); err != nil {
		return err
	}
	var held int
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) (err error) {
		if err := insertEvents(ctx, w, []notify.Event{ev}); err != nil {
			return err
		}
		held, err = ackRows(ctx, w, []notify.Lease{l})
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record %s and ack %s: %w", ev.Status, l.Job.ID, err)
	}
	if held == 0 {
		return fmt.Errorf("sqlite: ack %s: recorded %s, but the lease is no longer held: %w", l.Job.ID, ev.Status, notify.ErrLeaseLost)
	}
	return nil
}

// Accept claims each item's event ID, records its events and enqueues its
// jobs, in one transaction (shared with concurrent writes): an item is
// claimed if and only if it is logged and queued. Items are written in
// turn, exactly as Claim, then Record and Enqueue for each item whose
// claim is won, would write them; an item whose key another owner holds
// (an earlier item of the call included) writes nothing and gets the
// holder. Bound to a transaction by Backend.Tx, everything commits with it.
//
// log must be this Backend's *Store and dd its *Deduper (nil when no item
// has a Claim), bound to the same transaction as the Queue, if any, or
// wrappers that unwrap to them; anything else gets an error wrapping
// errors.ErrUnsupported, and nothing is written. With no items Accept
// only makes that check.
func (q *Queue) Accept(ctx context.Context, log notify.EventLog, dd notify.Deduper, items []notify.AcceptItem) ([]notify.ClaimResult, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := q.logStore(log); err != nil {
		return nil, fmt.Errorf("sqlite: claim, record and enqueue: %w", err)
	}
	needClaims := slices.ContainsFunc(items, func(it notify.AcceptItem) bool { return it.Claim != nil })
	if dd != nil || needClaims {
		if err := q.sameDeduper(dd); err != nil {
			return nil, fmt.Errorf("sqlite: claim, record and enqueue: %w", err)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	rows := make([][]jobRow, len(items))
	for i, it := range items {
		if err := checkEvents(it.Events); err != nil {
			return nil, err
		}
		r, err := jobRows(it.Jobs)
		if err != nil {
			return nil, err
		}
		rows[i] = r
	}
	results := make([]notify.ClaimResult, len(items))
	err := q.b.write(ctx, q.bt, func(ctx context.Context, w *wtx) error {
		now := time.Now()
		for i, it := range items {
			results[i] = notify.ClaimResult{}
			if it.Claim != nil {
				won, holder, err := claimIn(ctx, w, now, it.Claim.Key, it.Claim.Owner, it.Claim.TTL)
				if err != nil {
					return err
				}
				if !won {
					results[i].Holder = holder
					continue
				}
			}
			if err := insertEvents(ctx, w, it.Events); err != nil {
				return err
			}
			if err := q.b.insertJobs(ctx, w, rows[i]); err != nil {
				return err
			}
			results[i].Claimed = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim, record and enqueue %d notifications: %w", len(items), err)
	}
	return results, nil
}
