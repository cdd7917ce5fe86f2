package fault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// channelName is the one channel every notification of the suite goes to.
const channelName = "x"

func randomName(prefix string) string {
	return fmt.Sprintf("%s%012x", prefix, rand.Uint64()&(1<<48-1))
}

// call is one provider call as the provider saw it.
type call struct {
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id"`
	NotificationID string `json:"notification_id"`
	Attempt        int    `json:"attempt"`
	PID            int    `json:"pid"`
	at             time.Time
	providerID     string
}

type callReply struct {
	ProviderID string `json:"provider_id"`
}

type faultReport struct {
	Kind string `json:"kind"`
	PID  int    `json:"pid"`
}

// provider is the fake provider: it records every call durably for the
// test (outside the delivering process) and gives each a unique
// ProviderID, so the log's "sent" events name the call they record. Served
// over HTTP (PostgreSQL: the delivering process is another one) or called
// directly (memory).
type provider struct {
	mu     sync.Mutex
	calls  []call
	faults map[string]int
	n      atomic.Int64
}

func newProvider() *provider { return &provider{faults: map[string]int{}} }

func (p *provider) accept(c call) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.at = time.Now()
	c.providerID = fmt.Sprintf("pc-%d", len(p.calls)+1)
	p.calls = append(p.calls, c)
	p.n.Store(int64(len(p.calls)))
	return c.providerID
}

// fault counts a fault a channel reports before injecting it.
func (p *provider) fault(kind string) {
	p.mu.Lock()
	p.faults[kind]++
	p.mu.Unlock()
}

func (p *provider) count() int64 { return p.n.Load() }

func (p *provider) snapshot() ([]call, map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := make(map[string]int, len(p.faults))
	for k, v := range p.faults {
		f[k] = v
	}
	return slices.Clone(p.calls), f
}

// ServeHTTP answers POST /call (a send) and POST /fault (a fault report).
func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/call":
		var c call
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(callReply{ProviderID: p.accept(c)})
	case "/fault":
		var f faultReport
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.fault(f.Kind)
	default:
		http.NotFound(w, r)
	}
}

// providerClient calls a provider served over HTTP, as the delivering
// process does. Any transport error may have reached the provider:
// notify.Uncertain, so the log marks the attempt maybe-sent.
type providerClient struct {
	url    string
	client *http.Client
	pid    int
}

func (pc *providerClient) call(ctx context.Context, d *notify.Delivery) (string, error) {
	body, _ := json.Marshal(call{DeliveryID: d.ID, EventID: d.EventID, NotificationID: d.NotificationID, Attempt: d.Attempt, PID: pc.pid})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pc.url+"/call", bytes.NewReader(body))
	if err != nil {
		return "", notify.Permanent(err)
	}
	resp, err := pc.client.Do(req)
	if err != nil {
		return "", notify.Uncertain(fmt.Errorf("provider call: %w", err))
	}
	defer resp.Body.Close()
	var r callReply
	if resp.StatusCode != http.StatusOK {
		return "", notify.Retryable(fmt.Errorf("provider call: HTTP %d", resp.StatusCode), 0)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", notify.Uncertain(fmt.Errorf("provider call: read the answer: %w", err))
	}
	return r.ProviderID, nil
}

func (pc *providerClient) report(kind string) {
	body, _ := json.Marshal(faultReport{Kind: kind, PID: pc.pid})
	resp, err := pc.client.Post(pc.url+"/fault", "application/json", bytes.NewReader(body))
	if err == nil {
		_ = resp.Body.Close()
	}
}

// faultChannel is the channel under test. Every panicEvery-th first
// attempt (Delivery.Attempt == 1) it handles panics, every hangEvery-th
// ignores its ctx for hangFor and then fails without having called the
// provider: a hung call never reaches the provider, so whatever the
// Dispatcher does with it, it cannot send anything. Both report the fault
// first. A later attempt of the same delivery behaves, so a Dispatcher
// that counts a panic or an abandoned call as a failed attempt delivers it
// on the next one. Counting per process rather than by delivery ID makes
// every run inject as many faults; the price is that a delivering process
// restarted after a panic does not panic again on the same delivery.
type faultChannel struct {
	call                  func(context.Context, *notify.Delivery) (string, error)
	report                func(kind string)
	panicEvery, hangEvery int64
	firsts                atomic.Int64
}

func (c *faultChannel) Name() string { return channelName }

func (c *faultChannel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	if d.Attempt == 1 {
		k := c.firsts.Add(1)
		if c.panicEvery > 0 && k%c.panicEvery == c.panicEvery/2 {
			c.report("panic")
			panic("fault: injected channel panic on delivery " + d.ID)
		}
		if c.hangEvery > 0 && k%c.hangEvery == 0 {
			c.report("hang")
			time.Sleep(hangFor) // ignores ctx on purpose
			return notify.Result{}, notify.Retryable(errors.New("fault: injected hang; the provider was never called"), 0)
		}
	}
	id, err := c.call(ctx, d)
	if err != nil {
		return notify.Result{}, err
	}
	return notify.Result{ProviderID: id}, nil
}

// acceptOnly is the accept side's channel: the process that only sends
// never calls it.
type acceptOnly struct{}

func (acceptOnly) Name() string { return channelName }
func (acceptOnly) Send(context.Context, *notify.Delivery) (notify.Result, error) {
	return notify.Result{}, notify.ConfigError(errors.New("fault: the accept-only process does not deliver"))
}

// sendResult is what became of one notification on the accept side.
type sendResult struct {
	eventID  string
	ok       bool
	rejected bool // a ValidationError: not retried (never expected)
	receipt  notify.Receipt
	tries    int
	// Failed Sends by kind.
	inProgress, notQueued, ambiguous int
	lastErr                          string
}

func note(eventID string) notify.Notification {
	return notify.Notification{
		EventID: eventID,
		To:      []notify.Address{{Channel: channelName, Value: "addr-" + eventID}},
		Content: &notify.Message{Title: "fault suite", Body: "event " + eventID},
	}
}

// sendAll sends n notifications with unique event IDs from callers
// goroutines, each retrying its notification, unchanged, until Send
// succeeds or giveUp passes.
func sendAll(ctx context.Context, d *notify.Dispatcher, prefix string, n int, giveUp time.Duration) []sendResult {
	results := make([]sendResult, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				results[i] = sendOne(ctx, d, note(fmt.Sprintf("%s-%05d", prefix, i)), giveUp)
			}
		})
	}
	wg.Wait()
	return results
}

// sendOne is the caller's side of the retry contract: on any error, send
// the same notification again (after ~50ms on ErrInProgress).
func sendOne(ctx context.Context, d *notify.Dispatcher, n notify.Notification, giveUp time.Duration) sendResult {
	res := sendResult{eventID: n.EventID}
	start := time.Now()
	for {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		r, err := d.Send(sctx, n)
		cancel()
		res.tries++
		if err == nil {
			res.ok, res.receipt = true, r
			return res
		}
		res.lastErr = err.Error()
		pause := 10*time.Millisecond + rand.N(20*time.Millisecond)
		var ve *notify.ValidationError
		switch {
		case errors.As(err, &ve):
			res.rejected = true
			return res
		case errors.Is(err, notify.ErrInProgress):
			res.inProgress++
			pause = 50 * time.Millisecond
		case errors.Is(err, notify.ErrNotQueued):
			res.notQueued++
		default:
			res.ambiguous++
		}
		if time.Since(start) > giveUp {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-time.After(pause):
		}
	}
}

// faultCounts are the faults a round injected.
type faultCounts struct {
	connKills    int64 // backends terminated
	txEnds       int64 // transaction ends through the proxy
	replyDrops   int64 // of which the reply was lost
	acceptEnds   int64 // of the transaction ends, on the accept side's connections
	acceptDrops  int64 // of the lost replies, on the accept side's connections
	sigkills     int   // of the delivering process
	childCrashes int   // the delivering process died by itself
	panics       int
	hangs        int
	backend      int64 // memory: backend calls failed
}

// tally is a round's (or a run's) result.
type tally struct {
	n, accepted, stuck, rejected            int
	duplicates, emptyDuplicates             int
	tries, inProgress, notQueued, ambiguous int
	calls, deliveries                       int
	lost, doubledAccept, doubledDeliver     int
	crash, uncertain, nonFinal              int
	faults                                  faultCounts
	statuses                                map[notify.Status]int
	sending, settling, took                 time.Duration
	examples                                []string
}

func (t *tally) example(format string, args ...any) {
	if len(t.examples) < 12 {
		t.examples = append(t.examples, fmt.Sprintf(format, args...))
	}
}

// count classifies a finished round. logs holds every delivery the log
// knows (after the final wait); deaths when each delivering process that
// died without a graceful stop was seen dead.
//
//   - lost: an accepted event (Send succeeded, Duplicate or not) with no
//     provider call.
//   - sent twice: an event with more provider calls than one, beyond
//     those explained below. "accept" when the calls went to different
//     deliveries (the event was queued twice), "deliver" when one delivery
//     was sent twice.
//   - crash during the provider call: an extra call made by a process
//     that died (SIGKILL, or a crash) within crashWindow after the
//     provider received it, and whose ProviderID no log event records:
//     the process died before it could log what the provider said. No
//     library can avoid resending those.
//   - maybe-sent retry: an extra call whose attempt the log marks
//     MaybeSent (the channel reported an uncertain failure, such as a
//     timeout, after the provider may have had it).
//   - non-final: a delivery whose log status is not final, or a delivery
//     the provider was called for that the log does not know.
func count(results []sendResult, calls []call, logs map[string]notify.DeliveryRecord, deaths map[int]time.Time) tally {
	t := tally{n: len(results), calls: len(calls), deliveries: len(logs), statuses: map[notify.Status]int{}}
	byEvent := map[string][]call{}
	for _, c := range calls {
		byEvent[c.EventID] = append(byEvent[c.EventID], c)
	}
	for _, r := range results {
		t.tries += r.tries
		t.inProgress += r.inProgress
		t.notQueued += r.notQueued
		t.ambiguous += r.ambiguous
		switch {
		case r.ok:
			t.accepted++
			if r.receipt.Duplicate {
				t.duplicates++
				if len(r.receipt.Deliveries) == 0 {
					t.emptyDuplicates++
				}
			}
		case r.rejected:
			t.rejected++
			t.example("rejected %s: %s", r.eventID, r.lastErr)
		default:
			t.stuck++
			t.example("stuck %s after %d tries (in progress %d): %s", r.eventID, r.tries, r.inProgress, r.lastErr)
		}
		cs := byEvent[r.eventID]
		if r.ok && len(cs) == 0 {
			t.lost++
			t.example("lost %s: receipt %s duplicate=%v deliveries=%d after %d tries; log: %s",
				r.eventID, r.receipt.NotificationID, r.receipt.Duplicate, len(r.receipt.Deliveries), r.tries, describeNotification(logs, r.receipt.NotificationID))
		}
		if len(cs) < 2 {
			continue
		}
		explained, crash, uncertain := 0, 0, 0
		deliveries := map[string]bool{}
		for _, c := range cs {
			deliveries[c.DeliveryID] = true
			ds := logs[c.DeliveryID]
			if slices.ContainsFunc(ds.Events, func(e notify.Event) bool { return e.ProviderID == c.providerID }) {
				continue
			}
			if died, ok := deaths[c.PID]; ok && !died.Before(c.at) && died.Sub(c.at) <= crashWindow {
				explained++
				crash++
				continue
			}
			if slices.ContainsFunc(ds.Events, func(e notify.Event) bool { return e.Attempt == c.Attempt && e.MaybeSent }) {
				explained++
				uncertain++
			}
		}
		if explained >= len(cs)-1 {
			if crash > 0 {
				t.crash++
			} else {
				t.uncertain++
			}
			continue
		}
		if len(deliveries) > 1 {
			t.doubledAccept++
		} else {
			t.doubledDeliver++
		}
		t.example("sent twice %s (%d calls, %d deliveries): %s", r.eventID, len(cs), len(deliveries), describeCalls(cs, logs, deaths))
	}
	called := map[string]bool{}
	for _, c := range calls {
		called[c.DeliveryID] = true
		if _, ok := logs[c.DeliveryID]; !ok {
			t.nonFinal++
			t.example("delivery %s of %s was sent but is not in the log", c.DeliveryID, c.EventID)
		}
	}
	ids := make([]string, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ds := logs[id]
		t.statuses[ds.Status]++
		if !ds.Status.Final() {
			t.nonFinal++
			t.example("non-final delivery %s (called %v): %s", id, called[id], describeEvents(ds.Events))
		}
	}
	return t
}

func describeEvents(evs []notify.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s#%d", e.Status, e.Attempt)
		if e.ProviderID != "" {
			fmt.Fprintf(&b, "(%s)", e.ProviderID)
		}
		if e.MaybeSent {
			b.WriteString("(maybe sent)")
		}
		if e.Reason != "" && !e.Status.Final() {
			r := e.Reason
			if len(r) > 80 {
				r = r[:80] + "..."
			}
			fmt.Fprintf(&b, "[%s]", r)
		}
	}
	return b.String()
}

func describeNotification(logs map[string]notify.DeliveryRecord, nid string) string {
	var parts []string
	for _, ds := range logs {
		if ds.NotificationID == nid {
			parts = append(parts, ds.DeliveryID+": "+describeEvents(ds.Events))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func describeCalls(cs []call, logs map[string]notify.DeliveryRecord, deaths map[int]time.Time) string {
	var parts []string
	for _, c := range cs {
		s := fmt.Sprintf("%s delivery %s attempt %d pid %d", c.providerID, c.DeliveryID, c.Attempt, c.PID)
		if died, ok := deaths[c.PID]; ok {
			s += fmt.Sprintf(" (died %v later)", died.Sub(c.at).Round(time.Millisecond))
		}
		parts = append(parts, s+"; log: "+describeEvents(logs[c.DeliveryID].Events))
	}
	return strings.Join(parts, " | ")
}

func (t *tally) add(o tally) {
	t.n += o.n
	t.accepted += o.accepted
	t.stuck += o.stuck
	t.rejected += o.rejected
	t.duplicates += o.duplicates
	t.emptyDuplicates += o.emptyDuplicates
	t.tries += o.tries
	t.inProgress += o.inProgress
	t.notQueued += o.notQueued
	t.ambiguous += o.ambiguous
	t.calls += o.calls
	t.deliveries += o.deliveries
	t.lost += o.lost
	t.doubledAccept += o.doubledAccept
	t.doubledDeliver += o.doubledDeliver
	t.crash += o.crash
	t.uncertain += o.uncertain
	t.nonFinal += o.nonFinal
	t.faults.connKills += o.faults.connKills
	t.faults.txEnds += o.faults.txEnds
	t.faults.replyDrops += o.faults.replyDrops
	t.faults.acceptDrops += o.faults.acceptDrops
	t.faults.acceptEnds += o.faults.acceptEnds
	t.faults.sigkills += o.faults.sigkills
	t.faults.childCrashes += o.faults.childCrashes
	t.faults.panics += o.faults.panics
	t.faults.hangs += o.faults.hangs
	t.faults.backend += o.faults.backend
	t.sending += o.sending
	t.settling += o.settling
	t.took += o.took
	if t.statuses == nil {
		t.statuses = map[notify.Status]int{}
	}
	for k, v := range o.statuses {
		t.statuses[k] += v
	}
}

// line is the tally in one line, for the test log and the README.
func (t *tally) line() string {
	f := t.faults
	var fs []string
	if f.connKills > 0 {
		fs = append(fs, fmt.Sprintf("%d connections killed", f.connKills))
	}
	if f.txEnds > 0 {
		fs = append(fs, fmt.Sprintf("%d of %d transaction-end replies lost (sending %d of %d, delivering %d of %d)", f.replyDrops, f.txEnds,
			f.acceptDrops, f.acceptEnds, f.replyDrops-f.acceptDrops, f.txEnds-f.acceptEnds))
	}
	if f.sigkills > 0 {
		fs = append(fs, fmt.Sprintf("%d SIGKILLs", f.sigkills))
	}
	if f.backend > 0 {
		fs = append(fs, fmt.Sprintf("%d backend calls failed", f.backend))
	}
	fs = append(fs, fmt.Sprintf("%d panics, %d hangs", f.panics, f.hangs))
	st := make([]string, 0, len(t.statuses))
	for s, n := range t.statuses {
		st = append(st, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(st)
	return fmt.Sprintf("%d notifications, %d accepted: lost %d, sent twice %d (accept %d, deliver %d), "+
		"crash during provider call %d, maybe-sent retries %d, non-final %d, stuck %d, rejected %d, child crashes %d | "+
		"faults: %s | Send calls %d (in progress %d, not queued %d, other errors %d), duplicates %d (%d empty), "+
		"provider calls %d, deliveries %d (%s) | sending %v, settling %v, in all %v",
		t.n, t.accepted, t.lost, t.doubledAccept+t.doubledDeliver, t.doubledAccept, t.doubledDeliver,
		t.crash, t.uncertain, t.nonFinal, t.stuck, t.rejected, f.childCrashes,
		strings.Join(fs, ", "), t.tries, t.inProgress, t.notQueued, t.ambiguous, t.duplicates, t.emptyDuplicates,
		t.calls, t.deliveries, strings.Join(st, ", "),
		t.sending.Round(100*time.Millisecond), t.settling.Round(100*time.Millisecond), t.took.Round(100*time.Millisecond))
}

// check fails the test for every count that breaks the guarantee.
func (t *tally) check(tb testing.TB, what string) {
	tb.Helper()
	bad := []struct {
		n    int
		what string
	}{
		{t.lost, "lost"}, {t.doubledAccept + t.doubledDeliver, "sent twice"}, {t.nonFinal, "non-final in the log"},
		{t.stuck, "stuck (Send never succeeded)"}, {t.rejected, "rejected by Send"}, {t.faults.childCrashes, "crashes of the delivering process"},
	}
	failed := false
	for _, b := range bad {
		if b.n != 0 {
			tb.Errorf("%s: %d %s; want 0", what, b.n, b.what)
			failed = true
		}
	}
	if failed {
		for _, e := range t.examples {
			tb.Logf("  %s", e)
		}
	}
}

// checkFired fails the test for every fault that was on but never struck,
// so that a run cannot pass by injecting nothing.
func (t *tally) checkFired(tb testing.TB, s scale, postgres bool, what string) {
	tb.Helper()
	f := t.faults
	fired := []struct {
		fault string
		ok    bool
	}{
		{"panic", f.panics > 0}, {"hang", f.hangs > 0},
		{"backend", postgres || f.backend > 0},
		{"kills", !postgres || f.connKills > 0},
		{"replies", !postgres || f.replyDrops > 0},
		{"sigkill", !postgres || f.sigkills == sigkills*s.rounds},
	}
	for _, x := range fired {
		if s.on(x.fault) && !x.ok {
			tb.Errorf("%s: the %q fault was never injected (or not as often as it should be): the run proves nothing about it", what, x.fault)
		}
	}
}

// waitFinal polls probe until it reports nothing outstanding, or its
// progress signature has not changed for s.stall, or s.maxWait passed. It
// reports whether everything settled.
func waitFinal(ctx context.Context, s scale, every time.Duration, probe func() (outstanding int, progress string)) bool {
	start := time.Now()
	last, lastChange := "", time.Now()
	for {
		n, sig := probe()
		if n == 0 {
			return true
		}
		if sig != last {
			last, lastChange = sig, time.Now()
		}
		if time.Since(lastChange) > s.stall || time.Since(start) > s.maxWait {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
	}
}

// summary prints the run's one-line summary on stdout under -v.
func summary(backend string, s scale, total tally) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stdout, "fault summary: %s, %s run, %d x %d: %s\n", backend, s.name, s.rounds, s.n, total.line())
	}
}
