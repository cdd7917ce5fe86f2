package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbtx is what the backends run their SQL on: a *pgxpool.Pool, or a pgx.Tx
// when Backend.Tx binds them to a caller's transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// sqlFor replaces {{schema}} in query with the quoted schema name.
func sqlFor(schema, query string) string {
	return strings.ReplaceAll(query, "{{schema}}", pgx.Identifier{schema}.Sanitize())
}

// freshPlans returns the query arguments that make pgx plan a statement on
// every execution, when pool caches prepared statements (its default). The
// log grows from nothing in a new deployment: a plan cached while a table
// was small (a sequential scan) would stay in use after it has grown.
// Planning a batched statement each time costs a fraction of a millisecond.
func freshPlans(pool *pgxpool.Pool) []any {
	cc := pool.Config().ConnConfig
	if cc.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement && cc.DescriptionCacheCapacity > 0 {
		return []any{pgx.QueryExecModeCacheDescribe}
	}
	return nil
}

// args prepends mode (from freshPlans) to args.
func args(mode []any, a ...any) []any {
	if len(mode) == 0 {
		return a
	}
	return append(mode[:len(mode):len(mode)], a...)
}

// pruneBatch is how many rows one statement of a prune deletes at most.
const pruneBatch = 10000

// pruneBatches summarizes the new block ranges of the BRIN index idx
// (statement summarize, see migration 0008), then runs the statement
// batch returns, which deletes up to pruneBatch rows and returns how
// many, until a run deletes fewer. It returns the total deleted.
func pruneBatches(ctx context.Context, db dbtx, summarize, idx string, batch func() (string, []any)) (int64, error) {
	if _, err := db.Exec(ctx, summarize, idx); err != nil {
		return 0, fmt.Errorf("summarize index %s: %w", idx, err)
	}
	var total int64
	for {
		query, a := batch()
		var n int64
		if err := db.QueryRow(ctx, query, a...).Scan(&n); err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
