package notify

import (
	"context"
	"errors"
)

// Run delivers until ctx ends. It is being written.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("notify: Run is already running on this Dispatcher")
	}
	defer d.running.Store(false)
	<-ctx.Done()
	return nil
}
