package memory_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

func TestConformance(t *testing.T) {
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		q := memory.New(memory.Config{Visibility: cfg.Visibility})
		t.Cleanup(func() { _ = q.Close() })
		return q
	})
}

func TestQueueGauges(t *testing.T) {
	q := memory.New(memory.Config{})
	t.Cleanup(func() { _ = q.Close() })
	notifytest.TestQueueGauges(t, q, smem.New(smem.Config{}))
}
