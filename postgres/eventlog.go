package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/sqlbackend"
)

var (
	_ notify.EventLogQueue = (*Queue)(nil)
	_ notify.Pruner        = (*Store)(nil)
	_ notify.Pruner        = (*Deduper)(nil)
)

// eventLogSQL are the statements that write log events and queue rows at
// once: data-modifying CTEs, one round trip and one transaction each. $1 to
// $14 are the events' column arrays (eventArrays).
type eventLogSQL struct {
	enqueue, ack string
}

func newEventLogSQL(schema string) eventLogSQL {
	return eventLogSQL{
		// Every data-modifying CTE runs to completion whether or not the
		// main query reads it; NOTIFY is sent at commit, as Enqueue's.
		enqueue: sqlFor(schema, `WITH ev AS (`+insertEvents+`),
			ins AS (`+insertJobs(15, false)+`)
			`+notifyInserted(19)),
		// The delete matches as Ack's does (lease tokens are unique across
		// queues and jobs); it returns the tokens it deleted, so each
		// caller learns whether its lease was still held. The events are
		// inserted either way.
		ack: sqlFor(schema, `WITH ev AS (`+insertEvents+`),
			d AS (
				DELETE FROM {{schema}}.queue_jobs
				WHERE queue = ANY($15::text[]) AND id = ANY($16::text[]) AND lease = ANY($17::int8[])
				RETURNING lease)
			SELECT lease FROM d`),
	}
}

// logStore returns log as a *Store this Queue can write in its own
// statements: one of the same schema, on the same database when q is on
// its pool, or bound to the same transaction when q is (Backend.Tx).
func (q *Queue) logStore(log notify.EventLog) (*Store, error) {
	s, ok := notify.As[*Store](log)
	switch {
	case !ok || s == nil:
		return nil, fmt.Errorf("postgres: the log is a %T, not a *postgres.Store: %w", log, errors.ErrUnsupported)
	case s.core.cfg.Schema != q.core.cfg.Schema:
		return nil, fmt.Errorf("postgres: the log is in schema %q, the queue in %q: %w", s.core.cfg.Schema, q.core.cfg.Schema, errors.ErrUnsupported)
	}
	_, qtx := q.db.(pgx.Tx)
	_, stx := s.db.(pgx.Tx)
	switch {
	case qtx || stx:
		if s.db != q.db {
			return nil, fmt.Errorf("postgres: the log and the queue are not bound to the same transaction: %w", errors.ErrUnsupported)
		}
	case !sameDatabase(q.core.pool, s.core.pool):
		return nil, fmt.Errorf("postgres: the log's pool and the queue's pool reach different databases: %w", errors.ErrUnsupported)
	}
	return s, nil
}

// sameDatabase reports whether a and b connect to one database (as far as
// their configurations tell: the same host, port and database name).
func sameDatabase(a, b *pgxpool.Pool) bool {
	if a == b {
		return true
	}
	ca, cb := a.Config().ConnConfig, b.Config().ConnConfig
	return ca.Host == cb.Host && ca.Port == cb.Port && ca.Database == cb.Database
}

func checkEvents(events []notify.Event) error {
	if err := sqlbackend.CheckEvents(events); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// EnqueueLogged records events in log and enqueues jobs in one statement
// (one round trip, one transaction): both are written or neither is.
// Concurrent EnqueueLogged calls on one Queue are combined into one
// statement, as Enqueues are; bound to a transaction by Backend.Tx, the rows
// commit with it. Receivers are woken by NOTIFY when the jobs commit; a
// job whose ID is already on its queue is left as it is (its events are
// still recorded).
//
// log must be a *Store of this Queue's schema on the same database (or,
// for a Queue bound to a transaction, the Store bound to the same one);
// any other EventLog gets an error wrapping errors.ErrUnsupported, and nothing
// is written: call log.Record and Enqueue instead. EnqueueLogged is safe
// for concurrent use.
// A wrapper whose Unwrap chain leads to such a Store (see
// notify.Unwrapper) counts as that Store, and is bypassed.
func (q *Queue) EnqueueLogged(ctx context.Context, log notify.EventLog, events []notify.Event, jobs []notify.Job) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if _, err := q.logStore(log); err != nil {
		return fmt.Errorf("postgres: record and enqueue: %w", err)
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
	r := &enqueueLoggedReq{events: events, rows: rows}
	if _, ok := q.db.(pgx.Tx); ok {
		err = q.enqueueLoggedNow(ctx, []*enqueueLoggedReq{r})
	} else {
		err = q.core.enqueueLogs.do(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("postgres: record %d events and enqueue %d jobs: %w", len(events), len(rows), err)
	}
	return nil
}

// enqueueLoggedReq is one EnqueueLogged call.
type enqueueLoggedReq struct {
	events []notify.Event
	rows   []jobRow
}

func (c *queueCore) runEnqueueLogs(ctx context.Context, reqs []*enqueueLoggedReq) error {
	return (&Queue{core: c, db: c.pool}).enqueueLoggedNow(ctx, reqs)
}

func (q *Queue) enqueueLoggedNow(ctx context.Context, reqs []*enqueueLoggedReq) error {
	var events []notify.Event
	var rows []jobRow
	for _, r := range reqs {
		events = append(events, r.events...)
		rows = append(rows, r.rows...)
	}
	a := eventArrays(events)
	a = append(a, jobArrays(rows)...)
	a = append(a, q.core.channel)
	_, err := q.db.Exec(ctx, q.core.eventLog.enqueue, a...)
	return err
}

// AckLogged records ev in log and acks l in one statement (one round trip,
// one transaction). When l is no longer held, ev is recorded all the same
// and the error wraps notify.ErrLeaseLost. Concurrent AckLogged calls on
// one Queue are combined into one statement, as Acks are; a statement that
// fails fails every call in it, having written nothing.
//
// log must be a *Store of this Queue's schema on the same database (or,
// for a Queue bound to a transaction, the Store bound to the same one);
// any other EventLog gets an error wrapping errors.ErrUnsupported, and nothing
// is written: call log.Record and Ack instead. AckLogged is safe for
// concurrent use.
// A wrapper whose Unwrap chain leads to such a Store (see
// notify.Unwrapper) counts as that Store, and is bypassed.
func (q *Queue) AckLogged(ctx context.Context, log notify.EventLog, l notify.Lease, ev notify.Event) error {
	if err := q.checkOpen(); err != nil {
		return err
	}
	if _, err := q.logStore(log); err != nil {
		return fmt.Errorf("postgres: record and ack %s: %w", l.Job.ID, err)
	}
	if err := checkEvents([]notify.Event{ev}); err != nil {
		return err
	}
	token, ok := parseReceipt(l)
	if !ok {
		token = -1 // matches no lease (tokens start at 1): ev is recorded, the lease is lost
	}
	r := &ackLoggedReq{ev: ev, queue: l.Job.Queue, id: l.Job.ID, token: token}
	var err error
	if _, ok := q.db.(pgx.Tx); ok {
		err = q.ackLoggedNow(ctx, []*ackLoggedReq{r})
	} else {
		err = q.core.ackLogs.do(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("postgres: record %s and ack %s: %w", ev.Status, l.Job.ID, err)
	}
	if !r.held {
		return fmt.Errorf("postgres: ack %s: recorded %s, but the lease is no longer held: %w", l.Job.ID, ev.Status, notify.ErrLeaseLost)
	}
	return nil
}

// ackLoggedReq is one AckLogged call; held reports whether its lease was
// still held (its job deleted).
type ackLoggedReq struct {
	ev        notify.Event
	queue, id string
	token     int64
	held      bool
}

func (c *queueCore) runAckLogs(ctx context.Context, reqs []*ackLoggedReq) error {
	return (&Queue{core: c, db: c.pool}).ackLoggedNow(ctx, reqs)
}

func (q *Queue) ackLoggedNow(ctx context.Context, reqs []*ackLoggedReq) error {
	events := make([]notify.Event, len(reqs))
	var queues []string
	seen := map[string]bool{}
	ids := make([]string, len(reqs))
	tokens := make([]int64, len(reqs))
	for i, r := range reqs {
		events[i], ids[i], tokens[i] = r.ev, r.id, r.token
		if !seen[r.queue] {
			seen[r.queue] = true
			queues = append(queues, r.queue)
		}
	}
	a := eventArrays(events)
	a = append(a, queues, ids, tokens)
	rows, err := q.db.Query(ctx, q.core.eventLog.ack, args(q.core.fresh, a...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	deleted := make(map[int64]bool, len(reqs))
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			return err
		}
		deleted[t] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range reqs {
		r.held = deleted[r.token]
	}
	return nil
}
