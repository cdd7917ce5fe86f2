// Package redistest gives the Redis backends' tests their Redis: a client of
// the shared test server (NOTIFY_TEST_REDIS_ADDR), a key prefix of their
// own, and private redis-server processes that a test may stop and start
// again (NOTIFY_TEST_REDIS_SERVER names the binary). scripts/services/redis.sh
// sets both variables.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify/internal/testenv"
	goredis "github.com/redis/go-redis/v9"
)

// Client returns a client of the shared test Redis, closed when the test
// ends. The test is skipped (failed under CI=true) when there is none.
func Client(t testing.TB) *goredis.Client {
	t.Helper()
	addr := testenv.Need(t, "NOTIFY_TEST_REDIS_ADDR", "Redis")
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: NOTIFY_TEST_REDIS_ADDR=%s does not answer PING: %v", addr, err)
	}
	return rdb
}

// Prefix returns a key prefix that no other test (nor another run of this
// one) uses.
func Prefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:", strings.ReplaceAll(t.Name(), " ", "_"), time.Now().UnixNano())
}

// Server is a private redis-server process on its own port, without
// persistence, that the test can stop and start again.
type Server struct {
	Addr string
	bin  string
	port int
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// StartServer starts a private redis-server on a free port, with args added
// to its command line (e.g. "--enable-debug-command", "local"), and stops it
// when the test ends. A port taken between choosing it and redis-server
// binding it (by another test's dial or server) is replaced by a new one.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := testenv.Need(t, "NOTIFY_TEST_REDIS_SERVER", "redis-server (the binary)")
	var err error
	for range 5 {
		var l net.Listener
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin, port: port, args: args}
		if err = s.start(t); err == nil {
			t.Cleanup(func() { s.Stop(t) })
			return s
		}
		t.Logf("redistest: %v; trying another port", err)
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// Start starts the server (again) on its port and waits until it answers.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(t); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// start starts the server and waits until it answers, as itself: a server
// that exits early (its port was taken) or a PING answered by another
// process is an error.
func (s *Server) start(t testing.TB) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("server on %s is already running", s.Addr)
	}
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning"}, s.args...)
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	defer func() { _ = rdb.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start (port taken?)", s.Addr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := rdb.Info(ctx, "server").Result()
		cancel()
		if err == nil {
			if !strings.Contains(info, "process_id:"+strconv.Itoa(cmd.Process.Pid)+"\r\n") {
				_ = cmd.Process.Kill()
				<-exited
				return fmt.Errorf("another redis-server answers on %s", s.Addr)
			}
			s.cmd, s.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s does not answer: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: no goodbye to its clients, as in a crash)
// and waits until it has exited. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// RoundTrips counts a client's round trips to Redis: each command sent on
// its own is one, and so is each pipeline. Install it with rdb.AddHook.
type RoundTrips struct{ n atomic.Int64 }

// Count returns the round trips so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// DialHook passes dials through.
func (r *RoundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// ProcessHook counts one round trip per command.
func (r *RoundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts one round trip per pipeline.
func (r *RoundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}
