package notifytest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// AcceptBackends are the backends TestAccepter writes through: an
// Accepter and the EventLog and Deduper it writes in its own transaction, plus
// an EventLog of another kind that it must refuse.
type AcceptBackends struct {
	Queue    notify.Accepter
	EventLog notify.EventLog
	Deduper  notify.Deduper
	// Foreign is an EventLog the Accepter cannot write to (say, store/memory).
	Foreign notify.EventLog
}

// TestAccepter is the conformance suite of notify.Accepter: an item is
// written (logged and queued) if and only if it wins its claim or has
// none; an item whose key is held gets the holder and writes nothing, also
// when the holder is an earlier item of the same call or of a concurrent
// one; an EventLog or Deduper it cannot write to is refused with
// errors.ErrUnsupported, having written nothing.
func TestAccepter(t *testing.T, newBackends func(t *testing.T) AcceptBackends) {
	item := func(key, nid, queue string) notify.AcceptItem {
		del := &notify.Delivery{ID: nid + "-d", NotificationID: nid, Channel: "c", Address: "a-" + nid}
		it := notify.AcceptItem{
			Events: []notify.Event{{DeliveryID: del.ID, NotificationID: nid, Channel: "c", Address: del.Address, Status: notify.StatusQueued, At: time.Now()}},
			Jobs:   []notify.Job{{ID: del.ID, Queue: queue, Delivery: del}},
		}
		if key != "" {
			it.Claim = &notify.ClaimRequest{Key: key, Owner: nid, TTL: time.Hour}
		}
		return it
	}
	logged := func(t *testing.T, b AcceptBackends, nid string) bool {
		t.Helper()
		_, err := b.EventLog.Deliveries(context.Background(), nid)
		if errors.Is(err, notify.ErrNotFound) {
			return false
		}
		require.NoError(t, err)
		return true
	}
	ready := func(t *testing.T, b AcceptBackends, queue string) int {
		t.Helper()
		st, err := b.Queue.Stats(context.Background(), queue)
		require.NoError(t, err)
		return st.Ready
	}

	t.Run("WritesWonClaimsOnly", func(t *testing.T) {
		b := newBackends(t)
		q := UniqueName(t)
		ok, _, err := b.Deduper.Claim(context.Background(), "taken", "someone", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
		res, err := b.Queue.Accept(context.Background(), b.EventLog, b.Deduper, []notify.AcceptItem{
			item("taken", "n1", q), item("free", "n2", q), item("", "n3", q), item("free", "n4", q),
		})
		require.NoError(t, err)
		assert.Equal(t, []notify.ClaimResult{{Holder: "someone"}, {Claimed: true}, {Claimed: true}, {Holder: "n2"}}, res)
		assert.Equal(t, 2, ready(t, b, q), "n2 and n3 are queued")
		for nid, want := range map[string]bool{"n1": false, "n2": true, "n3": true, "n4": false} {
			assert.Equal(t, want, logged(t, b, nid), nid)
		}
	})

	t.Run("ConcurrentClaimsOfOneKey", func(t *testing.T) {
		b := newBackends(t)
		q := UniqueName(t)
		const n = 16
		var wg sync.WaitGroup
		results := make([]notify.ClaimResult, n)
		for i := range n {
			wg.Go(func() {
				nid := "c" + string(rune('a'+i))
				res, err := b.Queue.Accept(context.Background(), b.EventLog, b.Deduper, []notify.AcceptItem{item("one", nid, q)})
				if assert.NoError(t, err) && assert.Len(t, res, 1) {
					results[i] = res[0]
				}
			})
		}
		wg.Wait()
		winners := 0
		for _, r := range results {
			if r.Claimed {
				winners++
			}
		}
		assert.Equal(t, 1, winners, "exactly one of concurrent claims of one key wins")
		assert.Equal(t, 1, ready(t, b, q), "and only its job is queued")
	})

	t.Run("RefusesForeignBackends", func(t *testing.T) {
		b := newBackends(t)
		q := UniqueName(t)
		_, err := b.Queue.Accept(context.Background(), b.Foreign, b.Deduper, []notify.AcceptItem{item("k", "n1", q)})
		require.ErrorIs(t, err, errors.ErrUnsupported)
		_, err = b.Queue.Accept(context.Background(), b.Foreign, b.Deduper, nil)
		require.ErrorIs(t, err, errors.ErrUnsupported, "also when asked with no items")
		_, err = b.Queue.Accept(context.Background(), b.EventLog, b.Deduper, nil)
		require.NoError(t, err, "its own backends are accepted")
		assert.Zero(t, ready(t, b, q), "nothing was written")
		ok, _, err := b.Deduper.Claim(context.Background(), "k", "other", time.Hour)
		require.NoError(t, err)
		assert.True(t, ok, "no claim was written either")
	})
}
