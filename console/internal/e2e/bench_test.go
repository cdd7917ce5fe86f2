package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
	"github.com/gonotify/notify/internal/benchlog"
)

// BenchmarkQueuesPage times the server side of the console's queues page
// (the counts of every channel's queue from Stats and the last hour's chart
// from twelve Report calls, rendered) on PostgreSQL with
// NOTIFY_BENCH_CONSOLE_N deliveries in the log (default 1,000,000; about
// 3.2 events each, spread over the 30 days up to now, so the last hour
// holds 1/720 of them), vacuumed, and 10,000 jobs in the queues.
// Sub-benchmarks:
//
//   - uncached: every request computes the chart (ChartMaxAge < 0);
//   - cached: the chart is reused, as it is for 30 s by default;
//   - live: the fragment the page refreshes every 5 s.
//
// It reports the page's weight, HTML + CSS + JS bytes, as page-B.
func BenchmarkQueuesPage(b *testing.B) {
	n := benchlog.Size(b, "NOTIFY_BENCH_CONSOLE_N")
	e := newPGEnv(b, console.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	now := time.Now().UTC()
	start := time.Now()
	table := pgx.Identifier{e.schema, "log_events"}.Sanitize()
	_, err := e.pool.Exec(ctx, benchlog.InsertSQL(table), now.AddDate(0, 0, -30), n)
	require.NoError(b, err)
	// VACUUM summarizes the BRIN index on "at" as autovacuum does on a
	// live log: without it every range written by the one INSERT above is
	// unsummarized, and a Report of the last hour reads the whole table.
	_, err = e.pool.Exec(ctx, "VACUUM ANALYZE "+table)
	require.NoError(b, err)
	for batch := range 10 {
		jobs := make([]notify.Job, 1000)
		for i := range jobs {
			ch := []string{notify.ChannelSMS, notify.ChannelEmail}[i%2]
			id := fmt.Sprintf("job-%d-%d", batch, i)
			jobs[i] = notify.Job{ID: id, Queue: e.d.QueueName(ch), Delivery: &notify.Delivery{ID: id, NotificationID: "n-" + id, Channel: ch, Address: "a", CreatedAt: now}}
		}
		require.NoError(b, e.pg.Queue().Enqueue(ctx, jobs...))
	}
	b.Logf("wrote %d deliveries and 10,000 jobs in %s", n, time.Since(start).Round(time.Second))

	uncached, err := console.New(console.Config{Dispatcher: e.d, Prefix: prefix, ChartMaxAge: -1})
	require.NoError(b, err)
	cached, err := console.New(console.Config{Dispatcher: e.d, Prefix: prefix})
	require.NoError(b, err)
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return w
	}
	page := get(uncached, prefix+"/")
	weight := page.Body.Len() + get(uncached, prefix+"/static/console.css").Body.Len() + get(uncached, prefix+"/static/console.js").Body.Len()
	b.Logf("page weight: %d bytes (HTML %d)", weight, page.Body.Len())

	for _, c := range []struct {
		name string
		h    http.Handler
		path string
	}{{"uncached", uncached, prefix + "/"}, {"cached", cached, prefix + "/"}, {"live", cached, prefix + "/queues/live"}} {
		b.Run(c.name, func(b *testing.B) {
			get(c.h, c.path) // warm the pool and, for cached, the chart
			for b.Loop() {
				get(c.h, c.path)
			}
			b.ReportMetric(float64(weight), "page-B")
			b.ReportMetric(float64(n), "deliveries")
		})
	}
}
