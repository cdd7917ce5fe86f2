package redis

import (
	"context"
	"errors"

	"github.com/gonotify/notify/internal/await"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gonotify/notify"
)

// Claim is one claim of a ClaimBatch: Claim's key, owner and ttl.
type Claim = notify.ClaimRequest

// ClaimResult answers one Claim of a ClaimBatch: whether it won and, when it
// did not, the owner that holds the key (Holder is empty when it won).
type ClaimResult = notify.ClaimResult

// ClaimBatch makes many claims in one round trip: one pipeline of
// SET ... NX PX ... GET commands, applied by Redis in order, so it decides
// exactly as calling Claim for each in turn would (of two claims of one key
// the first wins). results[i] and errs[i] answer claims[i]; errs is nil when
// every claim got an answer. A claim with an error holds nothing, as with
// Claim (on Redis < 7 ClaimBatch makes the claims one by one). When ctx
// ends before Redis answers, ClaimBatch returns at once, every claim with a
// ttl failing with ctx's error, as Claim does. Safe for concurrent use.
func (d *Deduper) ClaimBatch(ctx context.Context, claims []Claim) (results []ClaimResult, errs []error) {
	type batch struct {
		results []ClaimResult
		errs    []error
	}
	b, err := await.Do(ctx, func() (batch, error) {
		results, errs := d.claimBatch(ctx, claims)
		return batch{results, errs}, nil
	}, func() {
		d.abandon(claims)
	}, func(b batch, _ error) {
		if b.errs == nil {
			b.errs = make([]error, len(claims))
		}
		d.lateClaims(ctx, claims, b.results, b.errs)
	})
	if err == nil {
		return b.results, b.errs
	}
	results = make([]ClaimResult, len(claims))
	for i, c := range claims {
		if c.TTL <= 0 {
			results[i] = ClaimResult{Claimed: true} // wins and holds nothing
			continue
		}
		if errs == nil { // nil when every claim got an answer
			errs = make([]error, len(claims))
		}
		errs[i] = claimError(c.Key, err)
	}
	return results, errs
}

// claimBatch is ClaimBatch's work, in await's goroutine.
func (d *Deduper) claimBatch(ctx context.Context, claims []Claim) (results []ClaimResult, errs []error) {
	results = make([]ClaimResult, len(claims))
	setErr := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(claims))
		}
		errs[i] = err
	}
	one := func(i int) {
		c := claims[i]
		if c.TTL <= 0 {
			results[i] = ClaimResult{Claimed: true} // wins and holds nothing
			return
		}
		ok, holder, err := d.claim(ctx, c.Key, c.Owner, c.TTL)
		if err != nil {
			setErr(i, claimError(c.Key, err))
			return
		}
		results[i] = ClaimResult{Claimed: ok, Holder: holder}
	}
	if d.legacy.Load() {
		for i := range claims {
			one(i)
		}
		return results, errs
	}

	cmds := make([]*goredis.Cmd, len(claims))
	pipe := d.rdb.Pipeline()
	for i, c := range claims {
		if c.TTL <= 0 {
			results[i] = ClaimResult{Claimed: true} // wins and holds nothing
			continue
		}
		cmds[i] = pipe.Do(ctx, "SET", d.prefix+c.Key, c.Owner, "NX", "PX", ms(c.TTL), "GET")
	}
	if pipe.Len() == 0 {
		return results, errs
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	lost := make([]error, len(claims))
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		holder, err := cmd.Text()
		switch {
		case errors.Is(err, goredis.Nil):
			results[i] = ClaimResult{Claimed: true}
		case err == nil:
			if holder == claims[i].Owner {
				results[i] = ClaimResult{Claimed: true}
			} else {
				results[i] = ClaimResult{Holder: holder}
			}
		case isSyntaxError(err):
			d.legacy.Store(true) // Redis < 7: nothing was set; claim one by one
			one(i)
		default:
			lost[i] = err
			setErr(i, claimError(claims[i].Key, err))
		}
	}
	if errs != nil {
		d.uncertain(ctx, claims, lost)
	}
	return results, errs
}
