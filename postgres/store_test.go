package postgres_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

func TestStore(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return newPG(t, pool, postgres.Config{Schema: schema}).Store()
	})
}

func TestDeduper(t *testing.T) {
	pool, schema := testDB(t)
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		return newPG(t, pool, postgres.Config{Schema: schema}).Deduper()
	})
}
