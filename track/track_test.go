package track_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image/gif"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/track"
)

const longURL = "https://shop.example.com/orders/A-1017/tracking?carrier=ups&number=1Z999AA10123456784&lang=en"

func TestSendResolvesLinksPerDelivery(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	r, sent := e.send(t, longURL,
		notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"},
		notify.Address{Channel: notify.ChannelEmail, Value: "bob@example.com"},
		notify.Address{Channel: notify.ChannelSMS, Value: "+15005550006"})
	require.Len(t, sent, 3)

	seen := map[string]string{} // link -> delivery
	for _, d := range sent {
		var all []string
		switch d.Channel {
		case notify.ChannelEmail:
			require.Len(t, links(d.Message.HTML), 3, d.Message.HTML) // two clicks and the pixel
			require.Len(t, links(d.Message.Text), 1)
			all = append(links(d.Message.HTML), links(d.Message.Text)...)
			mustContain(t, d.Message.HTML, `<img src="`+base+`/t/o/`)
		case notify.ChannelSMS:
			require.Len(t, links(d.Message.Body), 1)
			all = links(d.Message.Body)
		}
		for _, l := range all {
			if other, dup := seen[l]; dup && other != d.ID {
				t.Fatalf("deliveries %s and %s got the same link %s", other, d.ID, l)
			}
			seen[l] = d.ID
		}
	}
	// Every link works and names its own delivery.
	for l, id := range seen {
		res := get(e.h, http.MethodGet, l, browser)
		switch {
		case strings.Contains(l, "/t/c/"):
			require.Equal(t, http.StatusFound, res.StatusCode, l)
		default:
			require.Equal(t, http.StatusOK, res.StatusCode, l)
		}
		_ = id
	}
	closeHandler(t, e.h)
	for _, d := range sent {
		clicks := e.tracked(t, d.ID, notify.StatusClicked)
		var urls []string
		for _, ev := range clicks {
			dt, err := track.ParseDetail(ev.Reason)
			require.NoError(t, err)
			urls = append(urls, dt.URL)
		}
		switch d.Channel {
		case notify.ChannelEmail:
			// The text part's link and the HTML's first are the same
			// link: one record of two hits, or a first and a repeat.
			require.ElementsMatch(t, []string{longURL, "https://shop.example.com/help"}, uniq(urls), "delivery %s", d.ID)
			total, _ := hits(t, clicks)
			require.Equal(t, 2, total)
			opens := e.tracked(t, d.ID, notify.StatusOpened)
			require.Len(t, opens, 1)
			require.Empty(t, opens[0].Reason)
		case notify.ChannelSMS:
			require.Equal(t, []string{longURL}, urls)
		}
	}

	// The SMS was validated as it was sent: its units count the link,
	// not a marker or a template.
	var smsRef notify.DeliveryRef
	for _, ref := range r.Deliveries {
		if ref.Channel == notify.ChannelSMS {
			smsRef = ref
		}
	}
	body := e.sms.Sent()[0].Message.Body
	require.Greater(t, len(body), 160, "the test wants a multi-segment SMS")
	require.Equal(t, segments(body), smsRef.Units)
	e.sms.mu.Lock()
	require.Equal(t, []string{body}, e.sms.validated)
	e.sms.mu.Unlock()
}

func uniq(s []string) []string {
	m := map[string]bool{}
	var out []string
	for _, v := range s {
		if !m[v] {
			m[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestClickRedirectsAndOpenAnswersPixel(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	ls := links(sent[0].Message.HTML)

	res := get(e.h, http.MethodGet, ls[0], browser)
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, longURL, res.Header.Get("Location"))
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	res = get(e.h, http.MethodGet, ls[2], browser)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "image/gif", res.Header.Get("Content-Type"))
	mustContain(t, res.Header.Get("Cache-Control"), "no-store")
	mustContain(t, res.Header.Get("Cache-Control"), "no-cache")
	require.Equal(t, "no-cache", res.Header.Get("Pragma"))
	img, err := gif.Decode(res.Body)
	require.NoError(t, err)
	require.Equal(t, 1, img.Bounds().Dx())
	require.Equal(t, 1, img.Bounds().Dy())
	_, _, _, a := img.At(0, 0).RGBA()
	require.Zero(t, a, "the pixel must be transparent")

	closeHandler(t, e.h)
	clicks := e.tracked(t, sent[0].ID, notify.StatusClicked)
	require.Len(t, clicks, 1)
	require.Equal(t, longURL, clicks[0].Reason)
	require.Len(t, e.tracked(t, sent[0].ID, notify.StatusOpened), 1)
	st := e.h.Stats()
	require.Equal(t, int64(1), st.Clicks)
	require.Equal(t, int64(1), st.Opens)
	require.Equal(t, int64(2), st.Written)
	require.Zero(t, st.Invalid)
}

// token returns the token of a link and its decoded bytes.
func token(t testing.TB, link string) (kindPath, tok string, raw []byte) {
	t.Helper()
	i := strings.Index(link, "/t/")
	kindPath, tok = link[i:i+5], link[i+5:]
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	require.NoError(t, err)
	return kindPath, tok, raw
}

func TestRefusesBadLinks(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	s := newSigner(t, keyA)
	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: rec, Logger: quiet()})
	require.NoError(t, err)
	const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
	good, err := s.ClickLink(id, "https://shop.example.com/orders")
	require.NoError(t, err)
	goodOpen, err := s.OpenLink(id)
	require.NoError(t, err)
	marker, err := s.Click("https://shop.example.com/orders")
	require.NoError(t, err)
	_, tok, raw := token(t, good)
	enc := base64.RawURLEncoding.EncodeToString
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return base + "/t/c/" + enc(b)
	}
	// Layout: version, ID kind, 16 bytes of ID, target, 12 bytes of MAC.
	targetAt := 18
	require.Equal(t, "shop.example.com/orders", string(raw[targetAt:len(raw)-12]), "the layout the test knows")
	altered := bytes.Clone(raw)
	copy(altered[targetAt:], "evil")
	unsigned := append([]byte{0x11, 0x00}, raw[2:18]...)
	unsigned = append(unsigned, "evil.example/phish"...)
	unsigned = append(unsigned, make([]byte, 12)...)

	bad := map[string]string{
		"forged":               base + "/t/c/" + enc([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789")),
		"altered target":       base + "/t/c/" + enc(altered),
		"altered delivery ID":  flip(5),
		"altered MAC":          flip(len(raw) - 1),
		"altered version":      flip(0),
		"unsigned target":      base + "/t/c/" + enc(unsigned),
		"raw target":           base + "/t/c/https://evil.example/phish",
		"raw target escaped":   base + "/t/c/https%3A%2F%2Fevil.example%2Fphish",
		"marker":               marker,
		"open link as a click": strings.Replace(goodOpen, "/t/o/", "/t/c/", 1),
		"padded":               good + "==",
		"extra char":           good + "A",
		"empty":                base + "/t/c/",
		"no kind":              base + "/t/",
		"unknown kind":         base + "/t/x/" + tok,
		"too long":             base + "/t/c/" + strings.Repeat("A", 10000),
		"other key":            mustLink(t, newSigner(t, keyB), id),
	}
	for n := 1; n < len(tok); n++ {
		bad["truncated to "+string(rune('0'+n%10))+"/"+tok[:n]] = base + "/t/c/" + tok[:n]
	}
	for name, l := range bad {
		res := get(h, http.MethodGet, l, browser)
		require.Equal(t, http.StatusNotFound, res.StatusCode, name)
		require.Empty(t, res.Header.Get("Location"), name)
	}
	// A click link on the open path records nothing (and answers the
	// image, as every open link that does not verify does).
	res := get(h, http.MethodGet, strings.Replace(good, "/t/c/", "/t/o/", 1), browser)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "image/gif", res.Header.Get("Content-Type"))

	require.Equal(t, int64(len(bad)+1), h.Stats().Invalid)
	// The good ones still work.
	require.Equal(t, http.StatusFound, get(h, http.MethodGet, good, browser).StatusCode)
	require.Equal(t, http.StatusOK, get(h, http.MethodGet, goodOpen, browser).StatusCode)
	closeHandler(t, h)
	reports := rec.Reports()
	require.Len(t, reports, 2, "only the two good links are recorded: %+v", reports)
	for _, r := range reports {
		require.Equal(t, id, r.DeliveryID)
	}
}

func mustLink(t testing.TB, s *track.Signer, id string) string {
	t.Helper()
	l, err := s.ClickLink(id, "https://shop.example.com/orders")
	require.NoError(t, err)
	return l
}

func TestKeyRotation(t *testing.T) {
	const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
	old := newSigner(t, keyA)
	rotated := newSigner(t, keyB, keyA) // B signs, A still verifies
	removed := newSigner(t, keyB)       // A is gone
	oldLink := mustLink(t, old, id)
	newLink := mustLink(t, rotated, id)
	require.NotEqual(t, oldLink, newLink)
	require.Equal(t, newLink, mustLink(t, removed, id), "the first key signs")

	handler := func(s *track.Signer) (*track.Handler, *notifytest.FeedbackRecorder) {
		rec := &notifytest.FeedbackRecorder{}
		h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: rec, Logger: quiet()})
		require.NoError(t, err)
		t.Cleanup(func() { _ = h.Close(context.Background()) })
		return h, rec
	}
	hOld, _ := handler(old)
	hRot, _ := handler(rotated)
	hRem, _ := handler(removed)
	for _, c := range []struct {
		name string
		h    http.Handler
		link string
		want int
	}{
		{"old key, old link", hOld, oldLink, http.StatusFound},
		{"old key, new link", hOld, newLink, http.StatusNotFound},
		{"rotated, old link (previous key)", hRot, oldLink, http.StatusFound},
		{"rotated, new link", hRot, newLink, http.StatusFound},
		{"old key removed, old link", hRem, oldLink, http.StatusNotFound},
		{"old key removed, new link", hRem, newLink, http.StatusFound},
	} {
		require.Equal(t, c.want, get(c.h, http.MethodGet, c.link, browser).StatusCode, c.name)
	}

	// A marker made with the old key, still queued when the keys rotate,
	// becomes a link signed with the new key; once the old key is removed
	// it is no marker any more and stays as it is (a dead link).
	marker, err := old.Click("https://shop.example.com/orders")
	require.NoError(t, err)
	resolved := rotated.Resolve(id, "see "+marker+".")
	require.Equal(t, "see "+newLink+".", resolved)
	require.Equal(t, "see "+marker+".", removed.Resolve(id, "see "+marker+"."))
}

func TestMarkerInjectedInDataIsNotSigned(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	attacker := newSigner(t, keyB)
	forged, err := attacker.Click("https://evil.example/phish")
	require.NoError(t, err)
	// Text shaped like a marker of e's own, with a bad MAC.
	real, err := e.s.Click("https://evil.example/phish")
	require.NoError(t, err)
	_, _, raw := token(t, real)
	raw[len(raw)-1] ^= 1
	lookalike := base + "/t/c/" + base64.RawURLEncoding.EncodeToString(raw)

	note := forged + " " + lookalike
	_, sent := e.sendN(t, notify.Notification{
		To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}}, Template: "note", Data: map[string]any{"note": note},
	})
	require.Equal(t, "Note: "+note, sent[0].Message.Body, "nothing in the data was turned into a link")
	for _, l := range links(sent[0].Message.Body) {
		require.Equal(t, http.StatusNotFound, get(e.h, http.MethodGet, l, browser).StatusCode)
	}
}

func TestTenThousandConcurrentClicks(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	link := links(sent[0].Message.Text)[0]

	const n = 10_000
	start := make(chan struct{})
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i] = get(e.h, http.MethodGet, link, browser).StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusFound, c, "click %d", i)
	}
	closeHandler(t, e.h)

	clicks := e.tracked(t, sent[0].ID, notify.StatusClicked)
	total, unmarked := hits(t, clicks)
	require.Equal(t, n, total, "every click is counted")
	require.Equal(t, 1, unmarked, "one record is the first, the rest are marked repeat")
	require.LessOrEqual(t, len(clicks), 10, "clicks are gathered into a few records, not one event each")
	st := e.h.Stats()
	require.Equal(t, int64(n), st.Clicks)
	require.Equal(t, int64(n), st.WrittenHits)
	require.Zero(t, st.Dropped)
	t.Logf("%d clicks -> %d events: %v", n, len(clicks), reasons(clicks))
}

func reasons(evs []notify.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Reason)
	}
	return out
}

func TestStoreDownStillRedirectsFastAndRetries(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Coalesce: 10 * time.Millisecond})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	ls := links(sent[0].Message.HTML)

	e.store.down.Store(true)
	for i := range 3 {
		t0 := time.Now()
		res := get(e.h, http.MethodGet, ls[i%2], browser)
		require.Equal(t, http.StatusFound, res.StatusCode)
		require.Less(t, time.Since(t0), 250*time.Millisecond, "the redirect does not wait for the store")
	}
	require.Eventually(t, func() bool { return e.h.Stats().Retries >= 4 }, 5*time.Second, time.Millisecond)
	require.Positive(t, e.h.Stats().Pending)
	require.Zero(t, e.h.Stats().Written)

	e.store.down.Store(false)
	require.Eventually(t, func() bool { return e.h.Stats().Pending == 0 }, 10*time.Second, time.Millisecond)
	total, unmarked := hits(t, e.tracked(t, sent[0].ID, notify.StatusClicked))
	require.Equal(t, 3, total, "nothing lost")
	require.Equal(t, 2, unmarked, "one first record per link")
	require.Zero(t, e.h.Stats().Dropped)
}

func TestSlowStoreDoesNotSlowRedirects(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{Workers: 1})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	ls := links(sent[0].Message.HTML)
	e.store.delay.Store(int64(2 * time.Second))
	calls := e.store.calls.Load()
	require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, ls[0], browser).StatusCode)
	require.Eventually(t, func() bool { return e.store.calls.Load() > calls }, 5*time.Second, time.Millisecond)
	// The only writer is now waiting on the store.
	t0 := time.Now()
	for i := range 50 {
		t1 := time.Now()
		require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, ls[i%2], browser).StatusCode)
		require.Less(t, time.Since(t1), 250*time.Millisecond)
	}
	require.Less(t, time.Since(t0), time.Second, "50 redirects while one write takes 2s")
	e.store.delay.Store(0)
	closeHandler(t, e.h)
	total, _ := hits(t, e.tracked(t, sent[0].ID, notify.StatusClicked))
	require.Equal(t, 51, total)
}

// lossy is a FeedbackRecorder whose first answer is lost: the report is
// recorded, and an error returned.
type lossy struct {
	notify.FeedbackRecorder
	mu    sync.Mutex
	calls int
}

func (l *lossy) Feedback(ctx context.Context, fb notify.Feedback) error {
	err := l.FeedbackRecorder.Feedback(ctx, fb)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls == 1 && err == nil {
		return errors.New("connection reset (test): the write happened, its answer was lost")
	}
	return err
}

func TestRetryOfAWriteThatHappenedRecordsOnce(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	l := &lossy{FeedbackRecorder: e.d}
	h, err := track.NewHandler(track.HandlerConfig{Signer: e.s, Recorder: l, Logger: quiet(), RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, get(h, http.MethodGet, links(sent[0].Message.Text)[0], browser).StatusCode)
	closeHandler(t, h)
	require.Equal(t, int64(1), h.Stats().Retries)
	require.Equal(t, 2, l.calls)
	require.Len(t, e.tracked(t, sent[0].ID, notify.StatusClicked), 1, "the retry finds the report in the log")
}

func TestCloseWritesGatheredRepeats(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{Coalesce: time.Hour})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	link := links(sent[0].Message.Text)[0]
	require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, link, browser).StatusCode)
	require.Eventually(t, func() bool { return e.h.Stats().Written == 1 }, 5*time.Second, time.Millisecond)
	for range 3 {
		require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, link, browser).StatusCode)
	}
	require.Equal(t, 1, e.h.Stats().Pending, "the repeats wait for Coalesce")
	t0 := time.Now()
	closeHandler(t, e.h)
	require.Less(t, time.Since(t0), 5*time.Second)
	clicks := e.tracked(t, sent[0].ID, notify.StatusClicked)
	require.Len(t, clicks, 2)
	d, err := track.ParseDetail(clicks[1].Reason)
	require.NoError(t, err)
	require.Equal(t, track.Detail{URL: longURL, Hits: 3, Repeat: true}, d)

	// After Close, hits are answered and dropped.
	require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, link, browser).StatusCode)
	require.Equal(t, int64(1), e.h.Stats().Dropped)
}

func TestCloseReportsWhatItCouldNotWrite(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{RetryBase: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	var logs bytes.Buffer
	h, err := track.NewHandler(track.HandlerConfig{Signer: e.s, Recorder: e.d, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		RetryBase: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	require.NoError(t, err)
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	e.store.down.Store(true)
	ls := links(sent[0].Message.HTML)
	require.Equal(t, http.StatusFound, get(h, http.MethodGet, ls[0], browser).StatusCode)
	require.Equal(t, http.StatusOK, get(h, http.MethodGet, ls[2], browser).StatusCode)
	require.Equal(t, http.StatusOK, get(h, http.MethodGet, ls[2], browser).StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = h.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	m := regexp.MustCompile(`(\d+) records \(3 hits\) not recorded`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, err.Error())
	n, _ := strconv.Atoi(m[1])
	require.Contains(t, []int{2, 3}, n) // the second open joins the first's record, or follows it
	require.Equal(t, n, strings.Count(logs.String(), "hit not recorded"), logs.String())
	mustContain(t, logs.String(), sent[0].ID)
	require.Equal(t, err, h.Close(context.Background()), "later calls return the same")
	e.store.down.Store(false)
	require.Empty(t, e.tracked(t, sent[0].ID, notify.StatusClicked))
}

// blocking is a FeedbackRecorder whose calls wait until release is closed.
type blocking struct {
	release chan struct{}
	notifytest.FeedbackRecorder
}

func (b *blocking) Feedback(ctx context.Context, fb notify.Feedback) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.FeedbackRecorder.Feedback(ctx, fb)
}

func TestPendingIsBounded(t *testing.T) {
	s := newSigner(t, keyA)
	rec := &blocking{release: make(chan struct{})}
	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: rec, Logger: quiet(), Workers: 1, MaxPending: 2})
	require.NoError(t, err)
	ids := []string{
		"0190a6d2-7c3e-7abc-8def-000000000001", "0190a6d2-7c3e-7abc-8def-000000000002",
		"0190a6d2-7c3e-7abc-8def-000000000003", "0190a6d2-7c3e-7abc-8def-000000000004",
	}
	for _, id := range ids {
		require.Equal(t, http.StatusFound, get(h, http.MethodGet, mustLink(t, s, id), browser).StatusCode)
	}
	// The second delivery's record holds its repeats: no new record.
	require.Equal(t, http.StatusFound, get(h, http.MethodGet, mustLink(t, s, ids[1]), browser).StatusCode)
	st := h.Stats()
	require.Equal(t, 2, st.Pending)
	require.Equal(t, int64(2), st.Dropped)
	close(rec.release)
	closeHandler(t, h)
	got := map[string]int{}
	for _, r := range rec.Reports() {
		d, err := track.ParseDetail(r.Detail)
		require.NoError(t, err)
		got[r.DeliveryID] += d.Hits
	}
	require.Equal(t, map[string]int{ids[0]: 1, ids[1]: 2}, got)
}

func TestUnknownDeliveryIsDropped(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	link := mustLink(t, e.s, "0190a6d2-7c3e-7abc-8def-0123456789ab")
	require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, link, browser).StatusCode)
	closeHandler(t, e.h)
	st := e.h.Stats()
	require.Equal(t, int64(1), st.Gone)
	require.Zero(t, st.Retries)
	require.Zero(t, st.Written)
}

func TestPrefetchAndRepeatMarks(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{Coalesce: time.Hour})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	open := links(sent[0].Message.HTML)[2]
	click := links(sent[0].Message.HTML)[0]
	prefetches := []func() *http.Response{
		func() *http.Response { return get(e.h, http.MethodHead, open, browser) },
		func() *http.Response {
			return get(e.h, http.MethodGet, open, "Mozilla/5.0 (compatible; BingPreview/1.0b)")
		},
		func() *http.Response { return get(e.h, http.MethodGet, open, "") },
		func() *http.Response {
			req, _ := http.NewRequest(http.MethodGet, open, nil)
			req.Header.Set("User-Agent", browser)
			req.Header.Set("Sec-Purpose", "prefetch;prerender")
			return serve(e.h, req)
		},
	}
	for _, p := range prefetches {
		res := p()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "image/gif", res.Header.Get("Content-Type"))
	}
	// HEAD gets the headers, no body.
	res := get(e.h, http.MethodHead, open, browser)
	require.Equal(t, "43", res.Header.Get("Content-Length"))
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(res.Body)
	require.Zero(t, b.Len())
	// The recipient opens it twice after the scanners.
	require.Equal(t, http.StatusOK, get(e.h, http.MethodGet, open, browser).StatusCode)
	require.Equal(t, http.StatusOK, get(e.h, http.MethodGet, open, browser).StatusCode)
	// A scanner follows the click link: redirected too, marked.
	res = get(e.h, http.MethodHead, click, "Mozilla/5.0 Proofpoint URL Defense")
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, longURL, res.Header.Get("Location"))
	closeHandler(t, e.h)

	var human, pre, firstHuman int
	for _, ev := range e.tracked(t, sent[0].ID, notify.StatusOpened) {
		d, err := track.ParseDetail(ev.Reason)
		require.NoError(t, err)
		if d.Prefetch {
			pre += d.Hits
			continue
		}
		human += d.Hits
		if !d.Repeat {
			firstHuman++
			require.Empty(t, d.URL)
			require.Contains(t, []string{"", "hits=2"}, ev.Reason, "a first open is recorded as SES records one (the second may join it)")
		}
	}
	require.Equal(t, 5, pre)
	require.Equal(t, 2, human)
	require.Equal(t, 1, firstHuman, "the prefetches do not make the recipient's first open a repeat")
	clicks := e.tracked(t, sent[0].ID, notify.StatusClicked)
	require.Len(t, clicks, 1)
	require.Equal(t, "prefetch "+longURL, clicks[0].Reason)
	require.Equal(t, int64(6), e.h.Stats().Prefetches)
}

func serve(h http.Handler, req *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestSESEventsBeside(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	_, sent := e.send(t, longURL, notify.Address{Channel: notify.ChannelEmail, Value: "ana@example.com"})
	id := sent[0].ID
	ctx := context.Background()
	// What email.EventHandler reports for SES's own Open and Click events.
	at := time.Now().Add(-time.Minute).UTC()
	require.NoError(t, e.d.Feedback(ctx, notify.Feedback{DeliveryID: id, Engagement: notify.StatusOpened, At: at}))
	require.NoError(t, e.d.Feedback(ctx, notify.Feedback{DeliveryID: id, Engagement: notify.StatusClicked, At: at, Detail: longURL}))
	ls := links(sent[0].Message.HTML)
	require.Equal(t, http.StatusFound, get(e.h, http.MethodGet, ls[0], browser).StatusCode)
	require.Equal(t, http.StatusOK, get(e.h, http.MethodGet, ls[2], browser).StatusCode)
	closeHandler(t, e.h)
	clicks := e.tracked(t, id, notify.StatusClicked)
	opens := e.tracked(t, id, notify.StatusOpened)
	require.Len(t, clicks, 2, "SES's click and this package's are both kept")
	require.Len(t, opens, 2)
	total, _ := hits(t, clicks)
	require.Equal(t, 2, total, "and read alike")
}

func TestMethodsAndPaths(t *testing.T) {
	s := newSigner(t, keyA)
	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: &notifytest.FeedbackRecorder{}, Logger: quiet()})
	require.NoError(t, err)
	defer closeHandler(t, h)
	link := mustLink(t, s, "0190a6d2-7c3e-7abc-8def-0123456789ab")
	res := get(h, http.MethodPost, link, browser)
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
	require.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
	require.Equal(t, http.StatusNotFound, get(h, http.MethodGet, base+"/", browser).StatusCode)
	require.Equal(t, http.StatusNotFound, get(h, http.MethodGet, base+"/x/c/abc", browser).StatusCode)
	require.Equal(t, http.StatusFound, get(h, http.MethodHead, link, browser).StatusCode)
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]track.Config{
		"no base":       {Keys: [][]byte{keyA}},
		"relative base": {BaseURL: "/t", Keys: [][]byte{keyA}},
		"ftp base":      {BaseURL: "ftp://t.example.com", Keys: [][]byte{keyA}},
		"query":         {BaseURL: "https://t.example.com/?a=b", Keys: [][]byte{keyA}},
		"escape":        {BaseURL: "https://t.example.com/a%20b", Keys: [][]byte{keyA}},
		"upper scheme":  {BaseURL: "HTTPS://t.example.com", Keys: [][]byte{keyA}},
		"no keys":       {BaseURL: base},
		"short key":     {BaseURL: base, Keys: [][]byte{[]byte("short")}},
		"too many keys": {BaseURL: base, Keys: [][]byte{keyA, keyA, keyA, keyA, keyA, keyA, keyA, keyA, keyA}},
	} {
		_, err := track.New(cfg)
		require.Error(t, err, name)
	}
	s, err := track.New(track.Config{BaseURL: base + "/mail/", Keys: [][]byte{keyA}})
	require.NoError(t, err)
	require.Equal(t, base+"/mail", s.BaseURL())

	for name, cfg := range map[string]track.HandlerConfig{
		"no signer":      {Recorder: &notifytest.FeedbackRecorder{}},
		"no recorder":    {Signer: s},
		"negative":       {Signer: s, Recorder: &notifytest.FeedbackRecorder{}, MaxPending: -1},
		"negative delay": {Signer: s, Recorder: &notifytest.FeedbackRecorder{}, Coalesce: -1},
		"max below base": {Signer: s, Recorder: &notifytest.FeedbackRecorder{}, RetryBase: time.Second, RetryMax: time.Millisecond},
	} {
		_, err := track.NewHandler(cfg)
		require.Error(t, err, name)
	}
}

func TestClickTargets(t *testing.T) {
	s := newSigner(t, keyA)
	for _, bad := range []string{
		"javascript:alert(1)", "/relative", "shop.example.com", "https://", "mailto:a@example.com",
		"https://user:pw@shop.example.com/", "https://shop.example.com/\n", "https://shop.example.com/" + strings.Repeat("a", track.MaxTargetBytes),
	} {
		_, err := s.Click(bad)
		require.Error(t, err, bad)
	}
	m, err := s.Click("https://shop.example.com/a b?q=1#frag")
	require.NoError(t, err)
	const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
	l := s.Resolve(id, m)
	require.Len(t, l, len(m), "a marker is as long as its link")
	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: &notifytest.FeedbackRecorder{}, Logger: quiet()})
	require.NoError(t, err)
	defer closeHandler(t, h)
	require.Equal(t, "https://shop.example.com/a%20b?q=1#frag", get(h, http.MethodGet, l, browser).Header.Get("Location"))
	http1, err := s.ClickLink(id, "http://shop.example.com/")
	require.NoError(t, err)
	require.Equal(t, "http://shop.example.com/", get(h, http.MethodGet, http1, browser).Header.Get("Location"))
	// Delivery IDs other than the Dispatcher's UUIDs work too.
	other, err := s.ClickLink("delivery-42", "https://shop.example.com/")
	require.NoError(t, err)
	require.Equal(t, http.StatusFound, get(h, http.MethodGet, other, browser).StatusCode)
	_, err = s.ClickLink(strings.Repeat("x", 65), "https://shop.example.com/")
	require.Error(t, err)
}

func TestTemplateWithBadURLFailsTheSend(t *testing.T) {
	e := newEnv(t, track.HandlerConfig{})
	_, err := e.d.Send(context.Background(), notify.Notification{
		To:       []notify.Address{{Channel: notify.ChannelSMS, Value: "+15005550006"}},
		Template: "order", Data: map[string]any{"id": "1", "url": "javascript:alert(1)"},
	})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, notify.ErrNotQueued)
}

func TestWrapKeepsBatchSender(t *testing.T) {
	s := newSigner(t, keyA)
	plain := notifytest.NewChannel("push")
	w := s.Wrap(plain)
	_, batches := w.(notify.BatchSender)
	require.False(t, batches)
	require.NoError(t, w.(notify.Validator).Validate(&notify.Delivery{ID: "x"}), "no Validator underneath: nothing to check")

	bc := notifytest.NewChannel("push").Batching()
	wb := s.Wrap(bc)
	bs, ok := wb.(notify.BatchSender)
	require.True(t, ok)
	m, err := s.Click("https://shop.example.com/")
	require.NoError(t, err)
	ds := []*notify.Delivery{
		{ID: "0190a6d2-7c3e-7abc-8def-000000000001", Message: notify.Message{Data: map[string]string{"url": m, "k": "v"}}},
		{ID: "0190a6d2-7c3e-7abc-8def-000000000002", Message: notify.Message{Title: m}},
	}
	_, errs := bs.SendBatch(context.Background(), ds)
	require.Equal(t, []error{nil, nil}, errs)
	got := bc.Sent()
	want := func(id string) string {
		l, err := s.ClickLink(id, "https://shop.example.com/")
		require.NoError(t, err)
		return l
	}
	require.Equal(t, want(ds[0].ID), got[0].Message.Data["url"])
	require.Equal(t, "v", got[0].Message.Data["k"])
	require.Equal(t, want(ds[1].ID), got[1].Message.Title)
	require.Equal(t, m, ds[0].Message.Data["url"], "the shared message is not changed")
	require.Equal(t, "push", wb.Name())
}

// normalizingChannel is a channel whose AddressNormalizer lower-cases
// addresses and refuses empty ones.
type normalizingChannel struct{ *notifytest.Channel }

func (normalizingChannel) NormalizeAddress(a string) (string, error) {
	if a == "" {
		return "", errors.New("empty")
	}
	return strings.ToLower(a), nil
}

// TestWrapKeepsAddressNormalizer: wrapping a channel keeps its normal form
// of addresses (what PutContact stores and Send sends to), and a channel
// without one is not given one that changes anything.
func TestWrapKeepsAddressNormalizer(t *testing.T) {
	s := newSigner(t, keyA)
	w := s.Wrap(normalizingChannel{notifytest.NewChannel("email")})
	n, ok := notify.As[notify.AddressNormalizer](w)
	require.True(t, ok)
	got, err := n.NormalizeAddress("Ann@Example.COM")
	require.NoError(t, err)
	require.Equal(t, "ann@example.com", got)
	_, err = n.NormalizeAddress("")
	require.Error(t, err)

	plain, ok := notify.As[notify.AddressNormalizer](s.Wrap(notifytest.NewChannel("email")))
	require.True(t, ok)
	got, err = plain.NormalizeAddress("Ann@Example.COM")
	require.NoError(t, err)
	require.Equal(t, "Ann@Example.COM", got, "no normalizer underneath: unchanged")
}

func TestDetail(t *testing.T) {
	for _, d := range []track.Detail{
		{Hits: 1}, {Hits: 1, URL: longURL}, {Hits: 7, Repeat: true, URL: longURL}, {Hits: 1, Prefetch: true},
		{Hits: 2, Prefetch: true, Repeat: true}, {Hits: 1, Repeat: true},
	} {
		got, err := track.ParseDetail(d.String())
		require.NoError(t, err, d.String())
		require.Equal(t, d, got)
	}
	for _, bad := range []string{"hits=1 https://x.example", "hits=02", "hits=x", "repeat prefetch", "nonsense", "https://a.example https://b.example", " ", "repeat  "} {
		_, err := track.ParseDetail(bad)
		require.Error(t, err, bad)
	}
}
