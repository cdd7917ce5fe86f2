package console

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gonotify/notify"
)

// Config configures the console.
type Config struct {
	// Dispatcher answers every page. Required.
	Dispatcher *notify.Dispatcher
	// Prefix is the path the handler is mounted at, without a trailing
	// slash ("/console"); every link and form starts with it. Empty: the
	// root. The handler expects the full path (do not strip the prefix).
	Prefix string
	// ReadOnly hides the replay buttons and refuses every POST.
	ReadOnly bool
	// CSRFKey keys the HMAC of the CSRF tokens, at least 32 bytes. Empty:
	// a random key made by New, which is enough for one process; give every
	// instance behind one load balancer the same key.
	CSRFKey []byte
	// SecureCookies marks the CSRF cookie Secure even on plain HTTP
	// requests: set it when TLS ends at a proxy in front. Requests that
	// arrive over TLS always get a Secure cookie.
	SecureCookies bool
	// RefreshInterval is how often the queues page refreshes its counts;
	// default 5 s.
	RefreshInterval time.Duration
	// ChartMaxAge is how long the queues page reuses its last-hour chart
	// (twelve Report calls) before computing it again; default 30 s,
	// negative: never reuse.
	ChartMaxAge time.Duration
	// Logger logs backend failures the pages show as banners; default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultRefreshInterval = 5 * time.Second
	DefaultChartMaxAge     = 30 * time.Second
)

// maxFormBytes bounds a POST body.
const maxFormBytes = 64 << 10

// Handler serves the console. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	d      *notify.Dispatcher
	log    *slog.Logger
	pages  *pages
	csrf   csrf
	chart  chartCache
	routes http.Handler
	now    func() time.Time
}

// New returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Dispatcher == nil {
		return nil, errors.New("console: Config.Dispatcher is required")
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasPrefix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("console: Config.Prefix %q must start with /", cfg.Prefix)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.ChartMaxAge == 0 {
		cfg.ChartMaxAge = DefaultChartMaxAge
	}
	key := cfg.CSRFKey
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	case len(key) < 32:
		return nil, errors.New("console: Config.CSRFKey is shorter than 32 bytes")
	default:
		key = bytes.Clone(key)
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, d: cfg.Dispatcher, log: cfg.Logger, pages: p, now: time.Now}
	h.csrf = csrf{key: key, path: cfg.Prefix + "/", secure: cfg.SecureCookies}
	mux := http.NewServeMux()
	pre := cfg.Prefix
	mux.HandleFunc("GET "+pre+"/{$}", h.queues)
	mux.HandleFunc("GET "+pre+"/queues/live", h.queuesLive)
	mux.HandleFunc("GET "+pre+"/dead", h.deadList)
	mux.HandleFunc("GET "+pre+"/dead/item", h.deadItem)
	mux.HandleFunc("GET "+pre+"/dead/replay", h.replayConfirm)
	mux.HandleFunc("POST "+pre+"/dead/replay", h.replay)
	mux.HandleFunc("GET "+pre+"/find", h.find)
	mux.HandleFunc("GET "+pre+"/delivery", h.delivery)
	mux.HandleFunc("GET "+pre+"/engagement", h.engagement)
	mux.HandleFunc("GET "+pre+"/static/{name}", h.static)
	mux.HandleFunc(pre+"/", h.notFound)
	h.routes = http.NewCrossOriginProtection().Handler(mux)
	return h, nil
}

// ServeHTTP serves the console's pages.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	h.routes.ServeHTTP(w, r)
}

// banner is an error shown at the top of a page.
type banner struct {
	Title, Detail string
}

// view is what every page's layout reads.
type view struct {
	Title    string
	Nav      string
	Prefix   string
	CSRF     string
	ReadOnly bool
	Banners  []banner
	Notice   string
	CSS, JS  string
	Refresh  int // milliseconds; the queues page only
	Data     any
}

// newView starts a page's view, with its CSRF token (setting the cookie
// when the browser has none).
func (h *Handler) newView(w http.ResponseWriter, r *http.Request, nav, title string) *view {
	return &view{
		Title: title, Nav: nav, Prefix: h.cfg.Prefix, ReadOnly: h.cfg.ReadOnly,
		CSRF: h.csrf.token(w, r), CSS: h.pages.cssURL(h.cfg.Prefix), JS: h.pages.jsURL(h.cfg.Prefix),
	}
}

// fail adds a banner for err and returns the status the page should carry:
// 400 for bad input, 404 for something unknown, 409 for a conflict, 501 for
// a backend that lacks the capability, 503 for a backend that failed.
func (h *Handler) fail(r *http.Request, v *view, what string, err error) int {
	var ve *notify.ValidationError
	switch {
	case errors.As(err, &ve):
		v.Banners = append(v.Banners, banner{what, ve.Field + ": " + ve.Reason})
		return http.StatusBadRequest
	case errors.Is(err, notify.ErrNotFound):
		v.Banners = append(v.Banners, banner{what, "not found"})
		return http.StatusNotFound
	case errors.Is(err, notify.ErrNotDead):
		v.Banners = append(v.Banners, banner{what, "the delivery is not dead (replayed already?)"})
		return http.StatusConflict
	case errors.Is(err, errors.ErrUnsupported):
		v.Banners = append(v.Banners, banner{what, "the backend cannot do this: " + scrub(err.Error())})
		return http.StatusNotImplemented
	}
	h.log.ErrorContext(r.Context(), "console: backend failed", slog.String("page", v.Nav), slog.String("what", what), slog.Any("error", err))
	v.Banners = append(v.Banners, banner{what, "the backend did not answer: " + scrub(err.Error())})
	return http.StatusServiceUnavailable
}

// badInput adds a banner for a malformed field of the request.
func badInput(v *view, field, reason string) int {
	v.Banners = append(v.Banners, banner{"Bad input", field + ": " + reason})
	return http.StatusBadRequest
}

// credentialsInURL matches the user information of a URL in an error
// message (a database URL with its password).
var credentialsInURL = regexp.MustCompile(`://[^/\s@]+@`)

// scrub removes credentials from an error message shown on a page, and
// bounds its length.
func scrub(s string) string {
	s = credentialsInURL.ReplaceAllString(s, "://[redacted]@")
	s = redactLinks(s)
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// render writes page name with status.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := h.pages.execute(&buf, name, v); err != nil {
		h.log.ErrorContext(r.Context(), "console: render", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "console: the page could not be rendered; see the server log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "", "Not found")
	v.Banners = append(v.Banners, banner{"Not found", "no console page at this address"})
	h.render(w, r, http.StatusNotFound, "notfound", v)
}
