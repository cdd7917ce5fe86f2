package notify_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	smem "github.com/gonotify/notify/store/memory"
)

// prunedStore is a memory Store that counts Prune calls and can fail them.
type prunedStore struct {
	*smem.Store
	calls atomic.Int32
	fail  bool
}

func (s *prunedStore) Prune(context.Context) (int64, error) {
	s.calls.Add(1)
	if s.fail {
		return 0, errors.New("disk on fire")
	}
	return 3, nil
}

func TestRunPrunesEveryPeriod(t *testing.T) {
	for _, fail := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			store := &prunedStore{Store: smem.New(smem.Config{}), fail: fail}
			h := newHarness(t, func(c *notify.Config) { c.Store, c.PruneEvery = store, time.Hour })
			stop := h.run(t)
			time.Sleep(3*time.Hour + 30*time.Minute)
			synctest.Wait()
			// The first call is within the first hour, then one an hour:
			// three or four calls in 3h30m, failures or not.
			assert.GreaterOrEqual(t, store.calls.Load(), int32(3))
			assert.LessOrEqual(t, store.calls.Load(), int32(4))
			stop()
			n := store.calls.Load()
			time.Sleep(5 * time.Hour)
			assert.Equal(t, n, store.calls.Load(), "no pruning after Run returns")
		})
	}
}

func TestRunPruneNegativeIsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &prunedStore{Store: smem.New(smem.Config{})}
		h := newHarness(t, func(c *notify.Config) { c.Store, c.PruneEvery = store, -1 })
		stop := h.run(t)
		time.Sleep(48 * time.Hour)
		stop()
		require.Zero(t, store.calls.Load())
	})
}
