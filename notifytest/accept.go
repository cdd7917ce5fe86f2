package notifytest

import (
	"context"
	"errors"
	"strings"
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
// errors.ErrUnsupported, having written nothing; and Accept answers, logs
// and queues as the single calls it stands for would (Claim, then Record
// and Enqueue for each item whose claim is won, in turn).
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

	t.Run("MatchesSingleCalls", func(t *testing.T) {
		b := newBackends(t)
		ctx := timeout(t, 30*time.Second)
		base := UniqueName(t)
		// The same items on two sides, with keys, notification IDs and
		// queues of their own: written with one Accept, and with Claim,
		// then Record and Enqueue for each item whose claim is won.
		cases := []struct{ key, nid string }{
			{"taken", "n1"}, {"free", "n2"}, {"", "n3"}, {"free", "n4"}, {"other", "n5"}, {"other", "n6"},
		}
		type side struct{ name, queue string }
		sides := []side{{"accept", base + "-accept"}, {"apart", base + "-apart"}}
		var results [2][]notify.ClaimResult
		for i, s := range sides {
			pre := s.name + "-"
			ok, _, err := b.Deduper.Claim(ctx, pre+"taken", pre+"someone", time.Hour)
			require.NoError(t, err)
			require.True(t, ok)
			items := make([]notify.AcceptItem, len(cases))
			for j, c := range cases {
				key := c.key
				if key != "" {
					key = pre + key
				}
				items[j] = item(key, pre+c.nid, s.queue)
			}
			if i == 0 {
				res, err := b.Queue.Accept(ctx, b.EventLog, b.Deduper, items)
				require.NoError(t, err, "Accept")
				require.Len(t, res, len(items), "Accept answers each item")
				results[i] = res
			} else {
				for _, it := range items {
					if it.Claim != nil {
						ok, holder, err := b.Deduper.Claim(ctx, it.Claim.Key, it.Claim.Owner, it.Claim.TTL)
						require.NoError(t, err, "Claim")
						if !ok {
							results[i] = append(results[i], notify.ClaimResult{Holder: holder})
							continue
						}
					}
					require.NoError(t, b.EventLog.Record(ctx, it.Events...))
					require.NoError(t, b.Queue.Enqueue(ctx, it.Jobs...))
					results[i] = append(results[i], notify.ClaimResult{Claimed: true})
				}
			}
			for j := range results[i] {
				results[i][j].Holder = strings.TrimPrefix(results[i][j].Holder, pre)
			}
		}
		assert.Equal(t, results[1], results[0], "Accept's answers and those of Claim, Record and Enqueue for each item in turn")
		assert.Equal(t, ready(t, b, sides[1].queue), ready(t, b, sides[0].queue), "jobs queued by Accept and by the single calls")
		for _, c := range cases {
			assert.Equal(t, logged(t, b, "apart-"+c.nid), logged(t, b, "accept-"+c.nid), "%s logged by Accept and by the single calls", c.nid)
		}
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
