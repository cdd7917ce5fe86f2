package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

// TestGracefulShutdown sends SIGTERM to the real binary while a request is
// in flight (its body half sent): the server stops accepting connections
// but the request completes with its receipt, then the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	const keyID, secret = "shutdown-test", "a-secret-for-the-shutdown-test"
	srv := startServer(t, childEnv("NOTIFYD_BOOTSTRAP_KEY="+keyID+":"+secret+":send,read"), "--addr", "127.0.0.1:0")

	body, _ := json.Marshal(notify.Notification{
		EventID: "shutdown-1", To: []notify.Address{{Channel: "sms", Value: "+15005550006"}},
		Content: &notify.Message{Body: "in flight during SIGTERM"},
	})
	req, err := http.NewRequest(http.MethodPost, srv.url()+"/v1/notifications", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(requestIDHeader, "in-flight-1")
	notifyhttp.SignRequest(req, body, keyID, secret, time.Now())
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	raw := wire.Bytes()
	if !bytes.HasSuffix(raw, body) {
		t.Fatalf("the request's wire form does not end with its body:\n%s", raw)
	}

	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Everything but the last bytes of the body: the handler is now
	// reading it.
	cut := len(raw) - 10
	if _, err := conn.Write(raw[:cut]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	srv.signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the shutdown to begin", func() bool {
		return srv.logged("shutting down: draining in-flight requests")
	})
	// New connections are refused once the listener is closed...
	waitFor(t, 10*time.Second, "new connections to be refused", func() bool {
		c, err := net.DialTimeout("tcp", srv.addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	// ... while the process waits for the request in flight.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-srv.exited:
		t.Fatalf("notifyd exited with a request in flight: %v\n%s", srv.err, srv.logs())
	default:
	}

	if _, err := conn.Write(raw[cut:]); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v\n%s", err, srv.logs())
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the in-flight request: %s %s\n%s", resp.Status, answer, srv.logs())
	}
	if got := resp.Header.Get(requestIDHeader); got != "in-flight-1" {
		t.Errorf("X-Request-ID: got %q, want the client's in-flight-1", got)
	}
	var r notify.Receipt
	if err := json.Unmarshal(answer, &r); err != nil || len(r.Deliveries) != 1 || r.EventID != "shutdown-1" {
		t.Fatalf("receipt: %s (%v)", answer, err)
	}

	if code := srv.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, srv.logs())
	}
	logs := srv.logs()
	for _, want := range []string{"using the SQLite file notifyd.db", `"msg":"requests drained; stopping deliveries"`, `"msg":"stopped"`, `"request_id":"in-flight-1"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	// The key came from NOTIFYD_BOOTSTRAP_KEY: no key was made and printed,
	// and the secret was never logged.
	if strings.Contains(logs, "a new API key") || strings.Contains(logs, secret) {
		t.Errorf("the log shows a key or the secret:\n%s", logs)
	}
}
