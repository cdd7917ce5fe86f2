package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gonotify/notify"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// selectHolders reads who holds the live claims among keys ($1), for the
// Deduper's and the Queue's Accept claims that lost.
const selectHolders = `SELECT key, owner FROM {{schema}}.dedup_claims WHERE key = ANY($1) AND expires_at > now()`

// Deduper is a notify.Deduper on PostgreSQL, a Backend's
// (Backend.Deduper): a claim is a row with a unique key and an expiry. Of
// concurrent claims of one key exactly one wins; an expired claim is taken
// over by the next Claim. It is safe for concurrent use, and many
// processes may share one schema.
type Deduper struct {
	schema string
	pool   *pgxpool.Pool
	db     dbtx
	sql    dedupSQL
	claims *batcher[*claimReq] // nil when bound to a transaction
}

type dedupSQL struct {
	claim, claimMany, holder, holders, release, prune, summarize, pruneIndex string
}

// newDeduper returns the Deduper of schema on pool.
func newDeduper(pool *pgxpool.Pool, s string) *Deduper {
	d := &Deduper{schema: s, pool: pool, db: pool, sql: dedupSQL{
		claim: sqlFor(s, `INSERT INTO {{schema}}.dedup_claims AS c (key, owner, expires_at)
			VALUES ($1, $2, now() + $3::interval)
			ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
			WHERE c.expires_at <= now()
			RETURNING owner`),
		claimMany: sqlFor(s, `INSERT INTO {{schema}}.dedup_claims AS c (key, owner, expires_at)
			SELECT u.key, u.owner, now() + u.ttl * interval '1 microsecond'
			FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(key, owner, ttl)
			ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
			WHERE c.expires_at <= now()
			RETURNING key`),
		holder:  sqlFor(s, `SELECT owner FROM {{schema}}.dedup_claims WHERE key = $1 AND expires_at > now()`),
		holders: sqlFor(s, selectHolders),
		release: sqlFor(s, `DELETE FROM {{schema}}.dedup_claims WHERE key = $1 AND owner = $2`),
		// A batch of the prune (migration 0008): expired claims found
		// through the BRIN index dedup_claims_expires, summarized first.
		prune:      sqlFor(s, `SELECT {{schema}}.dedup_prune($1)`),
		summarize:  `SELECT ` + pgx.Identifier{s}.Sanitize() + `.brin_summarize($1::regclass)`,
		pruneIndex: pgx.Identifier{s, "dedup_claims_expires"}.Sanitize(),
	}}
	d.claims = &batcher[*claimReq]{run: d.runClaims}
	return d
}

// withTx returns a copy of d whose claims go through tx.
func (d *Deduper) withTx(tx pgx.Tx) *Deduper {
	return &Deduper{schema: d.schema, pool: d.pool, db: tx, sql: d.sql}
}

// Claim claims key for owner for ttl. It reports whether this call won and,
// when it did not, the owner holding the key. A claim that expired counts
// as absent. Concurrent Claims on one Deduper share one statement.
func (d *Deduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	if d.claims != nil {
		r := &claimReq{key: key, owner: owner, ttl: ttl}
		if err := d.claims.do(ctx, r); err != nil {
			return false, "", fmt.Errorf("postgres: claim %s: %w", key, err)
		}
		if r.err != nil {
			return false, "", fmt.Errorf("postgres: claim %s: %w", key, r.err)
		}
		return r.claimed, r.holder, nil
	}
	for range 3 {
		var got string
		err := d.db.QueryRow(ctx, d.sql.claim, key, owner, ttl).Scan(&got)
		if err == nil {
			return true, "", nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return false, "", fmt.Errorf("postgres: claim %s: %w", key, err)
		}
		// Held by someone else; read by whom. It may have been released
		// or expired since: then claim again.
		err = d.db.QueryRow(ctx, d.sql.holder, key).Scan(&got)
		if err == nil {
			return false, got, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return false, "", fmt.Errorf("postgres: claim %s: read the holder: %w", key, err)
		}
	}
	return false, "", fmt.Errorf("postgres: claim %s: the claim changed hands three times while being read; retry", key)
}

// Release drops key if owner still holds it.
func (d *Deduper) Release(ctx context.Context, key, owner string) error {
	if _, err := d.db.Exec(ctx, d.sql.release, key, owner); err != nil {
		return fmt.Errorf("postgres: release %s: %w", key, err)
	}
	return nil
}

// Prune deletes expired claims, in batches of pruneBatch (each its own
// statement, so Claims on other keys never wait long behind it), and
// returns how many. Claim ignores expired claims anyway; Prune only keeps
// the table small. Dispatcher.Run calls it every notify.Config.PruneEvery;
// it is safe from one process or many.
func (d *Deduper) Prune(ctx context.Context) (int64, error) {
	n, err := pruneBatches(ctx, d.db, d.sql.summarize, d.sql.pruneIndex, func() (string, []any) {
		return d.sql.prune, []any{pruneBatch}
	})
	if err != nil {
		return n, fmt.Errorf("postgres: prune dedup claims: %w", err)
	}
	return n, nil
}

// claimReq is one Claim call and its answer.
type claimReq struct {
	key, owner string
	ttl        time.Duration
	claimed    bool
	holder     string
	err        error
}

// runClaims claims every request's key in one statement. Of requests for
// one key, the first competes and the others lose to whoever holds the key
// afterwards. Keys held by someone else get their holder from one more
// statement.
func (d *Deduper) runClaims(ctx context.Context, reqs []*claimReq) error {
	first := make(map[string]*claimReq, len(reqs))
	var open []*claimReq
	for _, r := range reqs {
		if _, ok := first[r.key]; !ok {
			first[r.key] = r
			open = append(open, r)
		}
	}
	// Claiming in key order is what keeps two statements with common keys
	// (two processes' batches) from deadlocking: one waits for the other.
	slices.SortFunc(open, func(a, b *claimReq) int { return strings.Compare(a.key, b.key) })
	for attempt := 0; len(open) > 0; attempt++ {
		if attempt == 3 {
			for _, r := range open {
				r.err = errors.New("the claim changed hands three times while being read; retry")
			}
			break
		}
		keys := make([]string, len(open))
		owners := make([]string, len(open))
		ttls := make([]int64, len(open))
		for i, r := range open {
			keys[i], owners[i], ttls[i] = r.key, r.owner, r.ttl.Microseconds()
		}
		won, err := collectStrings(d.db.Query(ctx, d.sql.claimMany, keys, owners, ttls))
		if err != nil {
			return err
		}
		for _, k := range won {
			first[k].claimed = true
		}
		var lost []string
		for _, r := range open {
			if !r.claimed {
				lost = append(lost, r.key)
			}
		}
		if len(lost) == 0 {
			break
		}
		rows, err := d.db.Query(ctx, d.sql.holders, lost)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, owner string
			if err := rows.Scan(&k, &owner); err != nil {
				rows.Close()
				return err
			}
			first[k].holder = owner
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Released or expired between the two statements: claim again.
		next := open[:0]
		for _, r := range open {
			if !r.claimed && r.holder == "" {
				next = append(next, r)
			}
		}
		open = next
	}
	for _, r := range reqs {
		if f := first[r.key]; f != r {
			r.err = f.err
			if f.claimed {
				r.holder = f.owner
			} else {
				r.holder = f.holder
			}
		}
	}
	return nil
}

func collectStrings(rows pgx.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

var _ notify.ClaimHolder = (*Deduper)(nil)

// Holder returns the owner holding key (one indexed read), or an error
// wrapping notify.ErrNotFound when the key is free: never claimed, released
// or expired. It claims nothing.
func (d *Deduper) Holder(ctx context.Context, key string) (string, error) {
	var owner string
	err := d.db.QueryRow(ctx, d.sql.holder, key).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("postgres: holder of %s: %w", key, notify.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("postgres: holder of %s: %w", key, err)
	}
	return owner, nil
}
