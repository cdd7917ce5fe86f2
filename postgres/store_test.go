package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestStore(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		s, err := postgres.NewStore(pool, postgres.StoreConfig{Schema: schema})
		require.NoError(t, err)
		return s
	})
}

func TestDeduper(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		d, err := postgres.NewDeduper(pool, postgres.DeduperConfig{Schema: schema})
		require.NoError(t, err)
		return d
	})
}
