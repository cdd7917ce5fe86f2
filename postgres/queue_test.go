package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestQueue(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		q, err := postgres.NewQueue(pool, postgres.QueueConfig{Schema: schema, Visibility: cfg.Visibility})
		require.NoError(t, err)
		t.Cleanup(func() { _ = q.Close() })
		return q
	})
}
