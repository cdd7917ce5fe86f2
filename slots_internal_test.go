package notify

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// A fetch after a short one takes the free slots at once; a fetch after
// a full one waits, up to fill, for a full batch of free slots.
func TestSlotsFill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s := newSlots(8)
		require.Equal(t, 8, s.acquire(ctx, 8, 0))
		s.release(3)
		start := time.Now()
		require.Equal(t, 3, s.acquire(ctx, 8, 0), "no fill: what is free, now")
		require.Zero(t, time.Since(start))

		s.release(3)
		go func() {
			time.Sleep(time.Millisecond)
			s.release(2)
			time.Sleep(time.Millisecond)
			s.release(3)
		}()
		start = time.Now()
		require.Equal(t, 8, s.acquire(ctx, 8, 5*time.Millisecond), "a full batch, once free within fill")
		require.Equal(t, 2*time.Millisecond, time.Since(start))

		s.release(4)
		start = time.Now()
		require.Equal(t, 4, s.acquire(ctx, 8, 5*time.Millisecond), "what is free once fill is over")
		require.Equal(t, 5*time.Millisecond, time.Since(start))

		s.release(2)
		require.Equal(t, 2, s.acquire(ctx, 2, 5*time.Millisecond), "max slots are a full batch")
		start = time.Now()
		go func() {
			time.Sleep(time.Millisecond)
			s.release(1)
		}()
		require.Equal(t, 1, s.acquire(ctx, 8, 0), "none free: wait for one")
		require.Equal(t, time.Millisecond, time.Since(start))

		cctx, cancel := context.WithCancel(ctx)
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		require.Zero(t, s.acquire(cctx, 8, 5*time.Millisecond), "ctx ends the wait")
	})
}
