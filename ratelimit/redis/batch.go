package redis

import (
	"context"
	"fmt"
	"slices"

	"github.com/gonotify/notify/internal/await"

	"github.com/gonotify/notify"
	goredis "github.com/redis/go-redis/v9"
)

// Request is one event of an AllowBatch: what Allow takes.
type Request = notify.LimitRequest

// AllowBatch answers many Allows in one round trip: one pipeline of script
// calls, run by Redis in order, so it decides exactly as calling Allow for
// each request in turn would (requests for the same key count against each
// other). decisions[i] and errs[i] answer reqs[i]; errs is nil when every
// request succeeded.
//
// Config.FailurePolicy applies to each request: under FailOpen a request
// Redis could not answer is allowed and counted in FailOpens; under
// FailClosed its errs[i] is set. A request unanswered when ctx's deadline
// passes counts as one Redis could not answer, and AllowBatch returns then;
// when ctx is canceled first, or is done already, every unanswered request
// gets ctx's error (see Allow). Safe for concurrent use.
func (l *Limiter) AllowBatch(ctx context.Context, reqs []Request) (decisions []notify.Decision, errs []error) {
	decisions = make([]notify.Decision, len(reqs))
	setErr := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(reqs))
		}
		errs[i] = err
	}
	calls := make([]batchCall, 0, len(reqs))
	for i, r := range reqs {
		if r.Limit.IsZero() {
			decisions[i] = notify.Decision{Allowed: true}
			continue
		}
		args, err := scriptArgs(r)
		if err != nil {
			setErr(i, fmt.Errorf("ratelimit/redis: allow %q: %w", r.Key, err))
			continue
		}
		calls = append(calls, batchCall{i: i, args: args})
	}
	if len(calls) == 0 {
		return decisions, errs
	}
	if err := ctx.Err(); err != nil {
		for _, c := range calls {
			setErr(c.i, fmt.Errorf("ratelimit/redis: allow %q: %w", reqs[c.i].Key, err))
		}
		return decisions, errs
	}

	// The round trips run in await's goroutine, on a copy of calls: it may
	// outlive this call. When ctx ends first, err is its error and no call
	// has a command.
	answered, err := await.Do(ctx, func() ([]batchCall, error) {
		return l.exec(ctx, reqs, slices.Clone(calls)), nil
	}, nil, nil)
	if err == nil {
		calls = answered
	}

	var failedOpen int
	var firstErr error
	for _, c := range calls {
		var res []int64
		err := err
		if c.cmd != nil {
			res, err = c.cmd.Int64Slice()
		}
		if err == nil {
			var d notify.Decision
			if d, err = decision(res); err == nil {
				decisions[c.i] = d
				continue
			}
		}
		key := reqs[c.i].Key
		switch {
		case canceled(ctx):
			setErr(c.i, fmt.Errorf("ratelimit/redis: allow %q: %w", key, ctx.Err()))
		case l.cfg.FailurePolicy == FailClosed:
			setErr(c.i, fmt.Errorf("ratelimit/redis: allow %q: %w (Redis is failing and the policy is fail-closed: retry later)", key, withDeadline(ctx, err)))
		default:
			decisions[c.i] = notify.Decision{Allowed: true}
			failedOpen++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if failedOpen > 0 {
		l.failOpen(ctx, failedOpen, firstErr)
	} else if errs == nil {
		l.ok(ctx)
	}
	return decisions, errs
}

// batchCall is one request of an AllowBatch that asks Redis.
type batchCall struct {
	i    int   // index into reqs
	args []any // the script's arguments
	cmd  *goredis.Cmd
}

// exec runs calls' scripts in one pipeline, and those Redis did not know
// (NOSCRIPT) again with their source, and returns calls with their
// commands.
func (l *Limiter) exec(ctx context.Context, reqs []Request, calls []batchCall) []batchCall {
	run := func(cs []batchCall, eval bool) {
		pipe := l.rdb.Pipeline()
		for j := range cs {
			keys := []string{l.cfg.Prefix + reqs[cs[j].i].Key}
			if eval {
				cs[j].cmd = l.script.Eval(ctx, pipe, keys, cs[j].args...)
			} else {
				cs[j].cmd = l.script.EvalSha(ctx, pipe, keys, cs[j].args...)
			}
		}
		_, _ = pipe.Exec(ctx) // each command carries its own error
	}
	run(calls, false)
	// Redis forgets scripts when it restarts or SCRIPT FLUSH runs: send the
	// ones it did not know again, with their source. They ran nothing, and
	// they go in their original order.
	var again []int // indexes into calls
	for j, c := range calls {
		if isNoScript(c.cmd.Err()) {
			again = append(again, j)
		}
	}
	if len(again) > 0 {
		sub := make([]batchCall, len(again))
		for k, j := range again {
			sub[k] = calls[j]
		}
		run(sub, true)
		for k, j := range again {
			calls[j].cmd = sub[k].cmd
		}
	}
	return calls
}

func isNoScript(err error) bool {
	return goredis.HasErrorPrefix(err, "NOSCRIPT")
}
