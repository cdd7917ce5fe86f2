package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gonotify/notify"
)

var (
	_ notify.BatchDeduper = (*Deduper)(nil)
	_ notify.Pruner       = (*Deduper)(nil)
)

// Deduper is a notify.Deduper in a SQLite file, a Backend's
// (Backend.Deduper): a claim is a row with a unique key and an expiry.
// Every claim runs on the one write connection, so of concurrent claims of
// one key exactly one wins; an expired claim is taken over by the next
// Claim. It is safe for concurrent use.
type Deduper struct {
	b  *Backend
	bt *boundTx
}

func (d *Deduper) backend() *Backend { return d.b }

func (d *Deduper) withTx(bt *boundTx) *Deduper { return &Deduper{b: d.b, bt: bt} }

const (
	sqlClaim = `INSERT INTO dedup_claims (key, owner, expires_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE dedup_claims.expires_at <= ?4
		RETURNING owner`
	sqlHolder      = `SELECT owner FROM dedup_claims WHERE key = ?`
	sqlRelease     = `DELETE FROM dedup_claims WHERE key = ? AND owner = ?`
	sqlPruneClaims = `DELETE FROM dedup_claims WHERE rowid IN (SELECT rowid FROM dedup_claims WHERE expires_at <= ? LIMIT ?)`
)

// claimIn claims key for owner in w's transaction. A ttl <= 0 wins and
// holds nothing.
func claimIn(ctx context.Context, w *wtx, now time.Time, key, owner string, ttl time.Duration) (bool, string, error) {
	if ttl <= 0 {
		return true, "", nil
	}
	var got string
	err := w.queryRow(ctx, sqlClaim, key, owner, now.Add(ttl).UnixNano(), now.UnixNano()).Scan(&got)
	if err == nil {
		return true, "", nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, "", err
	}
	// Held and live: the write connection is ours, so it still is.
	if err := w.queryRow(ctx, sqlHolder, key).Scan(&got); err != nil {
		return false, "", fmt.Errorf("read the holder: %w", err)
	}
	return false, got, nil
}

// Claim claims key for owner for ttl. It reports whether this call won
// and, when it did not, the owner holding the key. A claim that expired
// counts as absent. Concurrent Claims share one transaction.
func (d *Deduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	if ttl <= 0 {
		return true, "", nil
	}
	var won bool
	var holder string
	err := d.b.write(ctx, d.bt, func(ctx context.Context, w *wtx) (err error) {
		won, holder, err = claimIn(ctx, w, time.Now(), key, owner, ttl)
		return err
	})
	if err != nil {
		return false, "", fmt.Errorf("sqlite: claim %s: %w", key, err)
	}
	return won, holder, nil
}

// ClaimBatch makes claims in one transaction, in turn, answering each as
// Claim would. On an error every claim with a ttl fails and none is held
// (a claim without one wins and holds nothing, as Claim's does).
func (d *Deduper) ClaimBatch(ctx context.Context, claims []notify.ClaimRequest) ([]notify.ClaimResult, []error) {
	results := make([]notify.ClaimResult, len(claims))
	io := false
	for i, c := range claims {
		if c.TTL <= 0 {
			results[i].Claimed = true
		} else {
			io = true
		}
	}
	if !io {
		return results, nil
	}
	err := d.b.write(ctx, d.bt, func(ctx context.Context, w *wtx) error {
		now := time.Now()
		for i, c := range claims {
			won, holder, err := claimIn(ctx, w, now, c.Key, c.Owner, c.TTL)
			if err != nil {
				return err
			}
			results[i] = notify.ClaimResult{Claimed: won, Holder: holder}
		}
		return nil
	})
	if err != nil {
		errs := make([]error, len(claims))
		for i, c := range claims {
			if c.TTL > 0 {
				results[i] = notify.ClaimResult{}
				errs[i] = fmt.Errorf("sqlite: claim %s: %w", c.Key, err)
			}
		}
		return results, errs
	}
	return results, nil
}

// Release drops key if owner still holds it.
func (d *Deduper) Release(ctx context.Context, key, owner string) error {
	err := d.b.write(ctx, d.bt, func(ctx context.Context, w *wtx) error {
		_, err := w.exec(ctx, sqlRelease, key, owner)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: release %s: %w", key, err)
	}
	return nil
}

// Prune deletes expired claims, in transactions of up to 10,000 rows, and
// returns how many. Claim ignores expired claims anyway; Prune only keeps
// the file small. Dispatcher.Run calls it every notify.Config.PruneEvery.
func (d *Deduper) Prune(ctx context.Context) (int64, error) {
	return d.b.pruneRows(ctx, d.bt, "dedup claims", sqlPruneClaims, time.Now().UnixNano())
}

// pruneBatch is how many rows one Prune transaction deletes at most, so
// other writes wait for it briefly.
const pruneBatch = 10000

// pruneRows runs query (a DELETE of up to ? rows older than ?) until it
// deletes fewer than pruneBatch rows, and returns how many it deleted.
func (b *Backend) pruneRows(ctx context.Context, bt *boundTx, what, query string, cutoff int64) (int64, error) {
	var total int64
	for {
		var n int64
		err := b.write(ctx, bt, func(ctx context.Context, w *wtx) error {
			res, err := w.exec(ctx, query, cutoff, pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: prune %s: %w", what, err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
