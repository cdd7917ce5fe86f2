package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
)

// TestServeSQSRedis runs the real binary with deliveries on SQS, dedup
// claims and rate limits on Redis, and the log and keys on PostgreSQL:
// notifications are delivered, a repeated event ID is a duplicate, and
// SIGTERM exits 0.
func TestServeSQSRedis(t *testing.T) {
	sqsURL := testenv.Need(t, "NOTIFY_TEST_SQS_URL", "An SQS server (fauxqs)")
	redisAddr := testenv.Need(t, "NOTIFY_TEST_REDIS_ADDR", "Redis")
	prefix := "notifyd-" + randomHex(4) + "-" // queues of their own on a shared server
	env := postgresEnv(t,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"NOTIFYD_SQS_ENDPOINT="+sqsURL, "NOTIFYD_SQS_REGION=us-east-1", "NOTIFYD_SQS_CREATE_QUEUES=true",
		"NOTIFYD_QUEUE_PREFIX="+prefix,
		"NOTIFYD_REDIS_ADDR="+redisAddr,
	)
	made := createKey(t, env, "send,read")
	console := filepath.Join(t.TempDir(), "console.jsonl")
	srv := startServer(t, env, "--addr", "127.0.0.1:0", "--console-out", console)
	srv.mu.Lock()
	var backends map[string]any
	for _, rec := range srv.lines {
		if rec["msg"] == "listening" {
			backends, _ = rec["backends"].(map[string]any)
		}
	}
	srv.mu.Unlock()
	for role, want := range map[string]string{"queue": "sqs", "store": "postgres", "keys": "postgres", "dedup": "redis", "ratelimit": "redis"} {
		if backends[role] != want {
			t.Errorf("backend of %s: %v, want %s (all: %v)", role, backends[role], want, backends)
		}
	}
	if err := getOK(srv.url() + "/readyz"); err != nil {
		t.Fatalf("/readyz: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newClient(t, srv.url(), made.ID, made.Secret)
	var receipts []notify.Receipt
	for i := range 20 {
		r, err := c.Send(ctx, smsNotification(fmt.Sprintf("sqs-%d", i)))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		receipts = append(receipts, r)
	}
	again, err := c.Send(ctx, smsNotification("sqs-0"))
	if err != nil || !again.Duplicate || again.NotificationID != receipts[0].NotificationID {
		t.Fatalf("the same event ID again: %+v, %v; want a duplicate of %s", again, err, receipts[0].NotificationID)
	}
	waitDelivered(ctx, t, c, []string{console}, receipts)

	srv.signal(syscall.SIGTERM)
	if code := srv.wait(time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}
