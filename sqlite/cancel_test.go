package sqlite_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/sqlite"
)

// Cancel racing a running Dispatcher on SQLite: every delivery ends sent
// or canceled, never both.
func TestCancelRace(t *testing.T) {
	b := open(t, sqlite.Config{})
	n := 100 // each Send commits with an fsync
	if testing.Short() {
		n = 50
	}
	notifytest.TestCancelRace(t, notify.Config{Queue: b.Queue(), Store: b.Store(), Deduper: b.Deduper()}, n)
}
