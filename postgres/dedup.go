package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DeduperConfig configures a Deduper. Zero values mean the defaults noted.
type DeduperConfig struct {
	// Schema holds the tables (see Migrate). Default "notify".
	Schema string
}

// Deduper is a notify.Deduper on PostgreSQL: a claim is a row with a
// unique key and an expiry. Of concurrent claims of one key exactly one
// wins; an expired claim is taken over by the next Claim. It is safe for
// concurrent use, and many processes may share one schema.
type Deduper struct {
	db  dbtx
	sql dedupSQL
}

type dedupSQL struct{ claim, holder, release, prune string }

// NewDeduper returns a Deduper on pool's database, in cfg.Schema, which
// Migrate must have prepared. The Deduper does not own pool.
func NewDeduper(pool *pgxpool.Pool, cfg DeduperConfig) (*Deduper, error) {
	if pool == nil {
		return nil, errors.New("postgres: NewDeduper needs a pool")
	}
	s := schemaName(cfg.Schema)
	if err := checkSchema(s); err != nil {
		return nil, err
	}
	return &Deduper{db: pool, sql: dedupSQL{
		claim: sqlFor(s, `INSERT INTO {{schema}}.dedup_claims AS c (key, owner, expires_at)
			VALUES ($1, $2, now() + $3::interval)
			ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
			WHERE c.expires_at <= now()
			RETURNING owner`),
		holder:  sqlFor(s, `SELECT owner FROM {{schema}}.dedup_claims WHERE key = $1 AND expires_at > now()`),
		release: sqlFor(s, `DELETE FROM {{schema}}.dedup_claims WHERE key = $1 AND owner = $2`),
		prune:   sqlFor(s, `DELETE FROM {{schema}}.dedup_claims WHERE expires_at <= now()`),
	}}, nil
}

// withTx returns a copy of d whose claims go through tx.
func (d *Deduper) withTx(tx pgx.Tx) *Deduper { return &Deduper{db: tx, sql: d.sql} }

// Claim claims key for owner for ttl. It reports whether this call won and,
// when it did not, the owner holding the key. A claim that expired counts
// as absent.
func (d *Deduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
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

// Prune deletes expired claims and returns how many. Claim ignores expired
// claims anyway; Prune only keeps the table small. Run it periodically.
func (d *Deduper) Prune(ctx context.Context) (int64, error) {
	tag, err := d.db.Exec(ctx, d.sql.prune)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune dedup claims: %w", err)
	}
	return tag.RowsAffected(), nil
}
