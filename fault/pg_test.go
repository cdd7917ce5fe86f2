package fault_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
)

// pgServer is the test's PostgreSQL server, and a pool on it ("admin",
// application_name notify_fault_admin) that the suite never kills: it
// migrates, kills the other pools' connections, reads the final state.
type pgServer struct {
	cfg      *pgx.ConnConfig
	hostPort string
	admin    *pgxpool.Pool
}

func pgEnv(t testing.TB) *pgServer {
	t.Helper()
	raw := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	cfg, err := pgxpool.ParseConfig(raw)
	require.NoError(t, err, "parse NOTIFY_TEST_POSTGRES_URL")
	cc := cfg.ConnConfig
	if cc.Host == "" || cc.Host[0] == '/' {
		t.Fatalf("NOTIFY_TEST_POSTGRES_URL must name a TCP host (the suite proxies the connection), not %q", cc.Host)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "notify_fault_admin"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err, "connect to PostgreSQL")
	t.Cleanup(admin.Close)
	return &pgServer{cfg: cc.Copy(), hostPort: net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), admin: admin}
}

// dsn is a connection URL to the test database through addr (the proxy),
// with its own application_name, so that the suite kills exactly its own
// connections.
func (s *pgServer) dsn(addr, app, sslmode string) string {
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + s.cfg.Database}
	if s.cfg.Password != "" {
		u.User = url.UserPassword(s.cfg.User, s.cfg.Password)
	} else {
		u.User = url.User(s.cfg.User)
	}
	q := url.Values{}
	q.Set("sslmode", sslmode)
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// killConnections terminates every backend whose application_name is one
// of apps, every period, until stop is called; stop returns how many it
// killed.
func killConnections(ctx context.Context, admin *pgxpool.Pool, apps []string, period time.Duration) (stop func() int64) {
	var n int64
	done := make(chan struct{})
	kctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
			}
			var k int64
			err := admin.QueryRow(kctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
				FROM pg_stat_activity WHERE application_name = ANY($1)`, apps).Scan(&k)
			if err == nil {
				n += k
			}
		}
	}()
	return func() int64 { cancel(); <-done; return n }
}

// liveJobs counts the schema's live queue jobs (ready, delayed, leased).
func liveJobs(ctx context.Context, admin *pgxpool.Pool, schema string) (int, error) {
	var n int
	err := admin.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "queue_jobs"}.Sanitize()+" WHERE state = 0").Scan(&n)
	return n, err
}

// scanLog reads the schema's whole notification log, every delivery
// folded as the Store folds it. It reads the table directly, so that it
// also finds deliveries no receipt names (a notification queued twice).
func scanLog(ctx context.Context, admin *pgxpool.Pool, schema string) (map[string]notify.DeliveryRecord, error) {
	rows, err := admin.Query(ctx, `SELECT delivery_id, notification_id, channel, address, status, reason, attempt, provider_id, maybe_sent, at
		FROM `+pgx.Identifier{schema, "log_events"}.Sanitize()+` ORDER BY delivery_id, seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]notify.DeliveryRecord{}
	var evs []notify.Event
	flush := func() {
		if len(evs) > 0 {
			out[evs[0].DeliveryID] = notify.NewDeliveryRecord(evs)
			evs = nil
		}
	}
	for rows.Next() {
		var e notify.Event
		var status string
		if err := rows.Scan(&e.DeliveryID, &e.NotificationID, &e.Channel, &e.Address, &status, &e.Reason, &e.Attempt, &e.ProviderID, &e.MaybeSent, &e.At); err != nil {
			return nil, err
		}
		e.Status = notify.Status(status)
		if len(evs) > 0 && evs[0].DeliveryID != e.DeliveryID {
			flush()
		}
		evs = append(evs, e)
	}
	flush()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scan the log: %w", err)
	}
	return out, nil
}
