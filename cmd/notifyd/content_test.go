package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// A template from --templates with a tracking link: the SMS the console
// channel prints carries this delivery's signed link, notifyd's /t/c/
// answers it with a redirect to the target, and the click shows in the
// delivery's log.
func TestTemplatesAndTrackingLinks(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "templates.json")
	if err := os.WriteFile(tmpl, []byte(`{"order-shipped": {"": {
		"sms": {"body": "Order {{.order}} shipped: {{trackClick \"https://shop.example/orders/42\"}}"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	const keyID, secret = "content-test", "a-secret-for-the-content-test"
	srv := startServerIn(t, dir, childEnv("NOTIFYD_BOOTSTRAP_KEY="+keyID+":"+secret+":send,read,admin", "NOTIFYD_TRACK_KEYS="+key),
		"--addr", addr, "--templates", tmpl, "--track-base-url", "http://"+addr)
	c := newClient(t, srv.url(), keyID, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Send(ctx, notify.Notification{
		EventID: "content-1", Template: "order-shipped", Data: map[string]any{"order": "42"},
		To: []notify.Address{{Channel: "sms", Value: "+15005550006"}},
	})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, srv.logs())
	}
	link := regexp.MustCompile(`Order 42 shipped: (http://[^"\\ ]+/t/c/[A-Za-z0-9_-]+)`)
	var url string
	waitFor(t, 20*time.Second, "the console channel to print the SMS with its link", func() bool {
		m := link.FindStringSubmatch(srv.stdoutText())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/orders/42" {
		t.Fatalf("click %s: %s, Location %q", url, resp.Status, resp.Header.Get("Location"))
	}
	resp, err = noFollow.Get(url[:len(url)-2] + "xx")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an altered link: %s, want 404", resp.Status)
	}
	waitFor(t, 20*time.Second, "the click to be recorded", func() bool {
		recs, err := c.Status(ctx, r.NotificationID)
		if err != nil || len(recs) != 1 {
			return false
		}
		for _, e := range recs[0].Events {
			if e.Status == notify.StatusClicked && strings.Contains(e.Reason, "shop.example") {
				return true
			}
		}
		return false
	})
	srv.signal(syscall.SIGTERM)
	if code := srv.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, srv.logs())
	}
}
