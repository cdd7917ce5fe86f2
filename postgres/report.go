package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gonotify/notify"
)

var _ notify.Reporter = (*Store)(nil)

// Report counts, in SQL, the deliveries queued in q's range and what became
// of them. One statement, one pass over the log from q.Since on (the
// BRIN index log_events_at finds where that starts): one row of flags per
// delivery in a hash aggregate, then the groups. It runs with work_mem
// 256MB, for its own transaction only, so a month of deliveries is grouped
// in memory.
func (s *Store) Report(ctx context.Context, q notify.ReportQuery) ([]notify.ReportRow, error) {
	if err := notify.CheckReportQuery(q); err != nil {
		return nil, err
	}
	var out []notify.ReportRow
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Room to group a month of deliveries in memory rather than spill
		// them to disk; for this transaction only.
		if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '256MB'"); err != nil {
			return err
		}
		var err error
		out, err = scanReport(ctx, tx, reportSQL(s.core.cfg.Schema, q.GroupBy), q.Since, q.Until)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: report: %w", err)
	}
	notify.SortReport(out)
	return out, nil
}

// scanReport runs the report statement and reads its rows.
func scanReport(ctx context.Context, tx pgx.Tx, sql string, since, until time.Time) ([]notify.ReportRow, error) {
	rows, err := tx.Query(ctx, sql, since, until)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []notify.ReportRow
	for rows.Next() {
		var r notify.ReportRow
		var day pgtype.Timestamptz
		var n [6]int64
		if err := rows.Scan(&r.Template, &r.Category, &r.Channel, &day, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5]); err != nil {
			return nil, err
		}
		if day.Valid {
			r.Day = day.Time.UTC()
		}
		r.Deliveries, r.Sent, r.Delivered, r.Failed, r.Opened, r.Clicked = int(n[0]), int(n[1]), int(n[2]), int(n[3]), int(n[4]), int(n[5])
		out = append(out, r)
	}
	return out, rows.Err()
}

// reportSQL builds the report statement for the dimensions in groupBy,
// which CheckReportQuery has vetted (only their fixed names reach here).
func reportSQL(schema string, groupBy []string) string {
	dim := map[string]string{
		notify.ByTemplate: "''", notify.ByCategory: "''", notify.ByChannel: "''", notify.ByDay: "NULL::timestamptz",
	}
	var keys []string
	for _, g := range groupBy {
		switch g {
		case notify.ByTemplate, notify.ByCategory, notify.ByChannel:
			dim[g] = "f." + g
		case notify.ByDay:
			dim[g] = "date_trunc('day', f.queued_at, 'UTC')"
		}
		keys = append(keys, dim[g])
	}
	group := ""
	if len(keys) > 0 {
		group = "GROUP BY " + strings.Join(keys, ", ")
	}
	failed := make([]string, 0, 6)
	for _, st := range notify.FailedStatuses() {
		failed = append(failed, "'"+string(st)+"'")
	}
	failedIn := strings.Join(failed, ", ")
	return sqlFor(schema, `WITH f AS (
			SELECT min(at) FILTER (WHERE status = 'queued') AS queued_at,
				max(template) AS template, max(category) AS category, max(channel) AS channel,
				bool_or(status = 'sent') AS sent, bool_or(status = 'delivered') AS delivered,
				bool_or(status = 'opened') AS opened, bool_or(status = 'clicked') AS clicked,
				coalesce(max(seq) FILTER (WHERE status IN (`+failedIn+`)), 0) >
					coalesce(max(seq) FILTER (WHERE status NOT IN (`+failedIn+`, 'opened', 'clicked', 'complained', 'converted')), 0) AS failed
			FROM {{schema}}.log_events WHERE at >= $1
			GROUP BY delivery_id
			HAVING min(at) FILTER (WHERE status = 'queued') >= $1 AND min(at) FILTER (WHERE status = 'queued') < $2)
		SELECT `+dim[notify.ByTemplate]+`, `+dim[notify.ByCategory]+`, `+dim[notify.ByChannel]+`, `+dim[notify.ByDay]+`,
			count(*), count(*) FILTER (WHERE f.sent), count(*) FILTER (WHERE f.delivered), count(*) FILTER (WHERE f.failed),
			count(*) FILTER (WHERE f.opened), count(*) FILTER (WHERE f.clicked)
		FROM f `+group)
}
