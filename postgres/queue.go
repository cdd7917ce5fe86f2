package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

// Queue is a notify.Queue on PostgreSQL, a Backend's (Backend.Queue). All
// queues share one table; see the package documentation for the
// guarantees. A Queue is safe for concurrent use by many goroutines, and
// the Queues of many Backends in many processes may share one schema.
type Queue struct {
	core *queueCore
	db   dbtx // the pool, or a caller's transaction (Backend.Tx)
}

// queueCore is what a Queue and its transaction-bound copies share.
type queueCore struct {
	pool    *pgxpool.Pool
	fresh   []any // see freshPlans
	cfg     Config
	log     *slog.Logger
	channel string // the NOTIFY channel of this schema
	sql     queueSQL

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Close
	waiters   map[string]chan struct{}
	listening bool
	stop      context.CancelFunc
	listenWG  sync.WaitGroup

	acks        batcher[*ackReq]
	enqueues    batcher[*enqueueReq]
	ackLogs     batcher[*ackLoggedReq]
	enqueueLogs batcher[*enqueueLoggedReq]
	eventLog    eventLogSQL // see eventlog.go
	accepts     batcher[*acceptReq]
	acceptSQL   string // see accept.go
	holdersSQL  string

	hintsMu  sync.Mutex
	hints    map[string]fetchHint             // by queue; see Queue.fetch
	fetchers map[string]*batcher[*receiveReq] // by queue; see queueCore.fetcher
}

// fetchHint is where a queue's next fetch starts scanning (see
// Queue.fetch).
type fetchHint struct {
	after     time.Time     // the run_at of the oldest job the last fetch found; zero: none yet
	frontAt   time.Time     // when the last scan from the front ended
	frontTook time.Duration // how long it took
	scanning  bool          // a scan from the front is under way
}

// fullScanEvery is how often a fetch scans a queue from its front, at
// least, while fetches from the hint keep finding jobs: see Queue.fetch.
const fullScanEvery = time.Second

// frontDue reports whether a fetch at now scans from the front: with no
// hint yet; else once no other scan from the front is under way and, since
// the last one ended, ten times its duration has passed and, unless the
// fetch from the hint found nothing (empty), fullScanEvery.
func (h fetchHint) frontDue(now time.Time, empty bool) bool {
	switch {
	case h.scanning:
		return false
	case h.after.IsZero():
		return true
	}
	gap := 10 * h.frontTook
	if !empty {
		gap = max(gap, fullScanEvery)
	}
	return now.Sub(h.frontAt) >= gap
}

type queueSQL struct {
	enqueue, enqueueNew, receive, next, ack, nack, release, bury, replay, stats, dead, extend string
}

// newQueue returns the Queue of cfg (with its defaults) on pool.
func newQueue(pool *pgxpool.Pool, cfg Config) *Queue {
	s := cfg.Schema
	c := &queueCore{
		pool:     pool,
		fresh:    freshPlans(pool),
		cfg:      cfg,
		log:      cfg.Logger,
		channel:  s + ".queue",
		done:     make(chan struct{}),
		waiters:  make(map[string]chan struct{}),
		hints:    make(map[string]fetchHint),
		fetchers: make(map[string]*batcher[*receiveReq]),
		sql: queueSQL{
			enqueue: sqlFor(s, `WITH ins AS (`+insertJobs(1, false)+`)
			`+notifyInserted(5)),
			enqueueNew: sqlFor(s, `WITH ins AS (`+insertRows(1, false, "")+`)
			`+notifyInserted(5)),
			// The fetch and the next-due query are functions of migration
			// 0008, whose planner settings keep them on the index
			// queue_jobs_fetch whatever the table's statistics say.
			receive: sqlFor(s, `SELECT id, attempts, lease, not_before, delivery, lease_left, run_at FROM {{schema}}.queue_receive($1, $2, $3, $4)`),
			next:    sqlFor(s, `SELECT {{schema}}.queue_next($1)`),
			// Lease tokens are unique across queues and jobs, so lease =
			// ANY(tokens) matches each job only with its own token. Only
			// live jobs have a lease (Bury clears it), and leaving "state =
			// 0" out keeps the planner on the primary key rather than the
			// partial fetch index.
			ack: sqlFor(s, `DELETE FROM {{schema}}.queue_jobs
			WHERE queue = $1 AND id = ANY($2::text[]) AND lease = ANY($3::int8[])
			RETURNING lease`),
			nack: sqlFor(s, `WITH u AS (
				UPDATE {{schema}}.queue_jobs SET run_at = now() + $4::interval, lease = NULL, lease_until = NULL
				WHERE queue = $1 AND id = $2 AND lease = $3
				RETURNING queue)
			SELECT count(*), (SELECT count(*) FROM (SELECT pg_notify($5, queue) FROM u) n) FROM u`),
			// Leases fetched for nobody (see runFetches): the jobs are
			// ready again at once, their attempt not counted.
			release: sqlFor(s, `WITH u AS (
				UPDATE {{schema}}.queue_jobs SET lease = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0)
				WHERE queue = $1 AND id = ANY($2::text[]) AND lease = ANY($3::int8[])
				RETURNING queue)
			SELECT count(*), (SELECT count(*) FROM (SELECT pg_notify($4, q) FROM (SELECT DISTINCT queue AS q FROM u) s0) n) FROM u`),
			// The lease's time left is read from the server's clock at the
			// end of the statement (see leaseDeadline).
			extend: sqlFor(s, `UPDATE {{schema}}.queue_jobs SET lease_until = now() + $4::interval
				WHERE queue = $1 AND id = $2 AND lease = $3
				RETURNING lease_until - clock_timestamp()`),
			bury: sqlFor(s, `UPDATE {{schema}}.queue_jobs SET state = 1, lease = NULL, lease_until = NULL, run_at = now(), dead_reason = $4
				WHERE queue = $1 AND id = $2 AND lease = $3`),
			replay: sqlFor(s, `WITH u AS (
				UPDATE {{schema}}.queue_jobs SET state = 0, attempts = 0, run_at = now(), lease = NULL, lease_until = NULL, dead_reason = NULL
				WHERE queue = $1 AND id = $2 AND state = 1
				RETURNING queue)
			SELECT count(*), (SELECT count(*) FROM (SELECT pg_notify($3, queue) FROM u) n) FROM u`),
			stats: sqlFor(s, `SELECT
				count(*) FILTER (WHERE state = 0 AND run_at <= now() AND (lease_until IS NULL OR lease_until <= now())),
				count(*) FILTER (WHERE state = 0 AND run_at > now()),
				count(*) FILTER (WHERE state = 0 AND lease_until > now()),
				count(*) FILTER (WHERE state = 1),
				coalesce(now() - min(coalesce(lease_until, run_at))
					FILTER (WHERE state = 0 AND run_at <= now() AND (lease_until IS NULL OR lease_until <= now())), '0')
			FROM {{schema}}.queue_jobs WHERE queue = $1`),
			dead: sqlFor(s, `SELECT id, attempts, not_before, delivery, coalesce(dead_reason, ''), run_at
				FROM {{schema}}.queue_jobs WHERE queue = $1 AND state = 1
					AND ($2 = '' OR strpos(coalesce(dead_reason, ''), $2) > 0)
					AND ($3::timestamptz IS NULL OR run_at >= $3)
					AND ($4::timestamptz IS NULL OR run_at < $4)
					AND ($5::timestamptz IS NULL OR (run_at, id) < ($5, $6))
				ORDER BY run_at DESC, id DESC LIMIT $7`),
		},
	}
	c.acks.run = c.runAcks
	c.enqueues.run = c.runEnqueues
	c.eventLog = newEventLogSQL(s)
	c.ackLogs.run = c.runAckLogs
	c.enqueueLogs.run = c.runEnqueueLogs
	c.accepts.run = c.runAccepts
	c.acceptSQL = acceptSQL(s)
	c.holdersSQL = sqlFor(s, selectHolders)
	return &Queue{core: c, db: pool}
}

// withTx returns a copy of q whose writes go through tx.
func (q *Queue) withTx(tx pgx.Tx) *Queue { return &Queue{core: q.core, db: tx} }

func (q *Queue) checkOpen() error {
	q.core.mu.Lock()
	defer q.core.mu.Unlock()
	if q.core.closed {
		return notify.ErrClosed
	}
	return nil
}

// Enqueue stores jobs in one statement, combined with concurrent Enqueues
// on this Queue; when it returns nil every job is committed (or, bound to a
// transaction by Backend.Tx, will be with it). A job
// whose ID is already on its queue is left as it is. Receivers waiting on
// the jobs' queues are woken by NOTIFY when the jobs commit.
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
	if _, ok := q.db.(pgx.Tx); ok {
		return q.enqueueNow(ctx, rows)
	}
	return q.core.enqueues.do(ctx, &enqueueReq{rows: rows})
}

// jobRow is a job encoded for the queue_jobs table.
type jobRow struct {
	queue, id string
	notBefore pgtype.Timestamptz
	body      string
}

// jobRows checks and encodes jobs.
func jobRows(jobs []notify.Job) ([]jobRow, error) {
	bodies, err := sqlbackend.JobBodies(jobs)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	rows := make([]jobRow, len(jobs))
	for i, j := range jobs {
		rows[i] = jobRow{queue: j.Queue, id: j.ID, body: bodies[i]}
		if !j.NotBefore.IsZero() {
			rows[i].notBefore = pgtype.Timestamptz{Time: j.NotBefore, Valid: true}
		}
	}
	return rows, nil
}

// insertJobs returns the INSERT of queue rows that every statement adding
// jobs runs, as the data-modifying CTE named ins: the rows come from the
// four column arrays jobArrays returns, as parameters $first to $first+3;
// a row whose (queue, ID) is already in the table is left as it is; it
// returns the inserted rows' queues, for notifyInserted. With owned, a
// fifth text array ($first+4) gives each row's owner, and only rows whose
// owner is in the CTE ok (the owners that won their claim or need none)
// are inserted (see acceptSQL).
func insertJobs(first int, owned bool) string {
	return insertRows(first, owned, `
				ON CONFLICT (queue, id) DO NOTHING`)
}

// insertRows is insertJobs with onConflict as its conflict clause: with
// none, a row whose (queue, ID) is already in the table fails the
// statement with unique_violation.
func insertRows(first int, owned bool, onConflict string) string {
	p := func(i int) string { return "$" + strconv.Itoa(first+i) }
	arrays, cols, where := p(0)+`::text[], `+p(1)+`::text[], `+p(2)+`::timestamptz[], `+p(3)+`::json[]`, "queue, id, nb, d", ""
	if owned {
		arrays += `, ` + p(4) + `::text[]`
		cols += ", owner"
		where = `
				WHERE u.owner IN (SELECT owner FROM ok)`
	}
	return `
				INSERT INTO {{schema}}.queue_jobs (queue, id, run_at, not_before, delivery)
				SELECT u.queue, u.id, CASE WHEN u.nb > now() THEN u.nb ELSE now() END, u.nb, u.d
				FROM unnest(` + arrays + `) AS u(` + cols + `)` + where + onConflict + `
				RETURNING queue`
}

// notifyInserted returns the query that wakes the receivers of every queue
// the CTE ins (insertJobs) added rows to, with one pg_notify per queue on
// the channel given as parameter $param. NOTIFY is sent at commit.
func notifyInserted(param int) string {
	return `SELECT pg_notify($` + strconv.Itoa(param) + `, q) FROM (SELECT DISTINCT queue AS q FROM ins) s0`
}

// jobArrays encodes rows as the four column arrays of the queue_jobs
// insert (insertJobs): queues, IDs, not-befores and bodies, in (queue, ID) order. Every
// insert taking its rows' locks in one order is what keeps two statements
// with common IDs from deadlocking: the second waits for the first instead.
func jobArrays(rows []jobRow) []any {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b jobRow) int {
		return cmp.Or(strings.Compare(a.queue, b.queue), strings.Compare(a.id, b.id))
	})
	queues := make([]string, len(rows))
	ids := make([]string, len(rows))
	nbs := make([]pgtype.Timestamptz, len(rows))
	bodies := make([]string, len(rows))
	for i, r := range rows {
		queues[i], ids[i], nbs[i], bodies[i] = r.queue, r.id, r.notBefore, r.body
	}
	return []any{queues, ids, nbs, bodies}
}

// enqueueNow inserts rows in one statement.
//
// Outside a transaction it first tries the insert that does not skip
// jobs already queued: an ON CONFLICT clause costs a speculative insertion
// per row, which made a batch of new jobs take about twice as long (1,000
// rows: 12 ms against 6.5 ms). A job already on its queue (a retried
// Enqueue) fails that statement with unique_violation, which rolls it
// back (its NOTIFY too; its rows stay as dead tuples until VACUUM), and
// the insert that skips such jobs runs instead. In a
// transaction a failed statement would abort the caller's transaction, so
// only the second runs there.
func (q *Queue) enqueueNow(ctx context.Context, rows []jobRow) error {
	args := append(jobArrays(rows), q.core.channel)
	if _, inTx := q.db.(pgx.Tx); !inTx {
		_, err := q.db.Exec(ctx, q.core.sql.enqueueNew, args...)
		if err == nil {
			return nil
		}
		if !isUniqueViolation(err) {
			return fmt.Errorf("postgres: enqueue %d jobs: %w", len(rows), err)
		}
	}
	if _, err := q.db.Exec(ctx, q.core.sql.enqueue, args...); err != nil {
		return fmt.Errorf("postgres: enqueue %d jobs: %w", len(rows), err)
	}
	return nil
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation
// (SQLSTATE 23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Receive leases up to limit ready jobs of queue (one, when limit < 1; at
// most 1,000), oldest first, with FOR UPDATE SKIP LOCKED so concurrent
// receivers never get the same job. With none ready it waits for a
// NOTIFY from Enqueue, Nack or Replay, for the next delayed job or
// expiring lease to come due, or at most Config.PollInterval, then looks
// again, until ctx is done (it returns ctx's error) or the Queue is
// closed (ErrClosed). Database errors are returned; the caller retries.
// Each lease lasts Config.Visibility by the database's clock;
// Lease.Deadline is its end by this process's clock, early by the
// statement's round trip and never late, whatever the offset between the
// clocks (see Queue.Extend).
func (q *Queue) Receive(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	limit = max(limit, 1)
	c := q.core
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wake, err := c.waiter(queue)
		if err != nil {
			return nil, err
		}
		leases, err := q.fetchShared(ctx, queue, limit)
		if err != nil || len(leases) > 0 {
			return leases, err
		}
		wait := c.cfg.PollInterval
		var next pgtype.Interval
		if err := q.db.QueryRow(ctx, c.sql.next, queue).Scan(&next); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("postgres: receive from %s: find the next due job: %w", queue, err)
		}
		if next.Valid {
			due := time.Duration(next.Microseconds)*time.Microsecond + time.Duration(next.Days)*24*time.Hour
			wait = min(wait, max(due, 0)+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-c.done:
			t.Stop()
			return nil, notify.ErrClosed
		}
		t.Stop()
	}
}

// fetch leases up to limit ready jobs of queue, oldest first.
//
// Acked jobs leave dead entries at the front of the fetch index until
// VACUUM can remove them (not while any transaction older than them
// runs); a scan from the front of a queue that drained a million jobs
// steps over all of theirs, reading their rows too while they cannot be
// removed, so a drain that always scanned from the front cost its square.
// So a fetch starts where the last one found its oldest job (its run_at):
// every job older than that was leased then, and what becomes ready later
// comes after it (enqueued, nacked or replayed now), except a lease that
// expires, or a job enqueued by a transaction that began before the last
// fetch. Those are found by a scan from the front, which one fetch at a
// time runs: every fullScanEvery, or when a fetch from the hint finds
// nothing; in both cases no sooner than ten times the last such scan's
// duration after it, so that scans from the front take at most a tenth
// of the time however long they get.
func (q *Queue) fetch(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	c := q.core
	claim := func(empty bool) (after time.Time, front bool) {
		c.hintsMu.Lock()
		defer c.hintsMu.Unlock()
		h := c.hints[queue]
		if !h.frontDue(time.Now(), empty) {
			return h.after, false
		}
		h.scanning = true
		c.hints[queue] = h
		return time.Time{}, true
	}
	after, front := claim(false)
	start := time.Now()
	leases, oldest, err := q.fetchFrom(ctx, queue, limit, after)
	if err == nil && !front && len(leases) == 0 {
		if after, front = claim(true); front {
			start = time.Now()
			leases, oldest, err = q.fetchFrom(ctx, queue, limit, after)
		}
	}
	c.hintsMu.Lock()
	h := c.hints[queue]
	if front {
		h.scanning = false
		h.frontAt = time.Now()
		h.frontTook = h.frontAt.Sub(start)
	}
	if !oldest.IsZero() && (front || oldest.After(h.after)) {
		h.after = oldest
	}
	c.hints[queue] = h
	c.hintsMu.Unlock()
	return leases, err
}

// fetchFrom leases up to limit ready jobs of queue with run_at >= after
// (all when after is zero), oldest first, and returns the run_at of the
// oldest (zero when none).
func (q *Queue) fetchFrom(ctx context.Context, queue string, limit int, after time.Time) ([]notify.Lease, time.Time, error) {
	start := time.Now()
	var oldest time.Time
	rows, err := q.db.Query(ctx, q.core.sql.receive, args(q.core.fresh, queue, limit, q.core.cfg.Visibility, nullTime(after))...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, oldest, ctx.Err()
		}
		return nil, oldest, fmt.Errorf("postgres: receive from %s: %w", queue, err)
	}
	defer rows.Close()
	var leases, unreadable []notify.Lease
	var why []error
	for rows.Next() {
		var (
			l     notify.Lease
			token int64
			nb    pgtype.Timestamptz
			body  []byte
			left  pgtype.Interval
			runAt time.Time
		)
		if err := rows.Scan(&l.Job.ID, &l.Attempt, &token, &nb, &body, &left, &runAt); err != nil {
			return nil, oldest, fmt.Errorf("postgres: receive from %s: %w", queue, err)
		}
		if oldest.IsZero() || runAt.Before(oldest) {
			oldest = runAt
		}
		l.Job.Queue = queue
		if nb.Valid {
			l.Job.NotBefore = nb.Time
		}
		l.Handle = strconv.FormatInt(token, 10)
		l.Deadline = leaseDeadline(start, left)
		if err := json.Unmarshal(body, &l.Job.Delivery); err != nil {
			unreadable, why = append(unreadable, l), append(why, err)
			continue
		}
		leases = append(leases, l)
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, oldest, ctx.Err()
		}
		return nil, oldest, fmt.Errorf("postgres: receive from %s: %w", queue, err)
	}
	rows.Close()
	// A job nobody can read would come back after every lease and fail
	// every fetch it is in: it is buried, for an operator to see in Dead.
	for i, l := range unreadable {
		reason := "unreadable delivery: " + why[i].Error()
		q.core.log.Error("postgres: a leased job's delivery cannot be decoded; burying it", slog.String("queue", queue), slog.String("job", l.Job.ID), slog.Any("error", why[i]))
		if err := q.Bury(ctx, l, reason); err != nil {
			q.core.log.Error("postgres: bury a job whose delivery cannot be decoded; it comes back when its lease ends", slog.String("queue", queue), slog.String("job", l.Job.ID), slog.Any("error", err))
		}
	}
	return leases, oldest, nil
}

func parseReceipt(l notify.Lease) (int64, bool) {
	t, err := strconv.ParseInt(l.Handle, 10, 64)
	return t, err == nil
}

// Ack deletes the leased jobs in one statement. Concurrent Acks on one Queue
// are combined into one statement while another is running. When some
// leases are no longer held the others are still acked and the error wraps
// ErrLeaseLost.
func (q *Queue) Ack(ctx context.Context, leases ...notify.Lease) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if len(leases) == 0 {
		return nil
	}
	var lost int
	if _, ok := q.db.(pgx.Tx); ok {
		deleted, err := q.ackTokens(ctx, leases)
		if err != nil {
			return err
		}
		lost = len(leases) - len(deleted)
	} else {
		// A combined statement may run after this call has returned (its
		// ctx ended): it gets its own copy, as Ack keeps no argument.
		r := &ackReq{leases: slices.Clone(leases)}
		if err := q.core.acks.do(ctx, r); err != nil {
			return err
		}
		lost = len(leases) - r.held
	}
	if lost > 0 {
		return fmt.Errorf("postgres: ack: %d of %d leases no longer held: %w", lost, len(leases), notify.ErrLeaseLost)
	}
	return nil
}

// ackTokens deletes the held ones of leases, one statement per queue, and
// returns their tokens.
func (q *Queue) ackTokens(ctx context.Context, leases []notify.Lease) (map[int64]bool, error) {
	type group struct {
		ids    []string
		tokens []int64
	}
	var order []string
	groups := map[string]*group{}
	for _, l := range leases {
		t, ok := parseReceipt(l)
		if !ok {
			continue
		}
		g := groups[l.Job.Queue]
		if g == nil {
			g = &group{}
			groups[l.Job.Queue] = g
			order = append(order, l.Job.Queue)
		}
		g.ids, g.tokens = append(g.ids, l.Job.ID), append(g.tokens, t)
	}
	deleted := make(map[int64]bool, len(leases))
	for _, queue := range order {
		g := groups[queue]
		if err := q.ackQueue(ctx, queue, g.ids, g.tokens, deleted); err != nil {
			return nil, err
		}
	}
	return deleted, nil
}

func (q *Queue) ackQueue(ctx context.Context, queue string, ids []string, tokens []int64, deleted map[int64]bool) error {
	rows, err := q.db.Query(ctx, q.core.sql.ack, args(q.core.fresh, queue, ids, tokens)...)
	if err != nil {
		return fmt.Errorf("postgres: ack %d jobs of %s: %w", len(ids), queue, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			return fmt.Errorf("postgres: ack %d jobs of %s: %w", len(ids), queue, err)
		}
		deleted[t] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: ack %d jobs of %s: %w", len(ids), queue, err)
	}
	return nil
}

// Nack returns a leased job to its queue, hidden for delay (none when
// delay <= 0). Its attempt count stays.
func (q *Queue) Nack(ctx context.Context, l notify.Lease, delay time.Duration) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	t, ok := parseReceipt(l)
	if !ok {
		return fmt.Errorf("postgres: nack %s: bad receipt: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	var n, notified int
	if err := q.db.QueryRow(ctx, q.core.sql.nack, l.Job.Queue, l.Job.ID, t, max(delay, 0), q.core.channel).Scan(&n, &notified); err != nil {
		return fmt.Errorf("postgres: nack %s: %w", l.Job.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: nack %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	return nil
}

// Bury moves a leased job to its queue's dead state with reason. Dead jobs
// stay in the table, listed by Dead, until Replay.
func (q *Queue) Bury(ctx context.Context, l notify.Lease, reason string) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	t, ok := parseReceipt(l)
	if !ok {
		return fmt.Errorf("postgres: bury %s: bad receipt: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	tag, err := q.db.Exec(ctx, q.core.sql.bury, l.Job.Queue, l.Job.ID, t, reason)
	if err != nil {
		return fmt.Errorf("postgres: bury %s: %w", l.Job.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: bury %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	return nil
}

// Replay makes a dead job ready again with its attempt count reset, or
// returns ErrNotFound.
func (q *Queue) Replay(ctx context.Context, queue, id string) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	var n, notified int
	if err := q.db.QueryRow(ctx, q.core.sql.replay, queue, id, q.core.channel).Scan(&n, &notified); err != nil {
		return fmt.Errorf("postgres: replay %s on %s: %w", id, queue, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: replay %s on %s: no dead job with that ID: %w", id, queue, notify.ErrNotFound)
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
	var age pgtype.Interval
	if err := q.db.QueryRow(ctx, q.core.sql.stats, queue).Scan(&s.Ready, &s.Delayed, &s.InFlight, &s.Dead, &age); err != nil {
		return s, fmt.Errorf("postgres: stats of %s: %w", queue, err)
	}
	s.OldestReady = time.Duration(age.Microseconds)*time.Microsecond + time.Duration(age.Days)*24*time.Hour
	return s, nil
}

var _ notify.DeadLister = (*Queue)(nil)

// Dead lists the dead jobs of dq.Queue that dq selects, newest first, for
// inspection before Replay: one indexed query (queue_jobs_dead_by_time).
func (q *Queue) Dead(ctx context.Context, dq notify.DeadQuery) (notify.DeadPage, error) {
	if err := q.checkOpen(); err != nil {
		return notify.DeadPage{}, err
	}
	cur, err := notify.ParsePageCursor(dq.Cursor)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("postgres: list dead jobs of %s: %w", dq.Queue, err)
	}
	limit := dq.PageLimit()
	rows, err := q.db.Query(ctx, q.core.sql.dead, dq.Queue, dq.Reason, nullTime(dq.Since), nullTime(dq.Until),
		nullTime(cur.At), cur.ID, limit+1)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("postgres: list dead jobs of %s: %w", dq.Queue, err)
	}
	defer rows.Close()
	var out []notify.DeadJob
	for rows.Next() {
		var dj notify.DeadJob
		var nb pgtype.Timestamptz
		var body []byte
		if err := rows.Scan(&dj.Job.ID, &dj.Attempts, &nb, &body, &dj.Reason, &dj.DiedAt); err != nil {
			return notify.DeadPage{}, fmt.Errorf("postgres: list dead jobs of %s: %w", dq.Queue, err)
		}
		dj.Job.Queue = dq.Queue
		if nb.Valid {
			dj.Job.NotBefore = nb.Time
		}
		if err := json.Unmarshal(body, &dj.Job.Delivery); err != nil {
			// Listed without its delivery: a job Receive buried as
			// unreadable says so in its reason.
			dj.Job.Delivery = nil
		}
		out = append(out, dj)
	}
	if err := rows.Err(); err != nil {
		return notify.DeadPage{}, fmt.Errorf("postgres: list dead jobs of %s: %w", dq.Queue, err)
	}
	page := notify.DeadPage{Jobs: out}
	if len(out) > limit {
		page.Jobs = out[:limit:limit]
		last := page.Jobs[limit-1]
		page.Next = notify.PageCursor{At: last.DiedAt, ID: last.Job.ID}.String()
	}
	return page, nil
}

// nullTime is t for a timestamptz parameter, NULL when t is zero.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// Close stops the Queue's listener and wakes blocked Receives, which return
// ErrClosed, as does every later call. It does not close the pool.
func (q *Queue) Close() error {
	c := q.core
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	if c.stop != nil {
		c.stop()
	}
	c.mu.Unlock()
	c.listenWG.Wait()
	return nil
}
