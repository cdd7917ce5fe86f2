package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/await"
)

// Holder returns the owner holding key (one GET), or an error wrapping
// notify.ErrNotFound when the key is free: never claimed, released or
// expired. It claims nothing.
func (d *Deduper) Holder(ctx context.Context, key string) (string, error) {
	owner, err := await.Do(ctx, func() (string, error) {
		return d.rdb.Get(ctx, d.prefix+key).Result()
	}, nil, nil)
	switch {
	case errors.Is(err, goredis.Nil):
		return "", fmt.Errorf("dedup/redis: holder of %q: %w", key, notify.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("dedup/redis: holder of %q: %w", key, err)
	}
	return owner, nil
}

var _ notify.ClaimHolder = (*Deduper)(nil)
