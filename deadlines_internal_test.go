package notify

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeadlinesLeaveAtLeastHalfTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newDeadlines(context.Background(), 4*time.Second)
		defer s.stop()
		first := s.get()
		for range 40 {
			ctx := s.get()
			dl, ok := ctx.Deadline()
			require.True(t, ok)
			left := time.Until(dl)
			assert.GreaterOrEqual(t, left, 2*time.Second, "every call gets at least half the timeout")
			assert.LessOrEqual(t, left, 4*time.Second)
			require.NoError(t, ctx.Err())
			time.Sleep(300 * time.Millisecond)
		}
		assert.Error(t, first.Err(), "an old context ends at its deadline")
	})
}

type key struct{}

func TestBoundedForKeepsTheCallersValuesAndDeadline(t *testing.T) {
	d := &Dispatcher{cfg: Config{BackendTimeout: 5 * time.Second}, sendDeadlines: newDeadlines(context.Background(), 5*time.Second)}
	defer d.sendDeadlines.stop()

	vals := context.WithValue(context.Background(), key{}, "span")
	bc := d.boundedFor(vals)
	c := bc.get()
	assert.Equal(t, "span", c.Value(key{}), "a never-canceled caller's values reach the backend calls")
	_, ok := c.Deadline()
	assert.True(t, ok, "and they are bounded")
	assert.Equal(t, c, bc.get(), "one context serves the Send while it has time left")

	short, cancel := context.WithTimeout(vals, time.Second)
	defer cancel()
	assert.Equal(t, short, d.boundedFor(short).get(), "a caller's nearer deadline is used as it is")

	long, cancel2 := context.WithCancel(vals)
	bc = d.boundedFor(long)
	c = bc.get()
	cancel2()
	assert.Error(t, c.Err(), "a cancelable caller's cancel reaches the backend calls")
	bc.stop()
}
