package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestStore(t *testing.T) {
	pool, schema := testDB(t)
	const retention = 30 * 24 * time.Hour // StoreConfig's default
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		s, err := postgres.NewStore(pool, postgres.StoreConfig{Schema: schema})
		require.NoError(t, err)
		return s
	}, notifytest.StoreFeatures{Retention: retention})
}

// TestStoreKeepsForever runs the suite on a Store with a negative
// Retention, whose Prune deletes nothing.
func TestStoreKeepsForever(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		s, err := postgres.NewStore(pool, postgres.StoreConfig{Schema: schema, Retention: -1})
		require.NoError(t, err)
		return s
	}, notifytest.StoreFeatures{Retention: -1})
}

// TestStoreShortRetention runs the suite on a Store that keeps events for
// an hour.
func TestStoreShortRetention(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		s, err := postgres.NewStore(pool, postgres.StoreConfig{Schema: schema, Retention: time.Hour})
		require.NoError(t, err)
		return s
	}, notifytest.StoreFeatures{Retention: time.Hour})
}

func TestDeduper(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		d, err := postgres.NewDeduper(pool, postgres.DeduperConfig{Schema: schema})
		require.NoError(t, err)
		return d
	})
}
