package memory_test

import (
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/store/memory"
)

func TestConformance(t *testing.T) {
	notifytest.TestStore(t, func(t *testing.T) notify.Store {
		return memory.New(memory.Config{})
	})
}
