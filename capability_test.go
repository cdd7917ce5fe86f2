package notify_test

import (
	"context"
	"testing"

	"github.com/gonotify/notify"
	smem "github.com/gonotify/notify/store/memory"
)

// pruningStore is a Store with the optional Pruner capability.
type pruningStore struct{ notify.Store }

func (pruningStore) Prune(context.Context) (int64, error) { return 0, nil }

// wrappedStore is a wrapper as a host writes one: it embeds the Store, so it
// has only the Store methods, and says what it wraps.
type wrappedStore struct{ notify.Store }

func (w wrappedStore) Unwrap() any { return w.Store }

// opaqueStore embeds the Store and does not say what it wraps.
type opaqueStore struct{ notify.Store }

// selfStore unwraps to itself, forever.
type selfStore struct{ notify.Store }

func (s *selfStore) Unwrap() any { return s }

func TestAsFollowsUnwrap(t *testing.T) {
	inner := pruningStore{smem.New(smem.Config{})}
	if _, ok := notify.As[notify.Pruner](opaqueStore{inner}); ok {
		t.Error("As found a Pruner on a wrapper without Unwrap")
	}
	p, ok := notify.As[notify.Pruner](wrappedStore{wrappedStore{inner}})
	if !ok {
		t.Fatal("As did not find the Pruner two wrappers down")
	}
	if p != notify.Pruner(inner) {
		t.Errorf("As found %T, want the wrapped store itself", p)
	}
	if _, ok := notify.As[notify.Pruner](&selfStore{opaqueStore{inner}}); ok {
		t.Error("As found a Pruner through a wrapper that unwraps to itself")
	}
	if _, ok := notify.As[notify.Pruner](nil); ok {
		t.Error("As found a Pruner in nil")
	}
}
