package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/notifyhttp"
)

// TestEndToEndPostgres runs the real binary on PostgreSQL: a key made with
// "notifyd keys create", a send with the Go Client and one with the curl
// example of the README, then a load during which the server is SIGKILLed
// and started again on the same database. Every notification accepted
// (whose receipt a client got) is delivered: printed by a console channel
// and logged sent.
func TestEndToEndPostgres(t *testing.T) {
	// The backend's settings come through the environment, the rest
	// through flags: both paths are exercised.
	env := postgresEnv(t)

	// A key, made before the first serve (keys create migrates too).
	made := createKey(t, env, "send,read")
	var listed []keyView
	out := runNotifyd(t, env, "keys", "list", "--json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0].ID != made.ID ||
		strings.Join(listed[0].Scopes, ",") != "send,read" || strings.Contains(out, made.Secret) {
		t.Fatalf("keys list: %q (%v)", out, err)
	}

	dir := t.TempDir()
	consoleFiles := []string{filepath.Join(dir, "console-1.jsonl"), filepath.Join(dir, "console-2.jsonl")}
	serveArgs := func(i int) []string {
		// A short lease, so the jobs the killed server held come back soon.
		return []string{"--addr", "127.0.0.1:0", "--console-out", consoleFiles[i], "--queue-visibility", "2s"}
	}
	srv := startServer(t, env, serveArgs(0)...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := newClient(t, srv.url(), made.ID, made.Secret)

	if err := getOK(srv.url() + "/readyz"); err != nil {
		t.Fatalf("/readyz: %v", err)
	}

	// The Go client.
	r, err := client.Send(ctx, smsNotification("client-1"))
	if err != nil {
		t.Fatalf("Client.Send: %v", err)
	}
	// The README's curl example, run as it is.
	curlReceipt := runCurlExample(t, srv.url(), made.ID, made.Secret)
	waitDelivered(ctx, t, client, consoleFiles, []notify.Receipt{r, curlReceipt})

	// The metrics went through the OpenTelemetry Prometheus exporter.
	metrics, err := getBody(srv.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`notify_delivery_events_total{`, `status="sent"`, `notify_send_duration_seconds_bucket{`, `notifyd_http_requests_total{`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Load from 4 senders; SIGKILL once 40 are accepted; start again.
	// Each sender retries a notification (same event ID) until it is
	// accepted, through whichever server is up.
	const total, senders, killAt = 200, 4, 40
	var current atomic.Pointer[notifyhttp.Client]
	current.Store(client)
	var (
		mu       sync.Mutex
		receipts = map[string]notify.Receipt{} // by event ID
		accepted atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range senders {
		wg.Go(func() {
			for i := w; i < total; i += senders {
				n := smsNotification(fmt.Sprintf("load-%d", i))
				if i%2 == 0 {
					// Scheduled: still queued when the server dies.
					n.SendAt = time.Now().Add(3 * time.Second)
				}
				for {
					r, err := current.Load().Send(ctx, n)
					if err == nil {
						mu.Lock()
						receipts[n.EventID] = r
						mu.Unlock()
						accepted.Add(1)
						break
					}
					if ctx.Err() != nil {
						return
					}
					failures.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	waitFor(t, 2*time.Minute, "40 notifications accepted", func() bool { return accepted.Load() >= killAt })
	srv.signal(syscall.SIGKILL)
	if code := srv.wait(30 * time.Second); code != -1 {
		t.Logf("exit code after SIGKILL: %d", code)
	}
	killedAt := accepted.Load()
	mu.Lock()
	beforeKill := map[string]bool{}
	for _, r := range receipts {
		beforeKill[r.Deliveries[0].ID] = true
	}
	mu.Unlock()
	srv2 := startServer(t, env, serveArgs(1)...)
	current.Store(newClient(t, srv2.url(), made.ID, made.Secret))
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the senders ran out of time: %d of %d accepted", accepted.Load(), total)
	}
	t.Logf("accepted %d before the SIGKILL, %d in all; %d sends failed and were retried", killedAt, accepted.Load(), failures.Load())
	if killedAt >= total {
		t.Fatalf("every notification was accepted before the SIGKILL: the test killed nothing in flight")
	}

	all := make([]notify.Receipt, 0, len(receipts))
	for _, r := range receipts {
		all = append(all, r)
	}
	client2 := current.Load()
	waitDelivered(ctx, t, client2, consoleFiles, all)
	first, second := printedDeliveries(t, consoleFiles[:1]), printedDeliveries(t, consoleFiles[1:])
	var carried, twice int
	for id := range beforeKill {
		if second[id] > 0 {
			carried++
		}
		if first[id]+second[id] > 1 {
			twice++
		}
	}
	t.Logf("of %d accepted before the SIGKILL: %d delivered by the restarted server, %d printed twice (at least once: allowed)", len(beforeKill), carried, twice)
	if carried == 0 {
		t.Error("the restarted server delivered nothing accepted before the SIGKILL (the scheduled ones should have been)")
	}

	// Keys: a rotated key's new secret works; a revoked key is refused.
	var rotated madeKey
	out = runNotifyd(t, env, "keys", "rotate", made.ID, "--overlap", "1h", "--json")
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated.Secret == "" || rotated.Secret == made.Secret || rotated.Secrets != 2 {
		t.Fatalf("keys rotate: %q (%v)", out, err)
	}
	if _, err := newClient(t, srv2.url(), made.ID, rotated.Secret).Send(ctx, smsNotification("rotated-1")); err != nil {
		t.Fatalf("send with the rotated secret: %v", err)
	}
	if _, err := client2.Send(ctx, smsNotification("old-secret-1")); err != nil {
		t.Fatalf("send with the old secret during the overlap: %v", err)
	}
	runNotifyd(t, env, "keys", "revoke", made.ID)
	_, err = client2.Send(ctx, smsNotification("revoked-1"))
	if !errors.Is(err, notifyhttp.ErrForbidden) {
		t.Fatalf("send with a revoked key: %v, want ErrForbidden", err)
	}

	srv2.signal(syscall.SIGTERM)
	if code := srv2.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if logs := srv.logs() + srv2.logs(); strings.Contains(logs, made.Secret) || strings.Contains(logs, rotated.Secret) {
		t.Error("a secret appears in the logs")
	}
}

// postgresEnv returns the environment of a notifyd on a fresh schema of
// the test PostgreSQL (dropped when the test ends), plus extra.
func postgresEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	pgURL := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	schema := "notifyd_e2e_" + randomHex(6)
	dropSchema(t, pgURL, schema)
	encKey := make([]byte, 32)
	_, _ = rand.Read(encKey)
	return childEnv(append([]string{
		"NOTIFYD_POSTGRES_URL=" + pgURL,
		"NOTIFYD_POSTGRES_SCHEMA=" + schema,
		"NOTIFYD_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(encKey),
	}, extra...)...)
}

// createKey makes a key with "notifyd keys create".
func createKey(t *testing.T, env []string, scopes string) madeKey {
	t.Helper()
	var made madeKey
	out := runNotifyd(t, env, "keys", "create", "--name", "e2e", "--scopes", scopes, "--json")
	if err := json.Unmarshal([]byte(out), &made); err != nil || made.ID == "" || !strings.HasPrefix(made.Secret, "nsk_") {
		t.Fatalf("keys create: %q (%v)", out, err)
	}
	return made
}

// smsNotification is a notification to one explicit phone number.
func smsNotification(eventID string) notify.Notification {
	return notify.Notification{
		EventID: eventID, To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}},
		Content: &notify.Message{Body: "hello " + eventID},
	}
}

func newClient(t *testing.T, base, keyID, secret string) *notifyhttp.Client {
	t.Helper()
	c, err := notifyhttp.NewClient(notifyhttp.ClientConfig{
		BaseURL: base, KeyID: keyID, Secret: secret, HTTPClient: &http.Client{Timeout: 10 * time.Second},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitDelivered waits until every delivery of every receipt is printed by
// a console channel (in any of the files) and logged sent.
func waitDelivered(ctx context.Context, t *testing.T, c *notifyhttp.Client, consoleFiles []string, receipts []notify.Receipt) {
	t.Helper()
	want := map[string]bool{}
	for _, r := range receipts {
		if len(r.Deliveries) != 1 {
			t.Fatalf("receipt %s: %d deliveries, want 1: %+v", r.EventID, len(r.Deliveries), r)
		}
		want[r.Deliveries[0].ID] = true
	}
	deadline := time.Now().Add(time.Minute)
	for {
		printed := printedDeliveries(t, consoleFiles)
		var missing []string
		for id := range want {
			if printed[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted deliveries were never printed by a console channel, such as %s", len(missing), len(want), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And the log says sent, for each.
	pending := receipts
	for {
		var still []notify.Receipt
		var last string
		for _, r := range pending {
			recs, err := c.Status(ctx, r.NotificationID)
			if err != nil || len(recs) != 1 || recs[0].Status != notify.StatusSent {
				still = append(still, r)
				last = fmt.Sprintf("%s: %+v %v", r.NotificationID, recs, err)
			}
		}
		if pending = still; len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted deliveries are not logged sent, such as %s", len(pending), len(receipts), last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// printedDeliveries counts the console channels' lines per delivery ID.
func printedDeliveries(t *testing.T, files []string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, f := range files {
		fh, err := os.Open(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var line consoleLine
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				continue // a line cut short by the SIGKILL
			}
			if line.Channel != notify.ChannelSMS {
				t.Errorf("console line on channel %q, want sms: %s", line.Channel, sc.Bytes())
			}
			n[line.DeliveryID]++
		}
		fh.Close()
	}
	return n
}

// runCurlExample runs the README's signed curl example through bash and
// returns the receipt it printed.
func runCurlExample(t *testing.T, base, keyID, secret string) notify.Receipt {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed for the README's curl example", tool)
			}
			t.Skipf("%s is needed for the README's curl example", tool)
		}
	}
	script := readmeCurlExample(t)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "NOTIFY_URL="+base, "NOTIFY_KEY="+keyID, "NOTIFY_SECRET="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's curl example: %v\n%s\nscript:\n%s", err, out, script)
	}
	var r notify.Receipt
	if err := json.Unmarshal(out, &r); err != nil || r.NotificationID == "" {
		t.Fatalf("the README's curl example printed %q, not a receipt (%v)", out, err)
	}
	return r
}

// readmeCurlExample returns the ```sh block of the repository's README
// that signs a request with openssl and sends it with curl.
func readmeCurlExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(data), "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "curl ") && strings.Contains(block, "openssl dgst -sha256 -hmac") {
			return block
		}
	}
	t.Fatal("README.md has no ```sh block with the signed curl example")
	return ""
}

// TestNotifyHTTPWorkedExample runs the worked example of
// notifyhttp/README.md through bash as it is and checks that it prints
// the digests that README shows: the recipe the curl example follows.
func TestNotifyHTTPWorkedExample(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is needed")
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "notifyhttp", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(data), "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "openssl dgst -sha256 -hmac") {
			continue
		}
		var want []string
		for _, line := range strings.Split(block, "\n") {
			if d, ok := strings.CutPrefix(line, "# "); ok && len(d) == 64 {
				want = append(want, d)
			}
		}
		out, err := exec.Command("bash", "-euo", "pipefail", "-c", block).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			_, d, _ := strings.Cut(line, "= ")
			got = append(got, d)
		}
		if len(want) == 0 || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("the worked example prints %q; its comments say %q", got, want)
		}
		return
	}
	t.Fatal("notifyhttp/README.md has no ```sh block signing with openssl")
}

func getBody(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s %s", url, resp.Status, b)
	}
	return string(b), err
}

func getOK(url string) error {
	_, err := getBody(url)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dropSchema drops the test's schema when the test ends.
func dropSchema(t *testing.T, pgURL, schema string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
}
