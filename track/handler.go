package track

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gonotify/notify"
)

// Defaults of HandlerConfig.
const (
	DefaultWorkers       = 4
	DefaultMaxPending    = 10_000
	DefaultRemembered    = 100_000
	DefaultCoalesce      = 10 * time.Second
	DefaultRecordTimeout = 5 * time.Second
	DefaultRetryBase     = 200 * time.Millisecond
	DefaultRetryMax      = time.Minute
)

// DefaultPrefetchAgents are the User-Agent substrings (matched without
// regard to case) of link scanners, preview fetchers and crawlers whose
// requests are marked prefetch; see HandlerConfig.PrefetchAgents.
var DefaultPrefetchAgents = []string{
	"bot", "crawler", "spider", "slurp", "preview", "scanner",
	"proofpoint", "mimecast", "barracuda", "safelinks",
	"facebookexternalhit", "whatsapp",
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Signer verifies the links. Required.
	Signer *Signer
	// Recorder records the hits: the *notify.Dispatcher whose deliveries
	// carry the links. Required.
	Recorder notify.FeedbackRecorder
	// Logger receives failed and dropped records. Default slog.Default().
	Logger *slog.Logger
	// Workers is how many records are written at once. Default 4.
	Workers int
	// MaxPending bounds the records waiting to be written (one record
	// holds any number of hits of one delivery, kind and link: see
	// Handler). A hit that would need a record past it is answered as
	// usual and not recorded (Stats.Dropped). Default 10,000.
	MaxPending int
	// Remembered is how many recent (delivery, kind, link, prefetch) keys
	// the Handler remembers, to mark later records of them "repeat".
	// Default 100,000 (about 5 MB).
	Remembered int
	// Coalesce is how long the repeated hits of one key are gathered into
	// one record before it is written; a first hit is written at once.
	// Default 10s.
	Coalesce time.Duration
	// RecordTimeout bounds one write. Default 5s.
	RecordTimeout time.Duration
	// RetryBase and RetryMax shape the backoff between the tries of a
	// write that failed: RetryBase doubled per try up to RetryMax, with a
	// quarter of jitter either way. Defaults 200ms and 1m.
	RetryBase, RetryMax time.Duration
	// PrefetchAgents are User-Agent substrings (matched without regard to
	// case) whose requests are marked prefetch. nil means
	// DefaultPrefetchAgents; an empty, non-nil slice marks none by agent.
	// HEAD requests, requests without a User-Agent, and requests with a
	// Purpose, Sec-Purpose or X-Purpose header saying prefetch or preview
	// (or X-Moz: prefetch) are marked prefetch whatever this says.
	PrefetchAgents []string
}

// Handler answers tracking links: GET or HEAD on ClickPath + token
// verifies the link and redirects (302) to its target; on OpenPath +
// token it verifies the link and answers a 1x1 transparent GIF that no
// cache keeps. Mount it where Config.BaseURL points, with the base's path
// stripped (http.StripPrefix).
//
// A click link that does not verify (forged, truncated, altered, a marker,
// or signed by a key no longer configured) gets 404 and no redirect: the
// Handler redirects only to a target it signed. An open link that does not
// verify gets the GIF (so that an old email does not show a broken image)
// and records nothing. Both count in Stats.Invalid.
//
// A verified hit is answered at once and recorded in the background: the
// Handler never waits for the Recorder. Hits are gathered into records by
// (delivery, kind, link, prefetch mark): the first hit of a key is
// written at once, later ones are counted into one record written after
// Coalesce, and so on. Each record is one Recorder.Feedback call, with
// Engagement StatusClicked or StatusOpened, the time of its first hit as
// At (unique to the Handler to the microsecond), and a Detail saying how
// many hits it stands for and whether they are repeats or prefetches (see
// Detail). A write that fails is retried with backoff, again and again,
// with the same report, so that a retry of a write that did succeed
// records nothing new (notify.Dispatcher.Feedback does not record a
// report it holds). A record whose delivery the log does not hold
// (notify.ErrNotFound: pruned) is dropped.
//
// Records live in this process's memory until written: Close writes them
// and waits. What a crash, or an exit without Close, leaves unwritten is
// lost; so is what Close could not write before its context ended (each
// such record is logged at error level). See the package documentation.
type Handler struct {
	s        *Signer
	rec      *recorder
	stats    counters
	agents   []string // lower-case
	notFound []byte
}

// NewHandler checks cfg and returns a Handler, whose background writers
// run until Close.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Signer == nil {
		return nil, errors.New("track: HandlerConfig.Signer is required (track.New)")
	}
	if cfg.Recorder == nil {
		return nil, errors.New("track: HandlerConfig.Recorder is required (the *notify.Dispatcher)")
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{{"Workers", &cfg.Workers, DefaultWorkers}, {"MaxPending", &cfg.MaxPending, DefaultMaxPending}, {"Remembered", &cfg.Remembered, DefaultRemembered}} {
		switch {
		case *f.v < 0:
			return nil, errors.New("track: HandlerConfig." + f.name + " is negative")
		case *f.v == 0:
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Coalesce", &cfg.Coalesce, DefaultCoalesce}, {"RecordTimeout", &cfg.RecordTimeout, DefaultRecordTimeout},
		{"RetryBase", &cfg.RetryBase, DefaultRetryBase}, {"RetryMax", &cfg.RetryMax, DefaultRetryMax}} {
		switch {
		case *f.v < 0:
			return nil, errors.New("track: HandlerConfig." + f.name + " is negative")
		case *f.v == 0:
			*f.v = f.def
		}
	}
	if cfg.RetryMax < cfg.RetryBase {
		return nil, errors.New("track: HandlerConfig.RetryMax is less than RetryBase")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	agents := cfg.PrefetchAgents
	if agents == nil {
		agents = DefaultPrefetchAgents
	}
	h := &Handler{s: cfg.Signer, notFound: []byte("track: this link is not valid\n")}
	for _, a := range agents {
		if a != "" {
			h.agents = append(h.agents, strings.ToLower(a))
		}
	}
	h.rec = newRecorder(recorderConfig{
		fr: cfg.Recorder, log: cfg.Logger, workers: cfg.Workers, max: cfg.MaxPending, remembered: cfg.Remembered,
		coalesce: cfg.Coalesce, timeout: cfg.RecordTimeout, base: cfg.RetryBase, maxDelay: cfg.RetryMax, stats: &h.stats,
	})
	return h, nil
}

// pixel is a 1x1 transparent GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

var pixelLen = strconv.Itoa(len(pixel))

// ServeHTTP answers a click or open link; see Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "track: method not allowed; use GET", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	var kind byte
	switch {
	case len(path) > len(ClickPath)+maxTokenChars:
	case strings.HasPrefix(path, ClickPath):
		kind = kindClick
	case strings.HasPrefix(path, OpenPath):
		kind = kindOpen
	}
	var l link
	err := errLink
	if kind != 0 {
		l, err = h.s.verify(kind, path[len(ClickPath):])
	}
	if err != nil {
		h.stats.invalid.Add(1)
		if kind == kindOpen {
			h.writePixel(w, r)
			return
		}
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["X-Content-Type-Options"] = []string{"nosniff"}
		hd["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusNotFound)
		if r.Method == http.MethodGet {
			_, _ = w.Write(h.notFound)
		}
		return
	}
	prefetch := h.prefetch(r)
	if prefetch {
		h.stats.prefetches.Add(1)
	}
	k := recKey{delivery: l.deliveryID, url: l.target, prefetch: prefetch, kind: notify.StatusClicked}
	if kind == kindOpen {
		k.kind = notify.StatusOpened
		h.stats.opens.Add(1)
	} else {
		h.stats.clicks.Add(1)
	}
	h.rec.hit(k, time.Now())
	if kind == kindOpen {
		h.writePixel(w, r)
		return
	}
	hd := w.Header()
	hd["Location"] = []string{l.target}
	hd["Cache-Control"] = []string{"no-store"}
	hd["Referrer-Policy"] = []string{"no-referrer"}
	w.WriteHeader(http.StatusFound)
}

func (h *Handler) writePixel(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd["Content-Type"] = []string{"image/gif"}
	hd["Content-Length"] = []string{pixelLen}
	hd["Cache-Control"] = []string{"no-store, no-cache, must-revalidate, max-age=0"}
	hd["Pragma"] = []string{"no-cache"}
	hd["Expires"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(pixel)
	}
}

// prefetch reports whether r is marked prefetch: see
// HandlerConfig.PrefetchAgents.
func (h *Handler) prefetch(r *http.Request) bool {
	if r.Method == http.MethodHead {
		return true
	}
	hd := r.Header
	for _, name := range [...]string{"Purpose", "Sec-Purpose", "X-Purpose", "X-Moz"} {
		if v := hd.Get(name); v != "" && (containsFold(v, "prefetch") || containsFold(v, "preview")) {
			return true
		}
	}
	ua := hd.Get("User-Agent")
	if ua == "" {
		return true
	}
	for _, a := range h.agents {
		if containsFold(ua, a) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains lower, a lower-case ASCII
// string, without regard to ASCII case.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// Close stops recording hits (later ones are answered and counted as
// dropped), writes every record still held at once (a repeat's Coalesce
// wait ends; a failed write's backoff does not) and waits for them until
// ctx ends. It returns nil when every record was written or dropped as
// unknown to the log; otherwise it stops the writes in flight, logs each
// record left at error level, and returns an error counting them: those
// hits are lost. Call it on shutdown, after the HTTP server has stopped
// taking requests (http.Server.Shutdown), with a context that gives the
// store time to answer. Later calls return what the first returned.
func (h *Handler) Close(ctx context.Context) error {
	return h.rec.close(ctx)
}

// Stats counts what a Handler did since it was built.
type Stats struct {
	// Clicks and Opens are the verified requests answered, prefetches
	// included; Prefetches how many of them were marked prefetch.
	Clicks, Opens, Prefetches int64
	// Invalid counts requests whose path or link did not verify.
	Invalid int64
	// Written counts records written, WrittenHits the hits they hold.
	Written, WrittenHits int64
	// Retries counts writes that failed and were tried again later.
	Retries int64
	// Gone counts records dropped because the log does not hold their
	// delivery (or refused them as invalid).
	Gone int64
	// Dropped counts hits not recorded: the Handler was closed, or
	// MaxPending records were waiting.
	Dropped int64
	// Pending is the number of records waiting to be written now.
	Pending int
}

// Stats returns the Handler's counts.
func (h *Handler) Stats() Stats {
	return Stats{
		Clicks: h.stats.clicks.Load(), Opens: h.stats.opens.Load(), Prefetches: h.stats.prefetches.Load(),
		Invalid: h.stats.invalid.Load(), Written: h.stats.written.Load(), WrittenHits: h.stats.writtenHits.Load(),
		Retries: h.stats.retries.Load(), Gone: h.stats.gone.Load(), Dropped: h.stats.dropped.Load(),
		Pending: h.rec.pending(),
	}
}
