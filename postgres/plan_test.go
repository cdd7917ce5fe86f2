package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/postgres"
)

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type     string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// nodes lists the plan's nodes as "type", "type on relation" and "type
// using index" strings, depth first.
func (n planNode) nodes() []string {
	s := n.Type
	switch {
	case n.Index != "":
		s += " using " + n.Index
	case n.Relation != "":
		s += " on " + n.Relation
	}
	out := []string{s}
	for _, c := range n.Plans {
		out = append(out, c.nodes()...)
	}
	return out
}

// functionPlan returns the plan PostgreSQL makes for the body of the SQL
// function fn (schema-qualified, with its argument types) with the
// function's own settings (its SET clauses) in force, as the function's
// call plans it: a generic plan, for the parameter values args (SQL
// literals). With bare, the function's settings are left out: the plan
// the statement would get on its own.
func functionPlan(t *testing.T, pool *pgxpool.Pool, fn string, bare bool, args ...string) []string {
	t.Helper()
	ctx := t.Context()
	var (
		src      string
		types    string
		settings []string
	)
	require.NoError(t, pool.QueryRow(ctx, `SELECT prosrc, oidvectortypes(proargtypes), coalesce(proconfig, '{}')
		FROM pg_proc WHERE oid = $1::regprocedure`, fn).Scan(&src, &types, &settings), "read function %s", fn)
	var plan []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if !bare {
			for _, s := range settings {
				name, value, _ := strings.Cut(s, "=")
				if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", name, value); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "PREPARE plan_under_test("+types+") AS "+src); err != nil {
			return fmt.Errorf("prepare the body of %s: %w", fn, err)
		}
		defer tx.Exec(ctx, "DEALLOCATE plan_under_test") //nolint:errcheck // the transaction rolls back anyway
		var out []byte
		if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE plan_under_test("+strings.Join(args, ", ")+")").Scan(&out); err != nil {
			return err
		}
		var doc []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return err
		}
		plan = doc[0].Plan.nodes()
		return pgx.ErrTxClosed // roll back
	})
	if err != pgx.ErrTxClosed {
		require.NoError(t, err)
	}
	return plan
}

// schemaTable is table of schema, quoted.
func schemaTable(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// mustExec runs each statement on pool, with {{schema}} replaced by schema.
func mustExec(t testing.TB, pool *pgxpool.Pool, schema string, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := pool.Exec(context.WithoutCancel(t.Context()), strings.ReplaceAll(s, "{{schema}}", pgx.Identifier{schema}.Sanitize()))
		require.NoError(t, err, s)
	}
}

// staleStatistics loads 100,000 ready jobs, 100,000 log events of 50,000
// deliveries and 100,000 expired claims, with statistics taken before
// (misleading) or none at all: ANALYZE ran when every job was leased,
// the log held one delivery and no claim had expired, as after a bulk
// enqueue into a quiet system and before the next autoanalyze.
func staleStatistics(t *testing.T, pool *pgxpool.Pool, schema string, analyzed bool) {
	t.Helper()
	if analyzed {
		mustExec(t, pool, schema,
			`INSERT INTO {{schema}}.queue_jobs (queue, id, run_at, lease, lease_until, delivery)
				SELECT 'push', 'leased-' || g, now() - interval '2 hours', g, now() + interval '1 hour', '{}'
				FROM generate_series(1, 500) g`,
			`INSERT INTO {{schema}}.log_events (delivery_id, notification_id, status, at)
				SELECT 'd-only', 'n-only', 'queued', now() FROM generate_series(1, 500) g`,
			`INSERT INTO {{schema}}.dedup_claims (key, owner, expires_at)
				SELECT 'live-' || g, 'o', now() + interval '1 day' FROM generate_series(1, 500) g`,
			`ANALYZE {{schema}}.queue_jobs`, `ANALYZE {{schema}}.log_events`, `ANALYZE {{schema}}.dedup_claims`)
	}
	mustExec(t, pool, schema,
		`INSERT INTO {{schema}}.queue_jobs (queue, id, run_at, delivery)
			SELECT 'push', 'j-' || g, now() - interval '1 hour' + g * interval '1 millisecond', '{}'
			FROM generate_series(1, 100000) g`,
		`INSERT INTO {{schema}}.log_events (delivery_id, notification_id, status, at)
			SELECT 'd-' || (g / 2), 'n-' || (g / 4), 'queued', now() - interval '2 days' + g * interval '1 second'
			FROM generate_series(1, 100000) g`,
		`INSERT INTO {{schema}}.dedup_claims (key, owner, expires_at)
			SELECT 'k-' || g, 'o', now() - interval '1 day' + g * interval '1 millisecond'
			FROM generate_series(1, 100000) g`)
	if !analyzed {
		var n int
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stats WHERE schemaname = $1`, schema).Scan(&n))
		require.Zero(t, n, "no statistics")
	}
}

// The statements of every delivery and lookup keep their indexed plans
// with misleading statistics and with none: no sort of the backlog, no
// scan of a whole table (migration 0008's functions).
func TestPlansIgnoreStatistics(t *testing.T) {
	for _, analyzed := range []bool{true, false} {
		t.Run(map[bool]string{true: "stale", false: "none"}[analyzed], func(t *testing.T) {
			pool, schema := testDB(t)
			staleStatistics(t, pool, schema, analyzed)
			fn := func(name string) string { return pgx.Identifier{schema}.Sanitize() + "." + name }

			if analyzed {
				// The hazard is real: on their own, the fetch sorts the
				// backlog and the status read scans the whole log.
				bare := functionPlan(t, pool, fn("queue_receive(text, integer, interval, timestamp with time zone)"), true, "'push'", "64", "'30s'", "NULL")
				require.Contains(t, bare, "Sort", "the stale statistics should mislead the bare fetch: %v", bare)
				bare = functionPlan(t, pool, fn("log_notification(text)"), true, "'n-7'")
				require.Contains(t, bare, "Seq Scan on log_events", "the stale statistics should mislead the bare status read: %v", bare)
			}

			for _, c := range []struct {
				fn     string
				args   []string
				uses   string
				refuse []string
			}{
				{"queue_receive(text, integer, interval, timestamp with time zone)", []string{"'push'", "64", "'30s'", "NULL"},
					"Index Scan using queue_jobs_fetch", []string{"Sort", "Seq Scan on queue_jobs", "Bitmap Heap Scan on queue_jobs"}},
				{"queue_receive(text, integer, interval, timestamp with time zone)", []string{"'push'", "64", "'30s'", "now() - interval '1 minute'"},
					"Index Scan using queue_jobs_fetch", []string{"Sort", "Seq Scan on queue_jobs", "Bitmap Heap Scan on queue_jobs"}},
				// The leased rows are updated by tuple ID (migration 0010),
				// not looked up again in the primary key.
				{"queue_receive(text, integer, interval, timestamp with time zone)", []string{"'push'", "64", "'30s'", "NULL"},
					"Tid Scan on queue_jobs", []string{"queue_jobs_pkey"}},
				{"queue_next(text)", []string{"'push'"},
					"Index Scan using queue_jobs_fetch", []string{"Sort", "Seq Scan on queue_jobs", "Bitmap Heap Scan on queue_jobs"}},
				{"log_states(text[])", []string{"'{d-7,d-9}'"},
					"Index Scan using log_events_pkey", []string{"Seq Scan on log_events", "Hash Join"}},
				{"log_delivery(text)", []string{"'d-7'"},
					"log_events_pkey", []string{"Seq Scan on log_events", "Hash Join"}},
				{"log_notification(text)", []string{"'n-7'"},
					"log_events_notification", []string{"Seq Scan on log_events", "Hash Join", "Merge Join"}},
				{"log_prune(timestamp with time zone, integer)", []string{"now() - interval '1 day'", "10000"},
					"Bitmap Index Scan using log_events_at", []string{"Seq Scan on log_events"}},
				{"dedup_prune(integer)", []string{"10000"},
					"Bitmap Index Scan using dedup_claims_expires", []string{"Seq Scan on dedup_claims"}},
			} {
				plan := functionPlan(t, pool, fn(c.fn), false, c.args...)
				require.True(t, slices.ContainsFunc(plan, func(n string) bool { return strings.Contains(n, c.uses) }),
					"%s: want %q in the plan %v", c.fn, c.uses, plan)
				for _, r := range c.refuse {
					require.NotContains(t, plan, r, "%s: plan %v", c.fn, plan)
				}
			}
		})
	}
}

// Prune deletes more than one batch of old events and of expired claims
// (each batch its own statement), and nothing else.
func TestPruneBatches(t *testing.T) {
	pool, schema := testDB(t)
	mustExec(t, pool, schema,
		`INSERT INTO {{schema}}.log_events (delivery_id, notification_id, status, at)
			SELECT 'old-' || g, 'n', 'queued', now() - interval '3 hours' + g * interval '1 millisecond'
			FROM generate_series(1, 25000) g`,
		`INSERT INTO {{schema}}.log_events (delivery_id, notification_id, status, at)
			SELECT 'new-' || g, 'n', 'queued', now() FROM generate_series(1, 100) g`,
		`INSERT INTO {{schema}}.dedup_claims (key, owner, expires_at)
			SELECT 'old-' || g, 'o', now() - interval '1 minute' FROM generate_series(1, 25000) g`,
		`INSERT INTO {{schema}}.dedup_claims (key, owner, expires_at)
			SELECT 'live-' || g, 'o', now() + interval '1 hour' FROM generate_series(1, 100) g`)
	pg := newPG(t, pool, postgres.Config{Schema: schema, Retention: time.Hour})
	n, err := pg.Store().Prune(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(25000), n, "every old event")
	n, err = pg.Deduper().Prune(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(25000), n, "every expired claim")

	var events, claims int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM `+pgx.Identifier{schema, "log_events"}.Sanitize()+`),
		(SELECT count(*) FROM `+pgx.Identifier{schema, "dedup_claims"}.Sanitize()+`)`).Scan(&events, &claims))
	require.Equal(t, 100, events, "recent events stay")
	require.Equal(t, 100, claims, "live claims stay")
	holder, err := pg.Deduper().Holder(t.Context(), "live-7")
	require.NoError(t, err)
	require.Equal(t, "o", holder)
}
