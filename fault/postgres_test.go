//go:build linux

package fault_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// The delivering process is this test binary run again with these
// variables (see TestFaultDeliverer).
const (
	envRole       = "NOTIFY_FAULT_ROLE" // "deliverer"
	envDSN        = "NOTIFY_FAULT_DSN"
	envSchema     = "NOTIFY_FAULT_SCHEMA"
	envProvider   = "NOTIFY_FAULT_PROVIDER"
	envPanicEvery = "NOTIFY_FAULT_PANIC_EVERY"
	envHangEvery  = "NOTIFY_FAULT_HANG_EVERY"
)

// maxCrashes bounds how often a delivering process that dies by itself
// is started again in one round (a crash loop ends the round's progress).
const maxCrashes = 20

// TestFaultPostgres runs the suite on PostgreSQL: this process sends
// through a pool of its own, a child process delivers through another,
// both through the reply-losing proxy; every killEvery both pools'
// connections are terminated, and the child is SIGKILLed twice a round
// and started again.
func TestFaultPostgres(t *testing.T) {
	s := runScale(t)
	env := pgEnv(t)
	var total tally
	for round := 1; round <= s.rounds; round++ {
		tl := postgresRound(t, env, s, round)
		t.Logf("postgres round %d/%d: %s", round, s.rounds, tl.line())
		tl.check(t, fmt.Sprintf("postgres round %d", round))
		total.add(tl)
	}
	total.checkFired(t, s, true, "all rounds")
	summary("postgres", s, total)
}

func postgresRound(t *testing.T, env *pgServer, s scale, round int) tally {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.giveUp+s.maxWait+2*time.Minute)
	defer cancel()
	schema := randomName("ntf_fault_")
	admin, err := postgres.New(env.admin, postgres.Config{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, admin.Migrate(ctx))
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		if _, err := env.admin.Exec(dctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	}()
	acceptApp, deliverApp := schema+"_accept", schema+"_deliver"

	dropEvery := s.dropEvery
	if !s.on("replies") {
		dropEvery = 0
	}
	proxy, err := startReplyProxy(env.hostPort, dropEvery)
	require.NoError(t, err)
	defer proxy.Close()
	p := newProvider()
	srv := httptest.NewServer(p)
	defer srv.Close()

	// The accept side, in this process.
	pcfg, err := pgxpool.ParseConfig(env.dsn(proxy.Addr(), acceptApp, "disable"))
	require.NoError(t, err)
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	defer pool.Close()
	logs := &tailBuffer{max: 64 << 10}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg, err := postgres.New(pool, postgres.Config{Schema: schema, Visibility: visibility, Logger: logger})
	require.NoError(t, err)
	defer pg.Close()
	d, err := notify.New(notify.Config{
		Queue: pg.Queue(), Store: pg.Store(), Deduper: pg.Deduper(), Channels: []notify.Channel{acceptOnly{}},
		SendTimeout: sendTimeout, BackendTimeout: backendTimeout, PruneEvery: -1, Logger: logger,
	})
	require.NoError(t, err)

	// The deliver side, in a child process.
	childEnv := []string{envRole + "=deliverer", envSchema + "=" + schema, envProvider + "=" + srv.URL,
		envDSN + "=" + env.dsn(proxy.Addr(), deliverApp, "disable")}
	if s.on("panic") {
		childEnv = append(childEnv, envPanicEvery+"="+strconv.Itoa(s.panicEvery))
	}
	if s.on("hang") {
		childEnv = append(childEnv, envHangEvery+"="+strconv.Itoa(s.hangEvery))
	}
	child := startDeliverer(t, childEnv)
	defer child.stop()

	stopKills := func() int64 { return 0 }
	if s.on("kills") {
		stopKills = killConnections(ctx, env.admin, []string{acceptApp, deliverApp}, killEvery)
	}
	sigCtx, stopSig := context.WithCancel(ctx)
	sigDone := make(chan struct{})
	go func() {
		defer close(sigDone)
		if !s.on("sigkill") {
			return
		}
		// At random moments: once the provider has had a random share of
		// the round's calls, plus a few milliseconds.
		for i := range sigkills {
			lo := float64(i)/sigkills + 0.1
			at := int64(float64(s.n) * (lo + rand.Float64()*(0.8/sigkills-0.1)))
			for p.count() < at {
				select {
				case <-sigCtx.Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			time.Sleep(rand.N(20 * time.Millisecond))
			child.sigkill()
		}
	}()

	results := sendAll(ctx, d, randomName(fmt.Sprintf("pg%d_", round)), s.n, s.giveUp)
	sent := time.Now()
	var logsNow map[string]notify.DeliveryRecord
	ok := waitFinal(ctx, s, time.Second, func() (int, string) {
		live, err := liveJobs(ctx, env.admin, schema)
		if err != nil {
			return -1, err.Error()
		}
		if live > 0 {
			return live, fmt.Sprintf("live %d calls %d", live, p.count())
		}
		if logsNow, err = scanLog(ctx, env.admin, schema); err != nil {
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
		live, _ := liveJobs(ctx, env.admin, schema)
		t.Errorf("postgres round %d: the deliveries did not all settle (no progress for %v); %d live jobs", round, s.stall, live)
	}
	stopSig()
	<-sigDone
	kills := stopKills()
	assert.NoError(t, child.stop(), "stop the delivering process")
	final, err := scanLog(ctx, env.admin, schema)
	require.NoError(t, err)
	calls, faults := p.snapshot()
	tl := count(results, calls, final, child.deathTimes())
	tl.faults.connKills = kills
	tl.faults.txEnds, tl.faults.replyDrops = proxy.Ends(), proxy.Dropped()
	tl.faults.acceptEnds, tl.faults.acceptDrops = proxy.ByApp(acceptApp)
	tl.faults.sigkills, tl.faults.childCrashes = child.counts()
	tl.faults.panics, tl.faults.hangs = faults["panic"], faults["hang"]
	tl.sending, tl.settling, tl.took = sent.Sub(start), settled.Sub(sent), time.Since(start)
	if t.Failed() {
		t.Logf("last accept-side logs:\n%s", logs.String())
		t.Logf("last delivering-process output:\n%s", child.logs.String())
	}
	return tl
}

// deliverer runs TestFaultDeliverer in child processes, one at a time:
// it SIGKILLs the current one on request and starts another, and starts
// another when one dies by itself (up to maxCrashes).
type deliverer struct {
	t    *testing.T
	env  []string
	logs *tailBuffer
	test string // the test the child runs; TestFaultDeliverer when empty

	mu       sync.Mutex
	deaths   map[int]time.Time // pid: when it was seen dead (SIGKILL or crash)
	sigkills int
	crashes  int

	killReq  chan chan struct{}
	stopReq  chan chan error
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

func startDeliverer(t *testing.T, env []string) *deliverer {
	return startChild(t, "", env)
}

// startChild runs test in child processes (see deliverer).
func startChild(t *testing.T, test string, env []string) *deliverer {
	d := &deliverer{t: t, env: env, test: test, logs: &tailBuffer{max: 128 << 10}, deaths: map[int]time.Time{},
		killReq: make(chan chan struct{}), stopReq: make(chan chan error), done: make(chan struct{})}
	go d.loop()
	return d
}

type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func (d *deliverer) spawn() (*child, error) {
	test := d.test
	if test == "" {
		test = "TestFaultDeliverer"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	// The child dies with this process, however this one ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	fmt.Fprintf(d.logs, "--- delivering process %d started\n", cmd.Process.Pid)
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	return c, nil
}

func (d *deliverer) dead(c *child, killed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deaths[c.cmd.Process.Pid] = time.Now()
	if killed {
		d.sigkills++
	} else {
		d.crashes++
		fmt.Fprintf(d.logs, "--- delivering process %d died by itself: %v\n", c.cmd.Process.Pid, c.err)
	}
}

func (d *deliverer) loop() {
	defer close(d.done)
	var c *child
	for {
		if c == nil && d.crashes <= maxCrashes {
			var err error
			if c, err = d.spawn(); err != nil {
				fmt.Fprintf(d.logs, "--- start the delivering process: %v\n", err)
				d.mu.Lock()
				d.crashes++
				d.mu.Unlock()
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		var exited chan struct{}
		if c != nil {
			exited = c.exited
		}
		select {
		case <-exited:
			d.dead(c, false)
			c = nil
			time.Sleep(200 * time.Millisecond)
		case ack := <-d.killReq:
			if c != nil {
				_ = c.cmd.Process.Kill()
				<-c.exited
				d.dead(c, true)
				c = nil
			}
			close(ack)
		case reply := <-d.stopReq:
			if c == nil {
				reply <- nil
				return
			}
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(30 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.exited
				c.err = fmt.Errorf("did not stop within 30s of SIGTERM (killed): %w", c.err)
			}
			reply <- c.err
			return
		}
	}
}

// sigkill kills the delivering process with SIGKILL and starts another.
func (d *deliverer) sigkill() {
	ack := make(chan struct{})
	select {
	case d.killReq <- ack:
		<-ack
	case <-d.done:
	}
}

// stop stops the delivering process with SIGTERM (it finishes its sends)
// and returns its exit error.
func (d *deliverer) stop() error {
	d.stopOnce.Do(func() {
		reply := make(chan error, 1)
		select {
		case d.stopReq <- reply:
			d.stopErr = <-reply
		case <-d.done:
		}
		<-d.done
	})
	return d.stopErr
}

func (d *deliverer) deathTimes() map[int]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int]time.Time, len(d.deaths))
	for k, v := range d.deaths {
		out[k] = v
	}
	return out
}

func (d *deliverer) counts() (sigkills, crashes int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sigkills, d.crashes
}

// TestFaultDeliverer is the delivering process of TestFaultPostgres (run
// by it, in a child process); on its own it skips.
func TestFaultDeliverer(t *testing.T) {
	if os.Getenv(envRole) != "deliverer" {
		t.Skip("the delivering process of TestFaultPostgres; not a test by itself")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	every := func(env string) int64 {
		v := os.Getenv(env)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, env)
		return n
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv(envDSN))
	require.NoError(t, err)
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	schema := os.Getenv(envSchema)
	pg, err := postgres.New(pool, postgres.Config{Schema: schema, Visibility: visibility, PollInterval: 500 * time.Millisecond, Logger: logger})
	require.NoError(t, err)
	defer pg.Close()
	pc := &providerClient{url: os.Getenv(envProvider), client: &http.Client{}, pid: os.Getpid()}
	ch := &faultChannel{call: pc.call, report: pc.report, panicEvery: every(envPanicEvery), hangEvery: every(envHangEvery)}
	d, err := notify.New(notify.Config{
		Queue: pg.Queue(), Store: pg.Store(), Channels: []notify.Channel{ch},
		DefaultWorkers: 16, SendTimeout: sendTimeout, BackendTimeout: backendTimeout, ShutdownGrace: 3 * time.Second,
		Retry:      notify.RetryPolicy{MaxAttempts: 10, BaseDelay: 20 * time.Millisecond, MaxDelay: 500 * time.Millisecond},
		PruneEvery: -1, Logger: logger,
	})
	require.NoError(t, err)
	require.NoError(t, d.Run(ctx))
}
