package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify/internal/await"

	"github.com/gonotify/notify"
	goredis "github.com/redis/go-redis/v9"
)

// releaseLua deletes KEYS[1] only while its value is ARGV[1], the owner.
const releaseLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`

// cleanupTimeout bounds the best-effort release after an uncertain claim.
const cleanupTimeout = time.Second

// Config configures a Deduper. Zero values mean the documented defaults.
type Config struct {
	// Prefix is prepended to every key. Default "notify:dedup:".
	Prefix string
	// Logger receives warnings about claims that could not be cleaned up.
	// Default slog.Default().
	Logger *slog.Logger
}

// Deduper is a notify.Deduper on Redis. It is safe for concurrent use, and
// any number of Dedupers in any number of processes may share one Redis.
type Deduper struct {
	rdb     goredis.UniversalClient
	prefix  string
	log     *slog.Logger
	release *goredis.Script
	// legacy is set once the server has refused SET ... NX GET (Redis < 7):
	// claims then take SET NX and, when lost, a GET.
	legacy atomic.Bool

	// pending counts, per key and owner, the claims whose callers stopped
	// waiting (their ctx ended) before Redis answered, until the claim they
	// may have made is cleaned up: a Release of that key and owner meanwhile
	// cannot know whether it is held. npending is their sum, read without
	// the lock. A count may dip below zero for a moment (see Claim).
	mu       sync.Mutex
	pending  map[string]int
	npending atomic.Int64
}

var _ notify.BatchDeduper = (*Deduper)(nil)

// New returns a Deduper that keeps its claims in rdb (a *redis.Client,
// *redis.ClusterClient, or any redis.UniversalClient). It sends nothing to
// Redis until the first Claim, and does not take rdb over: close it yourself
// when done with the Deduper.
//
// Every call returns as soon as its ctx is done, whatever rdb's options
// (go-redis itself bounds socket reads by ctx only with
// Options.ContextTimeoutEnabled, and never on a cancellation): a call with
// a ctx that can end runs its commands in a goroutine of its own, which it
// leaves behind when ctx ends first. That goroutine ends when rdb gives up
// on Redis (its ReadTimeout or WriteTimeout; ctx stops its retries), and
// holds one of rdb's connections until then; it then releases a claim its
// caller was not told about (see the package doc). A ctx without a deadline
// or cancellation (context.Background) waits for rdb's timeouts instead.
func New(rdb goredis.UniversalClient, cfg Config) (*Deduper, error) {
	if rdb == nil {
		return nil, errors.New("dedup/redis: nil Redis client: pass a *redis.Client (github.com/redis/go-redis/v9)")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "notify:dedup:"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Deduper{rdb: rdb, prefix: cfg.Prefix, log: cfg.Logger, release: goredis.NewScript(releaseLua)}, nil
}

// Claim claims key for owner for ttl. It reports whether this call holds the
// claim and, when it does not, the owner that does (holder is empty when it
// won). Claiming a key that owner already holds succeeds again (the ttl is
// not extended), so a retried call is harmless. A ttl <= 0 wins and holds
// nothing, without asking Redis.
//
// When Redis cannot answer, or ctx ends before it does, Claim returns an
// error and holds nothing (see the package doc): the caller should retry
// later, not treat the key as claimed.
func (d *Deduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (claimed bool, holder string, err error) {
	if ttl <= 0 {
		return true, "", nil // the contract: wins and holds nothing
	}
	r, err := await.Do(ctx, func() (ClaimResult, error) {
		claimed, holder, err := d.claim(ctx, key, owner, ttl)
		return ClaimResult{Claimed: claimed, Holder: holder}, err
	}, func() {
		d.abandon([]Claim{{Key: key, Owner: owner, TTL: ttl}})
	}, func(r ClaimResult, err error) {
		d.lateClaims(ctx, []Claim{{Key: key, Owner: owner, TTL: ttl}}, []ClaimResult{r}, []error{err})
	})
	if err != nil {
		return false, "", claimError(key, err)
	}
	return r.Claimed, r.Holder, nil
}

// claimError is the error of a claim of key that failed with err and
// holds nothing.
func claimError(key string, err error) error {
	return fmt.Errorf("dedup/redis: claim %q: %w (nothing is claimed: retry later)", key, err)
}

// claim is Claim's work, in await's goroutine: up to three attempts (only
// the legacy path repeats one) and, after an error that leaves it unknown
// whether Redis applied a SET, the cleanup of the claim it may have made.
func (d *Deduper) claim(ctx context.Context, key, owner string, ttl time.Duration) (claimed bool, holder string, err error) {
	k := d.prefix + key
	for range 3 {
		claimed, holder, err := d.claimOnce(ctx, k, owner, ttl)
		switch {
		case errors.Is(err, errExpired):
			continue
		case err != nil:
			d.uncertain(ctx, []Claim{{Key: key, Owner: owner}}, []error{err})
			return false, "", err
		case claimed || holder == owner:
			return true, "", nil
		default:
			return false, holder, nil
		}
	}
	// Only the legacy path loops: the holder expired between SET and GET.
	return false, "", errors.New("the key changed hands three times in a row")
}

// errExpired says the holder's claim expired between the legacy path's SET
// and GET: try again.
var errExpired = errors.New("claim expired between SET and GET")

// claimOnce is one attempt: SET ... NX PX ... GET, or, on Redis < 7, SET NX
// PX and, when it lost, GET.
func (d *Deduper) claimOnce(ctx context.Context, k, owner string, ttl time.Duration) (claimed bool, holder string, err error) {
	if !d.legacy.Load() {
		holder, err := d.rdb.Do(ctx, "SET", k, owner, "NX", "PX", ms(ttl), "GET").Text()
		switch {
		case errors.Is(err, goredis.Nil): // no previous value: ours now
			return true, owner, nil
		case err == nil:
			return false, holder, nil
		case !isSyntaxError(err):
			return false, "", err
		}
		d.legacy.Store(true) // Redis < 7 refuses NX together with GET
	}
	err = d.rdb.Do(ctx, "SET", k, owner, "NX", "PX", ms(ttl)).Err()
	switch {
	case err == nil:
		return true, owner, nil
	case !errors.Is(err, goredis.Nil):
		return false, "", err
	}
	holder, err = d.rdb.Get(ctx, k).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return false, "", errExpired
	case err != nil:
		return false, "", err
	}
	return false, holder, nil
}

// Release drops key if owner still holds it; otherwise it does nothing.
// It returns an error when Redis cannot answer or ctx ends first, and when
// a Claim of key by owner whose caller stopped waiting has not been
// answered and cleaned up yet: only then is it known that owner does not
// hold key.
func (d *Deduper) Release(ctx context.Context, key, owner string) error {
	if d.isPending(key, owner) {
		return fmt.Errorf("dedup/redis: release %q: a claim of it by %q is still waiting for Redis, whose caller stopped waiting; it is released when Redis answers (retry later)", key, owner)
	}
	_, err := await.Do(ctx, func() (struct{}, error) {
		return struct{}{}, d.release.Run(ctx, d.rdb, []string{d.prefix + key}, owner).Err()
	}, nil, nil)
	if err != nil {
		return fmt.Errorf("dedup/redis: release %q: %w (the claim stays until its ttl)", key, err)
	}
	return nil
}

// pendingKey names a claim in d.pending.
func (d *Deduper) pendingKey(key, owner string) string { return key + "\x00" + owner }

// abandon notes claims (those with a ttl) given up by their callers before
// Redis answered (see Claim and ClaimBatch); lateClaims forgets them.
func (d *Deduper) abandon(claims []Claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range claims {
		if c.TTL > 0 {
			d.addPending(c.Key, c.Owner, 1)
		}
	}
}

// addPending adds by to the count of key and owner; d.mu is held.
func (d *Deduper) addPending(key, owner string, by int) {
	if d.pending == nil {
		d.pending = make(map[string]int)
	}
	pk := d.pendingKey(key, owner)
	if n := d.pending[pk] + by; n == 0 {
		delete(d.pending, pk)
	} else {
		d.pending[pk] = n
	}
	d.npending.Add(int64(by))
}

// isPending reports a claim of key by owner given up and not cleaned up.
func (d *Deduper) isPending(key, owner string) bool {
	if d.npending.Load() == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending[d.pendingKey(key, owner)] > 0
}

// lateClaims runs, in await's goroutine, when Redis has answered (or its
// client has given up on) claims whose caller had stopped waiting and was
// told that nothing is claimed: it releases the ones that were won (an
// uncertain one was cleaned up by claim already), then forgets them as
// pending.
func (d *Deduper) lateClaims(ctx context.Context, claims []Claim, results []ClaimResult, errs []error) {
	var won []Claim
	for i, c := range claims {
		if c.TTL > 0 && results[i].Claimed && errs[i] == nil {
			won = append(won, c)
		}
	}
	if len(won) > 0 {
		d.releaseAll(ctx, won, "claims made after their callers stopped waiting may stay until their ttl; a retried send may be reported as in progress")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range claims {
		if c.TTL > 0 {
			d.addPending(c.Key, c.Owner, -1)
		}
	}
}

// uncertain cleans up after claims whose replies were lost: Redis may have
// applied their SETs. A reply from the server (a redis.Error) means it did
// not, and so does a failed dial: only other errors (timeouts, dropped
// connections) need it.
func (d *Deduper) uncertain(ctx context.Context, claims []Claim, errs []error) {
	var lost []Claim
	for i, c := range claims {
		if errs[i] != nil && !surelyNotApplied(errs[i]) {
			lost = append(lost, c)
		}
	}
	if len(lost) > 0 {
		d.releaseAll(ctx, lost, "claims whose replies were lost may stay until their ttl; a retried send may be reported as a duplicate")
	}
}

// releaseAll releases claims (compare-and-delete by owner) with one
// pipeline, tried again while Redis does not answer, for up to
// cleanupTimeout whatever ctx and the client's timeouts; then it gives up
// and logs warning.
func (d *Deduper) releaseAll(ctx context.Context, claims []Claim, warning string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	deadline, _ := cctx.Deadline()
	pause := 50 * time.Millisecond
	for {
		_, err := await.Do(cctx, func() ([]goredis.Cmder, error) {
			pipe := d.rdb.Pipeline()
			for _, c := range claims {
				// EVAL, not EVALSHA: the script may be unknown after a
				// restart, and a pipeline cannot fall back. It is a few bytes.
				pipe.Eval(cctx, releaseLua, []string{d.prefix + c.Key}, c.Owner)
			}
			return pipe.Exec(cctx)
		}, nil, nil)
		if err == nil {
			return
		}
		if time.Until(deadline) < pause {
			d.log.WarnContext(ctx, "dedup/redis: "+warning, slog.Int("claims", len(claims)), slog.Any("error", err))
			return
		}
		time.Sleep(pause)
		pause *= 2
	}
}

// surelyNotApplied reports errors that prove Redis did not run the command:
// its own error reply, or a connection that was never made.
func surelyNotApplied(err error) bool {
	var rerr goredis.Error
	var operr *net.OpError
	return errors.As(err, &rerr) || (errors.As(err, &operr) && operr.Op == "dial")
}

// ms is ttl in whole milliseconds, rounded up.
func ms(ttl time.Duration) int64 {
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// isSyntaxError reports Redis refusing a command's arguments, as Redis < 7
// refuses SET with both NX and GET. Only the server's words say so.
func isSyntaxError(err error) bool {
	return goredis.HasErrorPrefix(err, "ERR") && strings.Contains(err.Error(), "syntax error")
}
