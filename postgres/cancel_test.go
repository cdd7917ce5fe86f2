package postgres_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

// Cancel racing a running Dispatcher on PostgreSQL: the queue deletes and
// logs each canceled job in one statement, so every delivery ends sent or
// canceled, never both.
func TestCancelRace(t *testing.T) {
	pool, schema := testDB(t)
	pg := newPG(t, pool, postgres.Config{Schema: schema})
	n := 300
	if testing.Short() {
		n = 100
	}
	notifytest.TestCancelRace(t, notify.Config{Queue: pg.Queue(), Store: pg.Store(), Deduper: pg.Deduper()}, n)
}
