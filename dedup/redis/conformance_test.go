package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/gonotify/notify"
	dedup "github.com/gonotify/notify/dedup/redis"
	"github.com/gonotify/notify/internal/redistest"
	"github.com/gonotify/notify/notifytest"
)

// TestDeduper runs the notify.Deduper conformance suite against Redis.
func TestDeduper(t *testing.T) {
	rdb := redistest.Client(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper { return newDeduper(t, rdb) })
}

// TestDeduperLegacy runs the suite on the path for Redis < 7 (SET NX, GET).
func TestDeduperLegacy(t *testing.T) {
	rdb := redistest.Client(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		d := newDeduper(t, rdb)
		d.ForceLegacy()
		return d
	})
}

// TestDeduperBatch runs the suite with every Claim made through ClaimBatch.
func TestDeduperBatch(t *testing.T) {
	rdb := redistest.Client(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper { return batchDeduper{newDeduper(t, rdb)} })
}

type batchDeduper struct{ *dedup.Deduper }

func (b batchDeduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	rs, errs := b.ClaimBatch(ctx, []dedup.Claim{{Key: key, Owner: owner, TTL: ttl}})
	if errs != nil {
		return false, "", errs[0]
	}
	return rs[0].Claimed, rs[0].Holder, nil
}
