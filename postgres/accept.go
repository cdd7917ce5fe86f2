package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gonotify/notify"
)

var _ notify.Accepter = (*Queue)(nil)

// acceptSQL claims event IDs, records log events and inserts queue rows in
// one statement (one round trip, one transaction). The events and jobs of a
// notification are written only when its owner (the notification ID) won
// its claim or needs none. The event arrays come first (see eventArrays);
// the other parameters follow them.
func acceptSQL(schema string) string {
	k := len(eventArrays(nil))
	p := func(i int) string { return "$" + strconv.Itoa(k+i) }
	events := strings.Replace(insertEvents, "ORDER BY ord",
		"WHERE u.notification_id IN (SELECT owner FROM ok) ORDER BY ord", 1)
	if events == insertEvents {
		panic("postgres: insertEvents changed shape; update acceptSQL")
	}
	return sqlFor(schema, `WITH c AS (
			INSERT INTO {{schema}}.dedup_claims AS c (key, owner, expires_at)
			SELECT u.key, u.owner, now() + u.ttl * interval '1 microsecond'
			FROM unnest(`+p(1)+`::text[], `+p(2)+`::text[], `+p(3)+`::int8[]) AS u(key, owner, ttl)
			ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
			WHERE c.expires_at <= now()
			RETURNING owner),
		ok AS (SELECT owner FROM c UNION ALL SELECT unnest(`+p(4)+`::text[])),
		ev AS (`+events+`),
		ins AS (`+insertJobs(k+5, true)+`)
		SELECT owner FROM c
		UNION ALL
		SELECT NULL FROM (`+notifyInserted(k+10)+`) s`)
}

// acceptReq is one Accept call: its items and, per item, the answer.
type acceptReq struct {
	items   []notify.AcceptItem
	rows    [][]jobRow
	results []notify.ClaimResult
}

// Accept claims each item's event ID, records its events and enqueues its
// jobs, in one statement (one round trip, one transaction): an item is
// claimed if and only if it is logged and queued, so no failure can leave
// a claim without its deliveries. An item whose key another owner holds
// writes nothing and gets the holder. Concurrent Accepts on one Queue are
// combined into one statement, as Enqueues are; bound to a transaction by
// Backend.Tx, everything commits with it.
//
// log must be a *Store and dd a *Deduper (nil when no item has a Claim) of
// this Queue's schema on the same database, or bound to the same
// transaction; anything else gets an error wrapping errors.ErrUnsupported,
// and nothing is written. With no items Accept only makes that check. A
// wrapper whose Unwrap chain leads to one (see notify.Unwrapper) counts as
// the one it wraps, and is bypassed: Accept writes its rows itself.
func (q *Queue) Accept(ctx context.Context, log notify.EventLog, dd notify.Deduper, items []notify.AcceptItem) ([]notify.ClaimResult, error) {
	if err := q.checkOpen(); err != nil {
		return nil, err
	}
	if _, err := q.logStore(log); err != nil {
		return nil, fmt.Errorf("postgres: claim, record and enqueue: %w", err)
	}
	needClaims := slices.ContainsFunc(items, func(it notify.AcceptItem) bool { return it.Claim != nil })
	if dd != nil || needClaims {
		if err := q.sameDeduper(dd); err != nil {
			return nil, fmt.Errorf("postgres: claim, record and enqueue: %w", err)
		}
	}
	if len(items) == 0 {
		return nil, nil
	}
	r := &acceptReq{items: items, rows: make([][]jobRow, len(items)), results: make([]notify.ClaimResult, len(items))}
	for i, it := range items {
		if err := checkEvents(it.Events); err != nil {
			return nil, err
		}
		rows, err := jobRows(it.Jobs)
		if err != nil {
			return nil, err
		}
		r.rows[i] = rows
	}
	var err error
	if _, ok := q.db.(pgx.Tx); ok {
		err = q.acceptNow(ctx, []*acceptReq{r})
	} else {
		err = q.core.accepts.do(ctx, r)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: claim, record and enqueue %d notifications: %w", len(items), err)
	}
	return r.results, nil
}

// sameDeduper reports whether dd is a *Deduper this Queue can write in its
// own statements.
func (q *Queue) sameDeduper(dd notify.Deduper) error {
	d, ok := notify.As[*Deduper](dd)
	switch {
	case !ok || d == nil:
		return fmt.Errorf("the deduper is a %T, not a *postgres.Deduper: %w", dd, errors.ErrUnsupported)
	case d.schema != q.core.cfg.Schema:
		return fmt.Errorf("the deduper is in schema %q, the queue in %q: %w", d.schema, q.core.cfg.Schema, errors.ErrUnsupported)
	}
	_, qtx := q.db.(pgx.Tx)
	_, dtx := d.db.(pgx.Tx)
	switch {
	case qtx || dtx:
		if d.db != q.db {
			return fmt.Errorf("the deduper and the queue are not bound to the same transaction: %w", errors.ErrUnsupported)
		}
	case !sameDatabase(q.core.pool, d.pool):
		return fmt.Errorf("the deduper's pool and the queue's pool reach different databases: %w", errors.ErrUnsupported)
	}
	return nil
}

func (c *queueCore) runAccepts(ctx context.Context, reqs []*acceptReq) error {
	return (&Queue{core: c, db: c.pool}).acceptNow(ctx, reqs)
}

// acceptNow runs one statement for reqs. Of several claims of one key in
// it, the first competes and the others lose to whoever holds the key
// afterwards; the holders of lost keys come from one more statement.
func (q *Queue) acceptNow(ctx context.Context, reqs []*acceptReq) error {
	type claim struct {
		key, owner string
		ttl        int64
	}
	var (
		claims   []claim
		free     []string // owners that need no claim
		events   []notify.Event
		jobs     []jobRow
		jobOwner []string
		first    = map[string]*notify.ClaimResult{}
		repeats  []*notify.ClaimResult
		repeatOf []string
		owners   = map[string]*notify.ClaimResult{}
	)
	for _, r := range reqs {
		for i, it := range r.items {
			res := &r.results[i]
			var owner string
			switch {
			case it.Claim == nil:
				owner = itemOwner(it)
				free = append(free, owner)
				res.Claimed = true
			case first[it.Claim.Key] != nil:
				// A second claim of one key in one statement: it cannot
				// win, and ON CONFLICT may not touch a row twice.
				repeats, repeatOf = append(repeats, res), append(repeatOf, it.Claim.Key)
				continue
			default:
				owner = it.Claim.Owner
				first[it.Claim.Key] = res
				owners[owner] = res
				claims = append(claims, claim{it.Claim.Key, owner, it.Claim.TTL.Microseconds()})
			}
			events = append(events, it.Events...)
			for _, row := range r.rows[i] {
				jobs = append(jobs, row)
				jobOwner = append(jobOwner, owner)
			}
		}
	}
	// Claims in key order and jobs in (queue, ID) order: two statements
	// sharing keys or IDs then wait for each other instead of deadlocking.
	slices.SortFunc(claims, func(a, b claim) int { return strings.Compare(a.key, b.key) })
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(jobs[a].queue, jobs[b].queue), strings.Compare(jobs[a].id, jobs[b].id))
	})
	keys, cowners, ttls := make([]string, len(claims)), make([]string, len(claims)), make([]int64, len(claims))
	for i, c := range claims {
		keys[i], cowners[i], ttls[i] = c.key, c.owner, c.ttl
	}
	queues, ids, nbs, bodies, jowners := make([]string, len(jobs)), make([]string, len(jobs)), make([]pgtype.Timestamptz, len(jobs)), make([]string, len(jobs)), make([]string, len(jobs))
	for i, k := range order {
		queues[i], ids[i], nbs[i], bodies[i], jowners[i] = jobs[k].queue, jobs[k].id, jobs[k].notBefore, jobs[k].body, jobOwner[k]
	}
	a := eventArrays(events)
	a = append(a, keys, cowners, ttls, free, queues, ids, nbs, bodies, jowners, q.core.channel)
	rows, err := q.db.Query(ctx, q.core.acceptSQL, a...)
	if err != nil {
		return err
	}
	won, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.Text])
	if err != nil {
		return err
	}
	for _, o := range won {
		if res := owners[o.String]; o.Valid && res != nil {
			res.Claimed = true
		}
	}
	var lost []string
	for _, c := range claims {
		if !first[c.key].Claimed {
			lost = append(lost, c.key)
		}
	}
	lost = append(lost, repeatOf...)
	if len(lost) > 0 {
		holders, err := q.holders(ctx, lost)
		if err != nil {
			return fmt.Errorf("read the holders of %d claimed event IDs: %w", len(lost), err)
		}
		for _, c := range claims {
			if res := first[c.key]; !res.Claimed {
				res.Holder = holders[c.key]
			}
		}
		for i, res := range repeats {
			res.Holder = holders[repeatOf[i]]
		}
	}
	return nil
}

// holders returns the owners of the live claims among keys.
func (q *Queue) holders(ctx context.Context, keys []string) (map[string]string, error) {
	rows, err := q.db.Query(ctx, q.core.holdersSQL, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string, len(keys))
	for rows.Next() {
		var k, owner string
		if err := rows.Scan(&k, &owner); err != nil {
			return nil, err
		}
		out[k] = owner
	}
	return out, rows.Err()
}

// itemOwner is the notification ID of an item without a claim: its events'
// (or its first job's delivery's).
func itemOwner(it notify.AcceptItem) string {
	for _, e := range it.Events {
		return e.NotificationID
	}
	for _, j := range it.Jobs {
		if j.Delivery != nil {
			return j.Delivery.NotificationID
		}
	}
	return ""
}
