package postgres_test

import (
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestStore(t *testing.T) {
	pool, schema := testDB(t)
	const retention = 30 * 24 * time.Hour // Config's default
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return newPG(t, pool, postgres.Config{Schema: schema}).Store()
	}, notifytest.StoreFeatures{Retention: retention})
}

// TestStoreKeepsForever runs the suite on a Store with a negative
// Retention, whose Prune deletes nothing.
func TestStoreKeepsForever(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return newPG(t, pool, postgres.Config{Schema: schema, Retention: -1}).Store()
	}, notifytest.StoreFeatures{Retention: -1})
}

// TestStoreShortRetention runs the suite on a Store that keeps events for
// an hour.
func TestStoreShortRetention(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return newPG(t, pool, postgres.Config{Schema: schema, Retention: time.Hour}).Store()
	}, notifytest.StoreFeatures{Retention: time.Hour})
}

func TestDeduper(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		return newPG(t, pool, postgres.Config{Schema: schema}).Deduper()
	})
}
