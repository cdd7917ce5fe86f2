//go:build linux

package fault_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the parent's read-only look at the file

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/sqlite"
)

// The SQLite process is this test binary run again with these variables
// (see TestFaultSQLiteProcess).
const (
	envSQLitePath     = "NOTIFY_FAULT_SQLITE_PATH"
	envSQLiteReceipts = "NOTIFY_FAULT_SQLITE_RECEIPTS"
	envSQLitePrefix   = "NOTIFY_FAULT_SQLITE_PREFIX"
	envSQLiteN        = "NOTIFY_FAULT_SQLITE_N"
)

// sqliteKills is how often a round SIGKILLs the SQLite process: twice
// while it sends (and delivers), once while it only delivers.
const sqliteKills = 3

// TestFaultSQLite runs the single-machine form of the suite on one SQLite
// file: a child process (this test binary again, TestFaultSQLiteProcess)
// sends every notification of the round (retrying each until Send
// succeeds, and appending its receipt to a file with one write) and
// delivers them, with the panicking and hanging channel. It is SIGKILLed
// twice while it sends and once after, and started again on the same
// file each time; the new process sends whatever has no receipt yet
// (the caller's retry: the same notification, the same event ID) and
// delivers what the file holds. Counts as the other variants: 0 lost, 0
// sent twice outside a crash during the provider call, every delivery
// final in the log.
func TestFaultSQLite(t *testing.T) {
	s := runScale(t)
	var total tally
	for round := 1; round <= s.rounds; round++ {
		tl := sqliteRound(t, s, round)
		t.Logf("sqlite round %d/%d: %s", round, s.rounds, tl.line())
		tl.check(t, fmt.Sprintf("sqlite round %d", round))
		if s.on("sigkill") && tl.faults.sigkills != sqliteKills {
			t.Errorf("sqlite round %d: %d SIGKILLs, want %d", round, tl.faults.sigkills, sqliteKills)
		}
		total.add(tl)
	}
	// No backend wrappers, connection kills or lost replies here: one
	// process owns the file; the SIGKILLs are checked per round.
	fired := s
	fired.off = append(slices.Clone(s.off), "backend", "kills", "replies", "sigkill")
	total.checkFired(t, fired, false, "all rounds")
	summary("sqlite", s, total)
}

func sqliteRound(t *testing.T, s scale, round int) tally {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.giveUp+s.maxWait+2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	path, receiptsPath := filepath.Join(dir, "notify.db"), filepath.Join(dir, "receipts")
	prefix := randomName(fmt.Sprintf("sq%d_", round))
	p := newProvider()
	srv := httptest.NewServer(p)
	defer srv.Close()

	env := []string{envRole + "=sqlite", envSQLitePath + "=" + path, envSQLiteReceipts + "=" + receiptsPath,
		envSQLitePrefix + "=" + prefix, envSQLiteN + "=" + strconv.Itoa(s.n), envProvider + "=" + srv.URL}
	if s.on("panic") {
		env = append(env, envPanicEvery+"="+strconv.Itoa(s.panicEvery))
	}
	if s.on("hang") {
		env = append(env, envHangEvery+"="+strconv.Itoa(s.hangEvery))
	}
	child := startChild(t, "TestFaultSQLiteProcess", env)
	defer child.stop()

	receipted := func() int {
		rs, _ := readReceipts(receiptsPath)
		return len(rs)
	}
	sigCtx, stopSig := context.WithCancel(ctx)
	sigDone := make(chan struct{})
	go func() {
		defer close(sigDone)
		if !s.on("sigkill") {
			return
		}
		wait := func(cond func() bool) bool {
			for !cond() {
				select {
				case <-sigCtx.Done():
					return false
				case <-time.After(2 * time.Millisecond):
				}
			}
			return true
		}
		// Twice mid-Send: once a random share of the receipts is written.
		for i := range 2 {
			at := int(float64(s.n) * (0.1 + 0.4*float64(i) + rand.Float64()*0.3))
			if !wait(func() bool { return receipted() >= at }) {
				return
			}
			child.sigkill()
		}
		// Once mid-delivery: every Send answered, part of the calls made.
		if !wait(func() bool { return receipted() >= s.n }) {
			return
		}
		base := p.count()
		if !wait(func() bool { return p.count() > base+int64(rand.N(20)) || p.count() >= int64(s.n) }) {
			return
		}
		time.Sleep(rand.N(20 * time.Millisecond))
		child.sigkill()
	}()

	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(t, err)
	defer db.Close()
	var logsNow map[string]notify.DeliveryRecord
	ok := waitFinal(ctx, s, time.Second, func() (int, string) {
		if n := receipted(); n < s.n {
			return s.n - n, fmt.Sprintf("receipts %d calls %d", n, p.count())
		}
		var live int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM queue_jobs WHERE state = 0").Scan(&live); err != nil {
			return -1, err.Error()
		}
		if live > 0 {
			return live, fmt.Sprintf("live %d calls %d", live, p.count())
		}
		var err error
		if logsNow, err = scanSQLiteLog(ctx, db); err != nil {
			return -1, err.Error()
		}
		open := 0
		for _, ds := range logsNow {
			if !ds.Status.Final() {
				open++
			}
		}
		return open, fmt.Sprintf("open %d calls %d", open, p.count())
	})
	settled := time.Now()
	if !ok {
		t.Errorf("sqlite round %d: the round did not settle (no progress for %v); %d receipts of %d", round, s.stall, receipted(), s.n)
	}
	stopSig()
	<-sigDone
	assert.NoError(t, child.stop(), "stop the SQLite process")
	final, err := scanSQLiteLog(ctx, db)
	require.NoError(t, err)
	rs, err := readReceipts(receiptsPath)
	require.NoError(t, err)
	results := make([]sendResult, s.n)
	for i := range results {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		if r, ok := rs[id]; ok {
			results[i] = r
		} else {
			results[i] = sendResult{eventID: id, lastErr: "no receipt"}
		}
	}
	calls, faults := p.snapshot()
	tl := count(results, calls, final, child.deathTimes())
	tl.faults.sigkills, tl.faults.childCrashes = child.counts()
	tl.faults.panics, tl.faults.hangs = faults["panic"], faults["hang"]
	tl.sending, tl.settling, tl.took = 0, settled.Sub(start), time.Since(start)
	if t.Failed() {
		t.Logf("last SQLite-process output:\n%s", child.logs.String())
	}
	return tl
}

// readReceipts reads the receipts the SQLite processes wrote, one line
// each: event ID, notification ID, duplicate, deliveries, tries.
func readReceipts(path string) (map[string]sendResult, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]sendResult{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue // a line cut by a SIGKILL cannot happen (one write), but a partial read can
		}
		dels, _ := strconv.Atoi(fs[3])
		tries, _ := strconv.Atoi(fs[4])
		out[fs[0]] = sendResult{eventID: fs[0], ok: true, tries: tries,
			receipt: notify.Receipt{NotificationID: fs[1], Duplicate: fs[2] == "true", Deliveries: make([]notify.DeliveryRef, dels)}}
	}
	return out, sc.Err()
}

// scanSQLiteLog reads every delivery's log from the file.
func scanSQLiteLog(ctx context.Context, db *sql.DB) (map[string]notify.DeliveryRecord, error) {
	rows, err := db.QueryContext(ctx, `SELECT delivery_id, notification_id, channel, address, status, reason, attempt, provider_id, maybe_sent, coalesce(at, 0)
		FROM log_events ORDER BY delivery_id, seq`)
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
		var at int64
		if err := rows.Scan(&e.DeliveryID, &e.NotificationID, &e.Channel, &e.Address, &status, &e.Reason, &e.Attempt, &e.ProviderID, &e.MaybeSent, &at); err != nil {
			return nil, err
		}
		e.Status, e.At = notify.Status(status), time.Unix(0, at)
		if len(evs) > 0 && evs[0].DeliveryID != e.DeliveryID {
			flush()
		}
		evs = append(evs, e)
	}
	flush()
	return out, rows.Err()
}

// TestFaultSQLiteProcess is the process of TestFaultSQLite (run by it, in
// a child process); on its own it skips.
func TestFaultSQLiteProcess(t *testing.T) {
	if os.Getenv(envRole) != "sqlite" {
		t.Skip("the SQLite process of TestFaultSQLite; not a test by itself")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	every := func(env string) int64 {
		n, _ := strconv.ParseInt(os.Getenv(env), 10, 64)
		return n
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	path := os.Getenv(envSQLitePath)
	// The killed process's lock went with it; retry briefly all the same.
	var b *sqlite.Backend
	var err error
	for range 100 {
		if b, err = sqlite.Open(path, sqlite.Config{Visibility: visibility}); !errors.Is(err, sqlite.ErrLocked) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Migrate(ctx))
	pc := &providerClient{url: os.Getenv(envProvider), client: &http.Client{}, pid: os.Getpid()}
	ch := &faultChannel{call: pc.call, report: pc.report, panicEvery: every(envPanicEvery), hangEvery: every(envHangEvery)}
	d, err := notify.New(notify.Config{
		Queue: b.Queue(), Store: b.Store(), Deduper: b.Deduper(), Channels: []notify.Channel{ch},
		DefaultWorkers: 16, SendTimeout: sendTimeout, BackendTimeout: backendTimeout, ShutdownGrace: 3 * time.Second,
		Retry:      notify.RetryPolicy{MaxAttempts: 10, BaseDelay: 20 * time.Millisecond, MaxDelay: 500 * time.Millisecond},
		PruneEvery: -1, Logger: logger,
	})
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()

	receiptsPath := os.Getenv(envSQLiteReceipts)
	done, err := readReceipts(receiptsPath)
	require.NoError(t, err)
	out, err := os.OpenFile(receiptsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer out.Close()
	prefix := os.Getenv(envSQLitePrefix)
	n, err := strconv.Atoi(os.Getenv(envSQLiteN))
	require.NoError(t, err)
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				id := fmt.Sprintf("%s-%05d", prefix, i)
				if _, ok := done[id]; ok {
					continue
				}
				r := sendOne(ctx, d, note(id), time.Hour)
				if !r.ok {
					continue // stopped
				}
				mu.Lock()
				_, err := fmt.Fprintf(out, "%s %s %v %d %d\n", id, r.receipt.NotificationID, r.receipt.Duplicate, len(r.receipt.Deliveries), r.tries)
				mu.Unlock()
				if err != nil {
					fmt.Fprintf(os.Stderr, "write receipt of %s: %v\n", id, err)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, <-ran)
}
