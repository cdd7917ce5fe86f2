package sqlite_test

import (
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/sqlite"
	smem "github.com/gonotify/notify/store/memory"
)

func TestQueue(t *testing.T) {
	var backends perTest
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		return backends.get(t, sqlite.Config{Visibility: cfg.Visibility}).Queue()
	}, notifytest.QueueFeatures{EventLog: func(t *testing.T) notify.EventLog {
		return backends.get(t, sqlite.Config{}).Store()
	}})
}

func TestStore(t *testing.T) {
	const retention = 30 * 24 * time.Hour // Config's default
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return open(t, sqlite.Config{}).Store()
	}, notifytest.StoreFeatures{Retention: retention})
}

// TestStoreKeepsForever runs the suite on a Store with a negative
// Retention, whose Prune deletes nothing.
func TestStoreKeepsForever(t *testing.T) {
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return open(t, sqlite.Config{Retention: -1}).Store()
	}, notifytest.StoreFeatures{Retention: -1})
}

// TestStoreShortRetention runs the suite on a Store that keeps events for
// an hour.
func TestStoreShortRetention(t *testing.T) {
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return open(t, sqlite.Config{Retention: time.Hour}).Store()
	}, notifytest.StoreFeatures{Retention: time.Hour})
}

// TestStoreShared runs the store suite with every subtest on one file, as
// a Dispatcher's goroutines share one Backend.
func TestStoreShared(t *testing.T) {
	b := open(t, sqlite.Config{})
	notifytest.TestStore(t, func(t *testing.T) notify.Store { return b.Store() },
		notifytest.StoreFeatures{Retention: 30 * 24 * time.Hour})
}

func TestDeduper(t *testing.T) {
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		return open(t, sqlite.Config{}).Deduper()
	})
}

// TestDeduperShared runs the deduper suite with every subtest on one file.
func TestDeduperShared(t *testing.T) {
	b := open(t, sqlite.Config{})
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper { return b.Deduper() })
}

func TestAccepter(t *testing.T) {
	notifytest.TestAccepter(t, func(t *testing.T) notifytest.AcceptBackends {
		b := open(t, sqlite.Config{})
		return notifytest.AcceptBackends{Queue: b.Queue(), EventLog: b.Store(), Deduper: b.Deduper(), Foreign: smem.New(smem.Config{})}
	})
}

func TestQueueGauges(t *testing.T) {
	b := open(t, sqlite.Config{})
	notifytest.TestQueueGauges(t, b.Queue(), b.Store())
}
