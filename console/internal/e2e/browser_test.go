package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
)

// chromium returns the headless browser to drive: NOTIFY_TEST_CHROMIUM, or
// chromium on the PATH. Missing, the test is skipped, or fails under
// CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NOTIFY_TEST_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "Chromium is needed: set NOTIFY_TEST_CHROMIUM to its binary, or run `make test` (scripts/services/chromium.sh installs Debian's chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing service is a failure)")
	}
	t.Skip(msg)
	return ""
}

// artifacts is where screenshots go: $NOTIFY_ARTIFACTS/console when set,
// else a temporary directory of the test.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("NOTIFY_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "console")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser is a headless Chromium tab that records every console error,
// uncaught exception and failed load of the pages it shows.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	b := &browser{t: t, ctx: ctx, dir: artifacts(t)}
	require.NoError(t, chromedp.Do(ctx)) // starts the browser, with no timeout
	messages := chromedp.Console(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m))
				b.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { cancelC(); wg.Wait() })
	return b
}

// takeErrors returns the console errors so far and forgets them.
func (b *browser) takeErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs := b.errs
	b.errs = nil
	return errs
}

// noErrors fails the test on any console error so far.
func (b *browser) noErrors() {
	b.t.Helper()
	time.Sleep(100 * time.Millisecond) // the last page's messages come through
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Empty(b.t, b.errs, "console errors")
}

// do runs steps, each bounded by a minute.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

// screenshot saves the whole page as name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := get(b, chromedp.FullScreenshot(100))
	path := filepath.Join(b.dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
}

// text returns the text of the first node sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, chromedp.Text(chromedp.CSS(sel))))
}

// attr returns an attribute of the first node sel matches.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	a := get(b, chromedp.AttributeValue(chromedp.CSS(sel), name))
	require.True(b.t, a.Exists, "%s has no %s", sel, name)
	return a.Value
}

// count returns how many nodes sel matches.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return get(b, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
}

// ns reads the data-n numbers of the cells sel matches.
func (b *browser) ns(sel string) []int {
	b.t.Helper()
	vals := get(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(`+strconv.Quote(sel)+`), e => e.getAttribute("data-n"))`))
	var out []int
	for _, v := range vals {
		n, err := strconv.Atoi(v)
		require.NoError(b.t, err)
		out = append(out, n)
	}
	return out
}

// TestConsoleInChromium loads every page of the console in headless
// Chromium against a Dispatcher on PostgreSQL with seeded deliveries:
// the numbers a person sees are Stats' and Report's, a dead letter
// replayed by clicking is delivered, a user's search opens a delivery's
// history, and the counts refresh in place. Every page is screenshotted;
// any console error fails the test.
func TestConsoleInChromium(t *testing.T) {
	e := newPGEnv(t, console.Config{RefreshInterval: 300 * time.Millisecond})
	e.run()
	nids := e.seed(12, 4)
	b := newBrowser(t)
	base := e.srv.URL + prefix
	ctx := context.Background()

	// The watch on the console sees an error (so that its silence below
	// means something).
	b.do(chromedp.Navigate(base+"/"), chromedp.Evaluate[chromedp.Void](`console.error("probe")`))
	require.Eventually(t, func() bool { return len(b.takeErrors()) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Queues: the counts are Stats', the last hour's totals Report's.
	b.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#queues`)))
	st, err := e.d.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, 12, st[notify.ChannelSMS].Dead)
	for _, ch := range e.d.Channels() {
		s := st[ch]
		assert.Equal(t, []int{s.Ready, s.Delayed, s.InFlight, s.Dead}, b.ns(`tr[data-channel="`+ch+`"] td[data-n]`), ch)
	}
	from, err := time.Parse(time.RFC3339, b.attr(`time`, "datetime"))
	require.NoError(t, err)
	to := from.UTC().Truncate(5 * time.Minute).Add(5 * time.Minute)
	rows, err := e.d.Report(ctx, notify.ReportQuery{Since: to.Add(-time.Hour), Until: to, GroupBy: []string{notify.ByChannel}})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	for _, r := range rows {
		fig := `figure[data-channel="` + r.Channel + `"]`
		assert.Equal(t, strconv.Itoa(r.Deliveries), b.attr(fig, "data-queued"), r.Channel)
		assert.Equal(t, strconv.Itoa(r.Sent), b.attr(fig, "data-sent"), r.Channel)
		assert.Equal(t, strconv.Itoa(r.Failed), b.attr(fig, "data-failed"), r.Channel)
	}
	b.screenshot("queues")

	// The counts refresh without a reload: one dead letter replayed
	// elsewhere shows here as 11.
	e.fixed.Store(true)
	dead, err := e.d.Dead(ctx, notify.ChannelSMS, notify.DeadQuery{Limit: 1})
	require.NoError(t, err)
	require.NoError(t, e.d.Replay(ctx, dead.Jobs[0].Job.ID))
	get(b, chromedp.Poll[bool](`document.querySelector('tr[data-channel="sms"] td:nth-of-type(4)').getAttribute("data-n") === "11"`,
		chromedp.WithPollingTimeout(10*time.Second)))
	assert.Contains(t, b.text(`#refresh-state`), "Updated")

	// Dead letters: replay one by clicking, confirm, see it delivered.
	b.do(chromedp.Navigate(base+"/dead"), chromedp.WaitVisible(chromedp.CSS(`#dead`)))
	assert.Equal(t, 11, b.count(`#dead tbody tr`), "the dead letters left")
	b.screenshot("dead-letters")
	id := b.attr(`#dead tbody tr`, "data-id")
	b.do(chromedp.Click(chromedp.CSS(`#dead tbody tr a.button`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	assert.Contains(t, b.text(`main`), id)
	b.screenshot("replay-confirm")
	b.do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`#replayed`)))
	assert.Equal(t, "Replayed 1 dead delivery.", b.text(`#replayed`))
	require.Eventually(t, func() bool { return e.sms.SentCount(id) == 1 }, 10*time.Second, 10*time.Millisecond)

	// Find: a user's deliveries by keyboard, then one's history.
	b.do(chromedp.Navigate(base+"/find"), chromedp.WaitVisible(chromedp.CSS(`input[name=q]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=kind]`), "user"),
		chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "u1\r"),
		chromedp.WaitVisible(chromedp.CSS(`#records`)))
	page, err := e.d.UserDeliveries(ctx, notify.UserQuery{UserID: "u1"})
	require.NoError(t, err)
	assert.Equal(t, len(page.Records), b.count(`#records tbody a`), "u1's deliveries")
	b.screenshot("find-user")
	var sms notify.DeliveryRecord
	for _, r := range page.Records {
		if r.Channel == notify.ChannelSMS && r.Status == notify.StatusDead {
			sms = r
			break
		}
	}
	require.NotEmpty(t, sms.DeliveryID)
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#records a[href*="d=%s"]`, sms.DeliveryID))),
		chromedp.WaitVisible(chromedp.CSS(`#events`)))
	assert.Equal(t, sms.DeliveryID, b.text(`#delivery-id`))
	assert.Equal(t, "dead", b.text(`#status`))
	assert.Equal(t, len(sms.Events), b.count(`#events tbody tr`), "every event of the delivery's log")
	assert.Contains(t, b.text(`#events`), "retrying")
	assert.Contains(t, b.text(`#events`), "twilio: 503")
	b.screenshot("delivery")

	// Engagement: the totals are Report's.
	b.do(chromedp.Navigate(base+"/engagement"), chromedp.WaitVisible(chromedp.CSS(`#report`)))
	day := time.Now().UTC().Truncate(24 * time.Hour)
	rep, err := e.d.Report(ctx, notify.ReportQuery{Since: day.Add(-6 * 24 * time.Hour), Until: day.Add(24 * time.Hour)})
	require.NoError(t, err)
	require.Len(t, rep, 1)
	tot := rep[0]
	assert.Equal(t, []int{tot.Deliveries, tot.Sent, tot.Delivered, tot.Failed, tot.Opened, tot.Clicked}, b.ns(`#report tfoot td[data-n]`))
	assert.Equal(t, 2*len(nids), tot.Deliveries)
	b.screenshot("engagement")

	// A page on a phone's width.
	b.do(chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#queues`)))
	b.screenshot("queues-phone")

	b.noErrors()
}
