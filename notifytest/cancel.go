package notifytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// TestCancelRace checks Dispatcher.Cancel against a running Dispatcher on
// the backends of base (its Queue, Store and Deduper; its Channels, Retry
// and Logger are replaced): n notifications of two deliveries each (sms,
// failing 30% of attempts retryably, and email, taking 200µs a send), each
// canceled after a random pause of up to 400µs while the Dispatcher
// delivers. Every delivery must end either sent or canceled, never both
// and never neither — by the log, which must hold at most one sent or
// canceled event per delivery, and by the fake channels' sent counts —
// and Cancel's answer must say which (Canceled, or TooLate for a sent
// one). Both outcomes must occur, so that the race was run at all.
func TestCancelRace(t *testing.T, base notify.Config, n int) {
	t.Helper()
	sms := NewChannel(notify.ChannelSMS).FailRate(0.3, nil)
	email := NewChannel(notify.ChannelEmail).Latency(200 * time.Microsecond)
	chans := map[string]*Channel{sms.Name(): sms, email.Name(): email}
	cfg := base
	cfg.Channels = []notify.Channel{sms, email}
	// Enough attempts that no delivery goes dead on sms's failures.
	cfg.Retry = notify.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 100}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := notify.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var run sync.WaitGroup
	run.Go(func() { _ = d.Run(runCtx) })
	defer func() { stop(); run.Wait() }()

	prefix := UniqueName(t)
	receipts := make([]notify.Receipt, n)
	results := make([]notify.CancelResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ev := fmt.Sprintf("%s:%d", prefix, i)
		r, err := d.Send(ctx, notify.Notification{
			EventID: ev, Content: &notify.Message{Title: "Hi", Body: "Cancel me"},
			To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}, {Channel: notify.ChannelEmail, Value: "ana@example.com"}},
		})
		require.NoError(t, err, "Send %d", i)
		require.Len(t, r.Deliveries, 2)
		receipts[i] = r
		wg.Go(func() {
			time.Sleep(rand.N(400 * time.Microsecond))
			results[i], errs[i] = d.Cancel(ctx, ev)
		})
	}
	wg.Wait()

	var canceled, tooLate int
	for i, r := range receipts {
		require.NoError(t, errs[i], "Cancel %d", i)
		said := map[string]string{}
		for _, ref := range results[i].Canceled {
			said[ref.ID] = "canceled"
		}
		for _, ref := range results[i].TooLate {
			said[ref.ID] = "too late"
		}
		assert.Empty(t, results[i].Final, "notification %d: nothing ends unsent but by Cancel", i)
		assert.Len(t, said, len(r.Deliveries), "notification %d: each delivery in one list of Cancel's answer", i)
		for _, rec := range Settled(t, d, r.NotificationID, time.Minute) {
			sent := chans[rec.Channel].SentCount(rec.DeliveryID)
			var ends int
			var statuses []notify.Status
			for _, e := range rec.Events {
				statuses = append(statuses, e.Status)
				if e.Status == notify.StatusSent || e.Status == notify.StatusCanceled {
					ends++
				}
			}
			assert.Equal(t, 1, ends, "%s: logged sent or canceled %d times: %v", rec.DeliveryID, ends, statuses)
			switch rec.Status {
			case notify.StatusSent:
				assert.Equal(t, 1, sent, "%s: logged sent, sent %d times", rec.DeliveryID, sent)
				assert.Equal(t, "too late", said[rec.DeliveryID], "%s: sent, but Cancel said %q", rec.DeliveryID, said[rec.DeliveryID])
				tooLate++
			case notify.StatusCanceled:
				assert.Equal(t, 0, sent, "%s: logged canceled, sent %d times", rec.DeliveryID, sent)
				assert.Equal(t, "canceled", said[rec.DeliveryID], "%s: canceled, but Cancel said %q", rec.DeliveryID, said[rec.DeliveryID])
				canceled++
			default:
				t.Errorf("%s: ended %s, neither sent nor canceled", rec.DeliveryID, rec.Status)
			}
		}
	}
	t.Logf("%d notifications: %d deliveries canceled, %d too late (sent)", n, canceled, tooLate)
	assert.Positive(t, canceled, "no Cancel won: the race was not run")
	assert.Positive(t, tooLate, "no delivery was sent before its Cancel: the race was not run")
}
