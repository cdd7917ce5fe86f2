// Package await runs a call that may ignore its context so that its caller
// returns as soon as the context is done. The Redis backends use it:
// go-redis reads its sockets without regard to a context.
package await

import (
	"context"
	"sync/atomic"
)

// Do runs f in a goroutine of its own and returns its result, or ctx's
// error as soon as ctx is done, whichever comes first: go-redis reads and
// writes its sockets under its own timeouts and, unless
// Options.ContextTimeoutEnabled is set, without regard to ctx (and even then
// a cancellation does not interrupt a read), so a stalled Redis would hold
// the caller for ReadTimeout times the client's retries.
//
// When ctx wins, abandoned (if not nil) runs before Do returns, and f
// runs on until the client gives up on it; late (if not nil) then gets f's
// result, in f's goroutine, possibly before abandoned has run. Exactly one
// of "await returned f's result" and "late got it" happens. A ctx that can
// never end (Done is nil) runs f in the caller's goroutine, and a ctx
// already done runs nothing.
func Do[T any](ctx context.Context, f func() (T, error), abandoned func(), late func(T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c := &call[T]{done: make(chan struct{})}
	go func() {
		c.v, c.err = f()
		close(c.done)
		if !c.state.CompareAndSwap(running, finished) && late != nil {
			late(c.v, c.err)
		}
	}()
	select {
	case <-c.done:
	case <-ctx.Done():
		if c.state.CompareAndSwap(running, gaveUp) {
			if abandoned != nil {
				abandoned()
			}
			return zero, ctx.Err()
		}
		<-c.done // f finished first after all: its result stands
	}
	return c.v, c.err
}

// call is one Do's f: its result and who takes it.
type call[T any] struct {
	done  chan struct{}
	v     T
	err   error
	state atomic.Int32
}

// A call's states.
const (
	running  = iota // f has not returned; Do waits
	finished        // f returned first: Do returns its result
	gaveUp          // ctx ended first: late gets the result
)
