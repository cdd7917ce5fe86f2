package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real binary, built once per test run (with -race when the tests
// are), into a directory TestMain removes.
var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// notifydBinary builds cmd/notifyd (go build) once and returns its path.
func notifydBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "notifyd-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "notifyd")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// childEnv is this process's environment without NOTIFYD_* variables,
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runNotifyd runs a command of the binary to its end and returns its
// stdout; it fails the test when the command fails.
func runNotifyd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(notifydBinary(t), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("notifyd %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// server is a running notifyd.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // host:port it listens on

	mu     sync.Mutex
	stderr bytes.Buffer
	stdout bytes.Buffer
	lines  []map[string]any // stderr's JSON log records
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// lockedWriter writes to a server's buffer under its lock.
type lockedWriter struct {
	s *server
	b *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.b.Write(p)
}

// startServer starts "notifyd serve args..." in a fresh directory (where
// the default SQLite file goes) and waits until it listens.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), env, args...)
}

// startServerIn starts "notifyd serve args..." in dir and waits until it
// listens.
func startServerIn(t *testing.T, dir string, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, exited: make(chan struct{})}
	s.cmd = exec.Command(notifydBinary(t), append([]string{"serve"}, args...)...)
	s.cmd.Env = env
	s.cmd.Dir = dir
	s.cmd.Stdout = lockedWriter{s, &s.stdout}
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec map[string]any
			_ = json.Unmarshal([]byte(line), &rec)
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			if rec != nil {
				s.lines = append(s.lines, rec)
			}
			s.mu.Unlock()
			if rec["msg"] == "listening" {
				addr, _ := rec["addr"].(string)
				select {
				case listening <- addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		s.err = s.cmd.Wait()
		_ = pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("notifyd (pid %d) stderr:\n%s", s.cmd.Process.Pid, s.logs())
		}
	})
	select {
	case s.addr = <-listening:
	case <-s.exited:
		t.Fatalf("notifyd exited before listening: %v\n%s", s.err, s.logs())
	case <-time.After(2 * time.Minute):
		t.Fatalf("notifyd did not listen within 2 minutes:\n%s", s.logs())
	}
	return s
}

// url is the server's base URL.
func (s *server) url() string { return "http://" + s.addr }

// stdoutText returns what the server wrote to stdout so far (the console
// channels' lines).
func (s *server) stdoutText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stdout.String()
}

// logs returns what the server wrote to stderr so far.
func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// logged reports whether a log record with that message was written.
func (s *server) logged(msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range s.lines {
		if rec["msg"] == msg {
			return true
		}
	}
	return false
}

// signal sends sig to the server.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the server to exit and returns its exit code.
func (s *server) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.t.Fatalf("notifyd did not exit within %s:\n%s", timeout, s.logs())
	}
	var ee *exec.ExitError
	switch {
	case s.err == nil:
		return 0
	case errors.As(s.err, &ee):
		return ee.ExitCode()
	}
	s.t.Fatalf("wait: %v", s.err)
	return -1
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
