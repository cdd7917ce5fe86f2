package notify_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
)

// addresses returns n distinct SMS addresses.
func addresses(n int) []notify.Address {
	to := make([]notify.Address, n)
	for i := range to {
		to[i] = notify.Address{Channel: "sms", Value: "+1555" + strconv.Itoa(1000000+i)}
	}
	return to
}

func metadata(keys, valueLen int) map[string]string {
	md := make(map[string]string, keys)
	for i := range keys {
		md["k"+strconv.Itoa(i)] = strings.Repeat("v", valueLen)
	}
	return md
}

func TestSendLimits(t *testing.T) {
	body := &notify.Message{Body: "x"}
	tests := []struct {
		name  string
		n     notify.Notification
		field string // "": accepted
	}{
		{"To at the limit", notify.Notification{To: addresses(1000), Content: body}, ""},
		{"To over the limit", notify.Notification{To: addresses(1001), Content: body}, "To"},
		{"NUL in an address", notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+1555"}, {Channel: "sms", Value: "+1\x00"}}, Content: body}, "To[1].Value"},
		{"address not UTF-8", notify.Notification{To: []notify.Address{{Channel: "sms", Value: "\xff"}}, Content: body}, "To[0].Value"},
		{"long address", notify.Notification{To: []notify.Address{{Channel: "sms", Value: strings.Repeat("1", 1025)}}, Content: body}, "To[0].Value"},
		{"Data near the limit", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": strings.Repeat("a", 60<<10)}}, ""},
		{"Data over the limit", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": strings.Repeat("a", 64<<10)}}, "Data"},
		{"Data over the limit, nested", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": []any{map[string]any{"y": make([]string, 40000)}}}}, "Data"},
		{"Data over the limit, numbers", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": manyFloats(8000)}}, "Data"},
		{"Data over the limit, unknown type", notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": "A", "x": struct{ S string }{strings.Repeat("a", 64<<10)}}}, "Data"},
		{"Metadata at the limits", notify.Notification{UserID: "ana", Content: body, Metadata: metadata(64, 250)}, ""},
		{"Metadata: too many keys", notify.Notification{UserID: "ana", Content: body, Metadata: metadata(65, 1)}, "Metadata"},
		{"Metadata: too many bytes", notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"k": strings.Repeat("v", 16<<10)}}, "Metadata"},
		{"Metadata: NUL in a key", notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"a\x00": "v"}}, "Metadata"},
		{"Metadata: value not UTF-8", notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"a": "\xc3"}}, "Metadata"},
		{"Metadata: NUL in a value", notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"a": "\x00"}}, "Metadata"},
		{"Channels at the limit", notify.Notification{UserID: "ana", Content: body, Channels: repeat("sms", 64)}, ""},
		{"Channels over the limit", notify.Notification{UserID: "ana", Content: body, Channels: repeat("sms", 65)}, "Channels"},
		{"Options over the limit", notify.Notification{UserID: "ana", Content: body, Options: map[string]any{"sms": map[string]any{"x": strings.Repeat("o", 40<<10)}, "email": strings.Repeat("o", 30<<10)}}, "Options"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.contact(t, ana)
			r, err := h.d.Send(t.Context(), tc.n)
			if tc.field == "" {
				require.NoError(t, err)
				assert.NotEmpty(t, r.Deliveries)
				return
			}
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field, "error: %v", err)
			assertNothingStored(t, h)
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func manyFloats(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = 1.0 / float64(i+3)
	}
	return out
}

// TestSendLimitsAreConfigurable: each limit is the Config's, not a constant.
func TestSendLimitsAreConfigurable(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) {
		c.MaxRecipients = 3
		c.MaxDataBytes = 100
		c.MaxMetadataBytes = 10
		c.MaxMetadataKeys = 2
	})
	h.contact(t, ana)
	body := &notify.Message{Body: "x"}
	for _, tc := range []struct {
		ok, bad notify.Notification
		field   string
	}{
		{notify.Notification{To: addresses(3), Content: body}, notify.Notification{To: addresses(4), Content: body}, "To"},
		{notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": strings.Repeat("a", 80)}},
			notify.Notification{UserID: "ana", Template: "welcome", Data: map[string]any{"name": strings.Repeat("a", 100)}}, "Data"},
		{notify.Notification{UserID: "ana", Content: body, Options: map[string]any{"sms": strings.Repeat("a", 90)}},
			notify.Notification{UserID: "ana", Content: body, Options: map[string]any{"sms": strings.Repeat("a", 99)}}, "Options"},
		{notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"a": "123456789"}},
			notify.Notification{UserID: "ana", Content: body, Metadata: map[string]string{"a": "1234567890"}}, "Metadata"},
		{notify.Notification{UserID: "ana", Content: body, Metadata: metadata(2, 1)},
			notify.Notification{UserID: "ana", Content: body, Metadata: metadata(3, 1)}, "Metadata"},
	} {
		_, err := h.d.Send(t.Context(), tc.ok)
		require.NoError(t, err, tc.field)
		_, err = h.d.Send(t.Context(), tc.bad)
		var ve *notify.ValidationError
		require.ErrorAs(t, err, &ve, tc.field)
		assert.Equal(t, tc.field, ve.Field)
	}
}

// TestSendLargeToIsCheap: a To list far over the limit is turned away
// without looking at its addresses.
func TestSendLargeToIsCheap(t *testing.T) {
	h := newHarness(t)
	to := addresses(1 << 20)
	start := time.Now()
	_, err := h.d.Send(t.Context(), notify.Notification{To: to, Content: &notify.Message{Body: "x"}})
	took := time.Since(start)
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "To", ve.Field)
	assert.Less(t, took, 100*time.Millisecond)
}

// endlessTemplates is a Dispatcher whose Renderer has a template that
// ranges over its data: with n = 1<<62 it would never end.
func endlessTemplates(t *testing.T, cfg template.Config) *harness {
	t.Helper()
	set := template.New(cfg)
	require.NoError(t, set.Add("loop", "", template.Variants{SMS: &template.SMS{Body: "{{range .n}}{{end}}done"}}))
	return newHarness(t, func(c *notify.Config) { c.Renderer = set })
}

// sendWithin runs Send and fails the test, rather than hanging it, when
// Send does not return within limit.
func sendWithin(t *testing.T, limit time.Duration, ctx context.Context, d *notify.Dispatcher, n notify.Notification) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := d.Send(ctx, n)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("Send returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return err
	case <-time.After(limit):
		t.Fatalf("Send still running after %s", limit)
		return nil
	}
}

// TestSendRenderStopsAtDeadline: a template ranging
// over a huge number from the data no longer holds Send past its
// deadline: Send fails with the context's error (or a *ValidationError
// wrapping it) soon after the deadline, and nothing is stored.
func TestSendRenderStopsAtDeadline(t *testing.T) {
	h := endlessTemplates(t, template.Config{MaxSteps: 1 << 62})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := sendWithin(t, 10*time.Second, ctx, h.d, notify.Notification{
		To: []notify.Address{{Channel: "sms", Value: "+15550100"}}, Template: "loop", Data: map[string]any{"n": 1 << 62}})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var ve *notify.ValidationError
	if errors.As(err, &ve) {
		assert.Equal(t, "Data", ve.Field)
	}
	assertNothingStored(t, h)
}

// TestSendRenderStopsAtMaxSteps: without a deadline, the Renderer's step
// limit stops the same Send, and the data is what is wrong.
func TestSendRenderStopsAtMaxSteps(t *testing.T) {
	h := endlessTemplates(t, template.Config{MaxSteps: 1 << 16})
	err := sendWithin(t, 10*time.Second, context.Background(), h.d, notify.Notification{
		To: []notify.Address{{Channel: "sms", Value: "+15550100"}}, Template: "loop", Data: map[string]any{"n": 1 << 62}})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Data", ve.Field)
	require.ErrorIs(t, err, template.ErrTooManySteps)
	assertNothingStored(t, h)

	r, err := h.d.Send(t.Context(), notify.Notification{
		To: []notify.Address{{Channel: "sms", Value: "+15550100"}}, Template: "loop", Data: map[string]any{"n": 1000}})
	require.NoError(t, err, "a range within the limit renders")
	assert.Len(t, r.Deliveries, 1)
}

// FuzzSendLimits: whatever the sizes, Send either accepts the
// notification or rejects it with a *ValidationError naming a field and
// stores nothing; a notification over a limit is always rejected, naming
// a field that is over its limit, and one well within every limit is
// never rejected for size.
func FuzzSendLimits(f *testing.F) {
	f.Add(uint16(3), uint8(2), "k", "v", uint16(1), uint32(10), uint8(0), uint8(1))
	f.Add(uint16(21), uint8(9), "k", "v", uint16(300), uint32(2000), uint8(40), uint8(70))
	f.Add(uint16(0), uint8(1), "\x00", "\xff", uint16(0), uint32(0), uint8(3), uint8(0))
	f.Fuzz(func(t *testing.T, nTo uint16, nKeys uint8, key, val string, valRepeat uint16, dataLen uint32, depth uint8, nChannels uint8) {
		const maxTo, maxData, maxMDBytes, maxMDKeys = 20, 1024, 256, 8
		h := newHarness(t, func(c *notify.Config) {
			c.MaxRecipients, c.MaxDataBytes, c.MaxMetadataBytes, c.MaxMetadataKeys = maxTo, maxData, maxMDBytes, maxMDKeys
		})
		h.contact(t, ana)
		nTo %= 64
		dataLen %= 1 << 16
		depth %= 40
		n := notify.Notification{UserID: "ana", Template: "welcome", To: addresses(int(nTo)), Channels: repeat("sms", int(nChannels)%100)}
		v := strings.Repeat(val, int(valRepeat)%512)
		v = v[:min(len(v), 1024)]
		nKeys %= 32
		mdBytes := 0
		if nKeys > 0 {
			n.Metadata = make(map[string]string)
			for i := range int(nKeys) {
				k := key + strconv.Itoa(i)
				n.Metadata[k] = v
				mdBytes += len(k) + len(v)
			}
		}
		mdOK := utf8.ValidString(key) && utf8.ValidString(v) && !strings.Contains(key+v, "\x00")
		var data any = strings.Repeat("d", int(dataLen))
		for range depth {
			data = []any{data}
		}
		n.Data = map[string]any{"name": "A", "x": data}
		dataSize := len(`{"name":"A","x":""}`) + int(dataLen) + 2*int(depth)

		over := map[string]bool{
			"To":       len(n.To) > maxTo,
			"Channels": len(n.Channels) > 64,
			"Metadata": len(n.Metadata) > maxMDKeys || mdBytes > maxMDBytes || (len(n.Metadata) > 0 && !mdOK),
			"Data":     dataSize > maxData || depth > 31,
		}
		anyOver := false
		for _, o := range over {
			anyOver = anyOver || o
		}
		_, err := h.d.Send(t.Context(), n)
		var ve *notify.ValidationError
		if err != nil {
			require.ErrorAs(t, err, &ve)
			require.NotEmpty(t, ve.Field)
			assertNothingStored(t, h)
		}
		if anyOver {
			require.Error(t, err, "over a limit: %v", over)
			assert.True(t, over[ve.Field], "rejected for %s (%v) while over %v", ve.Field, err, over)
			return
		}
		if dataSize <= maxData-32 { // the size is an estimate: allow some slack near the limit
			require.NoError(t, err)
		}
	})
}

// BenchmarkSendManyRecipients sends one notification to 40,000 distinct
// addresses (Config.MaxRecipients raised to allow it), each into an empty
// queue.
func BenchmarkSendManyRecipients(b *testing.B) {
	to := addresses(40000)
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, func(c *notify.Config) { c.MaxRecipients = 40000 })
		b.StartTimer()
		r, err := h.d.Send(b.Context(), notify.Notification{To: to, Content: &notify.Message{Body: "x"}})
		require.NoError(b, err)
		require.Len(b, r.Deliveries, 40000)
	}
}
