package memory_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/queue/memory"
)

func TestConformance(t *testing.T) {
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		q := memory.New(memory.Config{Visibility: cfg.Visibility})
		t.Cleanup(func() { _ = q.Close() })
		return q
	})
}
