package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbtx is what the backends run their SQL on: a *pgxpool.Pool, or a pgx.Tx
// when SendTx binds them to a caller's transaction.
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
