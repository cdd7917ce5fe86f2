package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

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
}

var _ notify.BatchDeduper = (*Deduper)(nil)

// New returns a Deduper that keeps its claims in rdb (a *redis.Client,
// *redis.ClusterClient, or any redis.UniversalClient). It sends nothing to
// Redis until the first Claim, and does not take rdb over: close it yourself
// when done with the Deduper. rdb's timeouts bound how long a Claim waits
// for a stalled Redis (go-redis ignores context deadlines unless
// Options.ContextTimeoutEnabled is set).
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
// When Redis cannot answer Claim returns an error and holds nothing (see the
// package doc): the caller should retry later, not treat the key as claimed.
func (d *Deduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (claimed bool, holder string, err error) {
	if ttl <= 0 {
		return true, "", nil // the contract: wins and holds nothing
	}
	k := d.prefix + key
	for range 3 {
		claimed, holder, err := d.claimOnce(ctx, k, owner, ttl)
		switch {
		case errors.Is(err, errExpired):
			continue
		case err != nil:
			d.uncertain(ctx, []Claim{{Key: key, Owner: owner}}, []error{err})
			return false, "", fmt.Errorf("dedup/redis: claim %q: %w (nothing is claimed: retry later)", key, err)
		case claimed || holder == owner:
			return true, "", nil
		default:
			return false, holder, nil
		}
	}
	// Only the legacy path loops: the holder expired between SET and GET.
	return false, "", fmt.Errorf("dedup/redis: claim %q: the key changed hands three times in a row: retry", key)
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
// It returns an error only when Redis cannot answer.
func (d *Deduper) Release(ctx context.Context, key, owner string) error {
	if err := d.release.Run(ctx, d.rdb, []string{d.prefix + key}, owner).Err(); err != nil {
		return fmt.Errorf("dedup/redis: release %q: %w (the claim stays until its ttl)", key, err)
	}
	return nil
}

// uncertain cleans up after claims whose replies were lost: Redis may have
// applied their SETs. A reply from the server (a redis.Error) means it did
// not, and so does a failed dial: only other errors (timeouts, dropped
// connections) need it. The cleanup is one pipeline of compare-and-deletes,
// tried again while Redis does not answer, for up to cleanupTimeout.
func (d *Deduper) uncertain(ctx context.Context, claims []Claim, errs []error) {
	var keys, owners []string
	for i, c := range claims {
		if errs[i] != nil && !surelyNotApplied(errs[i]) {
			keys = append(keys, d.prefix+c.Key)
			owners = append(owners, c.Owner)
		}
	}
	if len(keys) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	deadline, _ := cctx.Deadline()
	pause := 50 * time.Millisecond
	for {
		pipe := d.rdb.Pipeline()
		for i := range keys {
			// EVAL, not EVALSHA: the script may be unknown after a restart,
			// and a pipeline cannot fall back. It is a few bytes.
			pipe.Eval(cctx, releaseLua, []string{keys[i]}, owners[i])
		}
		_, err := pipe.Exec(cctx)
		if err == nil {
			return
		}
		if time.Until(deadline) < pause {
			d.log.WarnContext(ctx, "dedup/redis: claims whose replies were lost may stay until their ttl; a retried send may be reported as a duplicate",
				slog.Int("claims", len(keys)), slog.Any("error", err))
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
