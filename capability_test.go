package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

func TestWrappedStoreStillPrunes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   func(notify.Store) notify.Store
		prunes bool
	}{
		{"Unwrap", func(s notify.Store) notify.Store { return wrappedStore{s} }, true},
		{"NoUnwrap", func(s notify.Store) notify.Store { return opaqueStore{s} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				inner := &prunedStore{Store: smem.New(smem.Config{})}
				h := newHarness(t, func(c *notify.Config) { c.Store, c.PruneEvery = tc.wrap(inner), time.Hour })
				stop := h.run(t)
				time.Sleep(3*time.Hour + 30*time.Minute)
				synctest.Wait()
				stop()
				if tc.prunes {
					assert.GreaterOrEqual(t, inner.calls.Load(), int32(3), "Prune calls on a Pruner behind a wrapper with Unwrap")
				} else {
					assert.Zero(t, inner.calls.Load(), "a wrapper without Unwrap hides its Store's Pruner")
				}
			})
		})
	}
}

// wrappedChannel is a Channel wrapper as a host writes one (to count
// sends, say): it embeds the Channel and says what it wraps.
type wrappedChannel struct {
	notify.Channel
	sends atomic.Int32
}

func (w *wrappedChannel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	w.sends.Add(1)
	return w.Channel.Send(ctx, d)
}

func (w *wrappedChannel) Unwrap() any { return w.Channel }

func TestWrappedChannelKeepsBatchSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		batcher := h.ch["fcm"].Batching()
		wrapper := &wrappedChannel{Channel: batcher}
		cfg := h.cfg
		cfg.Channels = []notify.Channel{wrapper}
		d, err := notify.New(cfg)
		require.NoError(t, err)
		var ns []notify.Notification
		for i := range 50 {
			ns = append(ns, notify.Notification{To: []notify.Address{{Channel: "fcm", Value: fmt.Sprint("t", i)}},
				Content: &notify.Message{Title: "hi", Body: "there"}})
		}
		_, err = d.SendBatch(t.Context(), ns)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = d.Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		assert.Len(t, h.ch["fcm"].Sent(), 50)
		batched := 0
		for _, b := range batcher.Batches() {
			batched += b
		}
		assert.Greater(t, batched, len(batcher.Batches()), "the wrapped channel got batches of several deliveries")
		// SendBatch is called on the wrapped channel, bypassing the
		// wrapper: the wrapper sees only the deliveries sent one by one.
		assert.Equal(t, 50, batched+int(wrapper.sends.Load()), "every delivery went through SendBatch or the wrapper's Send")
	})
}

func TestWrappedChannelKeepsValidator(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Channels = []notify.Channel{&wrappedChannel{Channel: h.ch["sms"].WithMaxBytes(10)}}
	d, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+15550100"}},
		Content: &notify.Message{Body: "more than ten bytes"}})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve, "the wrapped channel's Validator rejects the message at Send")
	_, err = d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+15550100"}},
		Content: &notify.Message{Body: "short"}})
	require.NoError(t, err)
}

// records is a slog.Handler that keeps the records it gets at or above
// level.
type records struct {
	level slog.Level
	mu    sync.Mutex
	got   []slog.Record
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rec.Clone())
	return nil
}

func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// capabilityRecords returns the attributes of each "optional
// capabilities" record.
func (r *records) capabilityRecords() []map[string]slog.Value {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]slog.Value
	for _, rec := range r.got {
		if rec.Message != "notify: optional capabilities" {
			continue
		}
		attrs := map[string]slog.Value{"level": slog.StringValue(rec.Level.String())}
		rec.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Resolve()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

func TestNewLogsCapabilities(t *testing.T) {
	h := newHarness(t)
	inner := &prunedStore{Store: smem.New(smem.Config{})}
	cfg := h.cfg
	cfg.Store = wrappedStore{inner}
	cfg.Deduper = &batchDeduper{Deduper: cfg.Deduper}
	cfg.Channels = []notify.Channel{h.ch["fcm"].Batching(), h.ch["sms"].WithMaxBytes(100), &wrappedChannel{Channel: h.ch["email"].Batching()}}

	rec := &records{level: slog.LevelDebug}
	cfg.Logger = slog.New(rec)
	_, err := notify.New(cfg)
	require.NoError(t, err)
	got := rec.capabilityRecords()
	require.Len(t, got, 1, "one debug line")
	assert.Equal(t, "DEBUG", got[0]["level"].String())
	assert.Equal(t, "*memory.Queue", got[0]["queue"].String())
	assert.Equal(t, "notify_test.wrappedStore", got[0]["store"].String())
	assert.Equal(t, "*notify_test.batchDeduper", got[0]["deduper"].String())
	assert.Equal(t, "*memory.Limiter", got[0]["limiter"].String())
	assert.Equal(t, []string{
		"queue.LeaseExtender", "queue.VisibilityReporter", "queue.Canceler",
		"store.OnceRecorder(unwrapped)", "store.Pruner(unwrapped)", "store.DeviceRegistry(unwrapped)", "store.ProcessLocal(unwrapped)",
		"deduper.BatchDeduper",
		"channel.fcm.BatchSender", "channel.sms.Validator", "channel.email.BatchSender(unwrapped)",
	}, got[0]["capabilities"].Any())

	cfg.Deduper, cfg.Limiter = nil, nil
	rec = &records{level: slog.LevelDebug}
	cfg.Logger = slog.New(rec)
	_, err = notify.New(cfg)
	require.NoError(t, err)
	got = rec.capabilityRecords()
	require.Len(t, got, 1)
	assert.Equal(t, "none", got[0]["deduper"].String())
	assert.Equal(t, "none", got[0]["limiter"].String())

	rec = &records{level: slog.LevelInfo}
	cfg.Logger = slog.New(rec)
	_, err = notify.New(cfg)
	require.NoError(t, err)
	assert.Empty(t, rec.capabilityRecords(), "nothing at info level")
}
