package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

// With no backend given, notifyd keeps its queue, log and API keys in
// notifyd.db (and notifyd.db.keys) in its directory: a notification
// accepted, scheduled for later and not yet sent when the process is
// SIGKILLed is delivered after a restart on the same files, with the same
// key.
func TestDefaultSQLiteSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServerIn(t, dir, childEnv(), "--addr", "127.0.0.1:0")
	keys, err := os.ReadFile(filepath.Join(dir, "notifyd.db.keys"))
	if err != nil {
		t.Fatalf("no key file beside the database: %v\n%s", err, srv.logs())
	}
	var entries []struct{ ID, Secret string }
	if err := json.Unmarshal(keys, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("key file: %s (%v)", keys, err)
	}
	key := entries[0]

	body, _ := json.Marshal(notify.Notification{
		EventID: "sqlite-restart-1", To: []notify.Address{{Channel: "sms", Value: "+15005550006"}},
		Content: &notify.Message{Body: "accepted before the kill"}, SendAt: time.Now().Add(3 * time.Second),
	})
	req, _ := http.NewRequest(http.MethodPost, srv.url()+"/v1/notifications", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	notifyhttp.SignRequest(req, body, key.ID, key.Secret, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("send: %s\n%s", resp.Status, srv.logs())
	}
	srv.signal(syscall.SIGKILL)
	srv.wait(10 * time.Second)
	if strings.Contains(srv.stdoutText(), "accepted before the kill") {
		t.Fatal("the notification was sent before the kill; the test needs it scheduled later")
	}

	again := startServerIn(t, dir, childEnv(), "--addr", "127.0.0.1:0")
	waitFor(t, 20*time.Second, "the restarted server to deliver the notification accepted before the kill", func() bool {
		return strings.Contains(again.stdoutText(), "accepted before the kill")
	})
	if logs := again.logs(); strings.Contains(logs, "a new API key") {
		t.Errorf("the restarted server made a new key instead of reading notifyd.db.keys:\n%s", logs)
	}
	again.signal(syscall.SIGTERM)
	if code := again.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, again.logs())
	}
}
