package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gonotify/notify"
)

// waiter returns a channel that is closed when queue may have new work. The
// first call starts the Queue's listener.
func (c *queueCore) waiter(queue string) (<-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, notify.ErrClosed
	}
	if !c.listening {
		c.listening = true
		ctx, cancel := context.WithCancel(context.Background())
		c.stop = cancel
		c.listenWG.Go(func() { c.listen(ctx) })
	}
	ch := c.waiters[queue]
	if ch == nil {
		ch = make(chan struct{})
		c.waiters[queue] = ch
	}
	return ch, nil
}

func (c *queueCore) wake(queue string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch := c.waiters[queue]; ch != nil {
		close(ch)
		delete(c.waiters, queue)
	}
}

func (c *queueCore) wakeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, ch := range c.waiters {
		close(ch)
		delete(c.waiters, q)
	}
}

// listen holds one connection (outside the pool) that LISTENs on the
// schema's channel and wakes the receivers of each notified queue. It
// reconnects with backoff until ctx ends; after every (re)connection it
// wakes every receiver, since notifications sent meanwhile were lost.
func (c *queueCore) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		c.log.WarnContext(ctx, "postgres: queue listener lost its connection; reconnecting (receivers poll meanwhile)",
			slog.String("schema", c.cfg.Schema), slog.Duration("retry_in", backoff), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *queueCore) listenOnce(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c.channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	c.wakeAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c.wake(n.Payload)
	}
}
