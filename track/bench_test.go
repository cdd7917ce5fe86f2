package track_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/track"
)

// fakeStore is a FeedbackRecorder that takes delay per report.
type fakeStore struct {
	delay time.Duration
	n     atomic.Int64
}

func (f *fakeStore) Feedback(ctx context.Context, _ notify.Feedback) error {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.n.Add(1)
	return nil
}

// discard is a minimal ResponseWriter, reused.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// BenchmarkHandler measures the handler alone (no network), called from
// GOMAXPROCS goroutines: requests per second and the latency of one
// request, with a store that answers at once and one that takes 50ms per
// write (recording is in the background, so the latency should not move).
func BenchmarkHandler(b *testing.B) {
	s := newSigner(b, keyA, keyB)
	const nLinks = 1000
	clicks := make([]string, nLinks)
	opens := make([]string, nLinks)
	for i := range clicks {
		id := fmt.Sprintf("0190a6d2-7c3e-7abc-8def-%012d", i)
		clicks[i], _ = s.ClickLink(id, longURL)
		opens[i], _ = s.OpenLink(id)
	}
	forged := clicks[0][:len(clicks[0])-2] + "AA"
	for _, c := range []struct {
		name  string
		links []string
		delay time.Duration
		code  int
	}{
		{"click/one-link/fast-store", clicks[:1], 0, http.StatusFound},
		{"click/1000-links/fast-store", clicks, 0, http.StatusFound},
		{"click/one-link/slow-store", clicks[:1], 50 * time.Millisecond, http.StatusFound},
		{"click/1000-links/slow-store", clicks, 50 * time.Millisecond, http.StatusFound},
		{"open/1000-links/fast-store", opens, 0, http.StatusOK},
		{"forged", []string{forged}, 0, http.StatusNotFound},
	} {
		b.Run(c.name, func(b *testing.B) {
			fs := &fakeStore{delay: c.delay}
			h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: fs, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]*http.Request, len(c.links))
			for i, l := range c.links {
				reqs[i] = httptest.NewRequest(http.MethodGet, l, nil)
				reqs[i].Header.Set("User-Agent", browser)
			}
			var (
				mu   sync.Mutex
				lats []time.Duration
				next atomic.Int64
			)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &discard{h: http.Header{}}
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					r := reqs[int(next.Add(1))%len(reqs)]
					clear(w.h)
					t0 := time.Now()
					h.ServeHTTP(w, r)
					local = append(local, time.Since(t0))
					if w.code != c.code {
						b.Errorf("got %d, want %d", w.code, c.code)
						return
					}
				}
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			slices.Sort(lats)
			if len(lats) > 0 {
				b.ReportMetric(float64(lats[len(lats)/2]), "p50-ns")
				b.ReportMetric(float64(lats[len(lats)*99/100]), "p99-ns")
			}
			st := h.Stats()
			b.ReportMetric(float64(st.Dropped), "dropped")
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = h.Close(ctx) // with the slow store some records are still waiting: not measured
		})
	}
}

// BenchmarkHandlerHTTP measures clicks through a loopback HTTP server and
// client (keep-alive, redirects not followed): what a host sees, network
// stack included.
func BenchmarkHandlerHTTP(b *testing.B) {
	s := newSigner(b, keyA)
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run(fmt.Sprintf("store-delay=%s", delay), func(b *testing.B) {
			h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: &fakeStore{delay: delay}, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			link, _ := s.ClickLink("0190a6d2-7c3e-7abc-8def-0123456789ab", longURL)
			url := srv.URL + link[len(base):]
			client := &http.Client{
				Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_ = res.Body.Close()
					if res.StatusCode != http.StatusFound {
						b.Errorf("got %d", res.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = h.Close(ctx)
		})
	}
}

// BenchmarkResolve measures what Wrap adds to a delivery, at accept time
// and again at send time: the scan of a message for markers, and their
// resolution.
func BenchmarkResolve(b *testing.B) {
	s := newSigner(b, keyA)
	click, _ := s.Click(longURL)
	help, _ := s.Click("https://shop.example.com/help")
	html := `<html><body><p>Hi Ana,</p><p>Your order A-1017 shipped. <a href="` + click + `">Track it</a>.</p>` +
		`<p>Questions? <a href="` + help + `">Get help</a>.</p>` + string(s.Pixel()) + `</body></html>`
	plain := `<html><body><p>Hi Ana,</p><p>Your order A-1017 shipped.</p></body></html>`
	const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
	for _, c := range []struct{ name, text string }{{"email-3-markers", html}, {"no-marker", plain}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Resolve(id, c.text)
			}
		})
	}
}
