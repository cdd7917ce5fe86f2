package fault_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment variables that choose the run (see the package doc).
const (
	envScale  = "NOTIFY_FAULT_SCALE"  // "full": 3 rounds x 10,000; default: the short run
	envN      = "NOTIFY_FAULT_N"      // notifications per round, overriding the scale's
	envRounds = "NOTIFY_FAULT_ROUNDS" // rounds, overriding the scale's
	envOff    = "NOTIFY_FAULT_OFF"    // faults to leave out, comma-separated (see faultNames)
)

// Names of the faults NOTIFY_FAULT_OFF can leave out, to tell which one
// breaks a run.
var faultNames = []string{"kills", "replies", "sigkill", "panic", "hang", "backend"}

// Timing of every run: small enough that leases expire and retries come
// quickly, with SendTimeout far above the fake provider's latency.
const (
	sendTimeout    = 2 * time.Second
	hangFor        = sendTimeout + 3*time.Second // a hanging channel ignores its ctx this long
	visibility     = 4 * time.Second             // queue leases
	backendTimeout = 2 * time.Second
	killEvery      = 250 * time.Millisecond // pg_terminate_backend on both pools
	callers        = 32                     // concurrent Send callers
	sigkills       = 2                      // of the delivering process, per PostgreSQL round
	// crashWindow: a provider call from a process that died at most this
	// long after the call, and whose outcome no log event records, is "a
	// crash during the provider call" (see the package doc).
	crashWindow = sendTimeout + 2*backendTimeout + 2*time.Second
)

// scale is the size of a run and how often each fault strikes.
type scale struct {
	name   string
	rounds int
	n      int // notifications per round
	// Every k-th first attempt panics / hangs (per process).
	panicEvery, hangEvery int
	// The reply to every k-th transaction end of each pool through the
	// proxy is lost.
	dropEvery int
	// Memory backends: every k-th call of a faulty method fails, half
	// before taking effect, half after (a lost reply).
	backendEvery int
	giveUp       time.Duration // a Send retried this long without success is stuck
	stall        time.Duration // the final wait gives up after this long without progress
	maxWait      time.Duration // and after this long in all
	off          []string
}

func (s scale) on(fault string) bool { return !slices.Contains(s.off, fault) }

// runScale reads the run's size from the environment. The short run (the
// default, part of make test) packs more faults into fewer notifications;
// the full run (make chaos) uses the rates.
func runScale(t testing.TB) scale {
	t.Helper()
	s := scale{name: "short", rounds: 1, n: 400, panicEvery: 50, hangEvery: 80, dropEvery: 20, backendEvery: 40,
		giveUp: 90 * time.Second, stall: 20 * time.Second, maxWait: 2 * time.Minute}
	switch v := os.Getenv(envScale); v {
	case "", "short":
	case "full":
		s = scale{name: "full", rounds: 3, n: 10_000, panicEvery: 500, hangEvery: 1000, dropEvery: 1000, backendEvery: 500,
			giveUp: 3 * time.Minute, stall: time.Minute, maxWait: 10 * time.Minute}
	default:
		t.Fatalf("%s=%q: use full, or leave it unset for the short run", envScale, v)
	}
	for _, e := range []struct {
		env string
		to  *int
	}{{envN, &s.n}, {envRounds, &s.rounds}} {
		if v := os.Getenv(e.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive integer", e.env, v)
			}
			*e.to = n
		}
	}
	if v := os.Getenv(envOff); v != "" {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if !slices.Contains(faultNames, f) {
				t.Fatalf("%s: unknown fault %q; known: %s", envOff, f, strings.Join(faultNames, ", "))
			}
			s.off = append(s.off, f)
		}
	}
	return s
}
