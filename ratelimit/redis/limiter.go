package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify/internal/await"

	"github.com/gonotify/notify"
	goredis "github.com/redis/go-redis/v9"
)

//go:embed gcra.lua
var gcraLua string

// FailurePolicy says what Allow does when Redis cannot answer.
type FailurePolicy int

const (
	// FailOpen allows the event, logs a warning and counts it (see
	// Limiter.FailOpens): a Redis outage delays nothing, but limits are not
	// enforced while it lasts. The default.
	FailOpen FailurePolicy = iota
	// FailClosed returns the error: nothing is allowed until Redis answers
	// (the Dispatcher then retries the delivery later).
	FailClosed
)

// String returns "fail-open" or "fail-closed".
func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "fail-open"
	case FailClosed:
		return "fail-closed"
	}
	return fmt.Sprintf("FailurePolicy(%d)", int(p))
}

// Config configures a Limiter. Zero values mean the documented defaults.
type Config struct {
	// Prefix is prepended to every key. Default "notify:rate:".
	Prefix string
	// FailurePolicy says what Allow does when Redis cannot answer. Default
	// FailOpen.
	FailurePolicy FailurePolicy
	// Logger receives the warnings of FailOpen: one when Redis first fails,
	// then at most one every 10s while it keeps failing, and one when it
	// answers again. Default slog.Default().
	Logger *slog.Logger
}

// warnEvery is how often FailOpen repeats its warning while Redis keeps failing.
const warnEvery = 10 * time.Second

// maxSpan bounds Per*Burst/Rate in microseconds so the script's arithmetic
// stays exact (see gcra.lua).
const maxSpan = 1 << 52

// Limiter is a notify.Limiter on Redis. It is safe for concurrent use, and
// any number of Limiters in any number of processes may share one Redis: a
// key's limit holds across all of them.
type Limiter struct {
	rdb    goredis.UniversalClient
	cfg    Config
	log    *slog.Logger
	script *goredis.Script

	failOpens atomic.Int64
	failing   atomic.Bool
	lastWarn  atomic.Int64 // unix nanoseconds of the last warning
}

var _ notify.BatchLimiter = (*Limiter)(nil)

// New returns a Limiter that keeps its state in rdb (a *redis.Client,
// *redis.ClusterClient, or any redis.UniversalClient). It sends nothing to
// Redis until the first Allow, and does not take rdb over: close it yourself
// when done with the Limiter.
//
// Every call returns as soon as its ctx is done, whatever rdb's options
// (go-redis itself bounds socket reads by ctx only with
// Options.ContextTimeoutEnabled, and never on a cancellation): a call with
// a ctx that can end runs its commands in a goroutine of its own, which it
// leaves behind when ctx ends first. That goroutine ends when rdb gives up
// on Redis (its ReadTimeout or WriteTimeout; ctx stops its retries), and
// holds one of rdb's connections until then. So the failure policy applies
// when ctx's deadline passes before Redis answers, or when rdb gives up
// first: give Allow a ctx with a deadline (the Dispatcher gives every call
// Config.BackendTimeout) to bound how long a stalled Redis holds an event
// up. A ctx without a deadline or cancellation (context.Background) waits
// for rdb's timeouts instead: by default DialTimeout (5s) or ReadTimeout,
// over again for each of MaxRetries.
func New(rdb goredis.UniversalClient, cfg Config) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit/redis: nil Redis client: pass a *redis.Client (github.com/redis/go-redis/v9)")
	}
	if cfg.FailurePolicy != FailOpen && cfg.FailurePolicy != FailClosed {
		return nil, fmt.Errorf("ratelimit/redis: unknown Config.FailurePolicy %d: use FailOpen or FailClosed", int(cfg.FailurePolicy))
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "notify:rate:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Limiter{rdb: rdb, cfg: cfg, log: cfg.Logger, script: goredis.NewScript(gcraLua)}, nil
}

// FailOpens returns how many events were allowed without asking Redis
// because it could not answer (FailOpen only), since New. Export it as a
// counter metric: while it grows, limits are not enforced.
func (l *Limiter) FailOpens() int64 { return l.failOpens.Load() }

// Allow counts the event req describes for req.Key under req.Limit,
// atomically on Redis, and says whether it is within the limit. A denied
// event is not counted. An event with an ID is counted once while the key
// remembers it (see notify.LimitRequest.ID): so retrying an Allow whose
// reply was lost never counts its event twice. A zero limit
// (limit.IsZero) allows everything and does not touch Redis.
//
// When Redis cannot answer, or ctx's deadline passes before it does, the
// result follows Config.FailurePolicy (under FailClosed the error then
// wraps context.DeadlineExceeded). When ctx is canceled first, or is done
// already, Allow returns ctx's error under either policy.
func (l *Limiter) Allow(ctx context.Context, req notify.LimitRequest) (notify.Decision, error) {
	if req.Limit.IsZero() {
		return notify.Decision{Allowed: true}, nil
	}
	args, err := scriptArgs(req)
	if err != nil {
		return notify.Decision{}, fmt.Errorf("ratelimit/redis: allow %q: %w", req.Key, err)
	}
	if err := ctx.Err(); err != nil {
		return notify.Decision{}, fmt.Errorf("ratelimit/redis: allow %q: %w", req.Key, err)
	}
	keys := []string{l.cfg.Prefix + req.Key}
	res, err := await.Do(ctx, func() ([]int64, error) {
		return l.script.Run(ctx, l.rdb, keys, args...).Int64Slice()
	}, nil, nil)
	if err == nil {
		var d notify.Decision
		if d, err = decision(res); err == nil {
			l.ok(ctx)
			return d, nil
		}
	}
	return l.failed(ctx, req.Key, err)
}

// scriptArgs converts req into the script's arguments (see gcra.lua): the
// emission interval in whole microseconds, the burst, the ID, force, the
// window an ID is remembered (Per, or the burst's span when longer) and
// how many IDs the key remembers: as many events as the limit allows in
// the window, plus one. An event without ID or Force passes the first two
// only.
func scriptArgs(req notify.LimitRequest) ([]any, error) {
	limit := req.Limit
	rate := int64(limit.Rate)
	interval := (limit.Per.Microseconds() + rate/2) / rate
	if interval < 1 {
		interval = 1
	}
	burst := int64(limit.Burst)
	if burst <= 0 {
		burst = rate
	}
	if burst > maxSpan/interval {
		return nil, fmt.Errorf("limit %d per %s with burst %d spans more than 2^52µs; use a smaller Burst or Per", limit.Rate, limit.Per, burst)
	}
	if req.ID == "" && !req.Force {
		return []any{interval, burst}, nil // the script's defaults: no ID, not forced
	}
	window := min(max(limit.Per.Microseconds(), burst*interval), maxSpan)
	ids := min(burst+window/interval+1, math.MaxInt32)
	force := "0"
	if req.Force {
		force = "1"
	}
	return []any{interval, burst, req.ID, force, window, ids}, nil
}

// decision reads the script's reply {allowed, remaining, retry_after_us}.
func decision(res []int64) (notify.Decision, error) {
	if len(res) != 3 {
		return notify.Decision{}, fmt.Errorf("unexpected script reply %v", res)
	}
	return notify.Decision{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
	}, nil
}

// failed applies the failure policy to an error from Redis, or to ctx's
// deadline passing before Redis answered.
func (l *Limiter) failed(ctx context.Context, key string, err error) (notify.Decision, error) {
	if canceled(ctx) {
		return notify.Decision{}, fmt.Errorf("ratelimit/redis: allow %q: %w", key, ctx.Err())
	}
	if l.cfg.FailurePolicy == FailClosed {
		return notify.Decision{}, fmt.Errorf("ratelimit/redis: allow %q: %w (Redis is failing and the policy is fail-closed: retry later)", key, withDeadline(ctx, err))
	}
	l.failOpen(ctx, 1, err)
	return notify.Decision{Allowed: true}, nil
}

// canceled reports a ctx ended otherwise than by its deadline: the caller
// gave up, which is no failure of Redis's.
func canceled(ctx context.Context) bool {
	err := ctx.Err()
	return err != nil && !errors.Is(err, context.DeadlineExceeded)
}

// withDeadline is err, wrapping ctx's error too when ctx's deadline has
// passed, so that errors.Is(err, context.DeadlineExceeded) tells it.
func withDeadline(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// failOpen counts n events allowed without Redis and warns, at most once
// every warnEvery.
func (l *Limiter) failOpen(ctx context.Context, n int, err error) {
	total := l.failOpens.Add(int64(n))
	first := !l.failing.Swap(true)
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if (first || now-last >= int64(warnEvery)) && l.lastWarn.CompareAndSwap(last, now) {
		l.log.WarnContext(ctx, "ratelimit/redis: Redis is failing; allowing events without limits (fail-open)",
			slog.Any("error", err), slog.Int64("fail_opens", total))
	}
}

// ok notes a successful round trip, logging the end of an outage.
func (l *Limiter) ok(ctx context.Context) {
	if l.failing.Load() && l.failing.CompareAndSwap(true, false) {
		l.log.InfoContext(ctx, "ratelimit/redis: Redis answers again; limits are enforced",
			slog.Int64("fail_opens", l.failOpens.Load()))
	}
}
