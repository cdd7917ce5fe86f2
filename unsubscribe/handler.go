package unsubscribe

import (
	"context"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
)

// MaxBodyBytes bounds the body of a POST the Handler reads.
const MaxBodyBytes = 4 << 10

// Preferences is what the Handler needs to opt a user out;
// *notify.Dispatcher has it.
type Preferences interface {
	SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Signer verifies the links. Required.
	Signer *Signer
	// Preferences stores the opt-outs (a *notify.Dispatcher). Required.
	Preferences Preferences
	// Timeout bounds the SetPreference call of one request. Default 5s.
	Timeout time.Duration
	// Logger receives errors of SetPreference (never a link or a key).
	// Default slog.Default().
	Logger *slog.Logger
}

// Handler serves links: a POST with the one-click body opts the link's
// user out, a GET or HEAD shows a page with a button that makes that
// POST and changes nothing. A link that does not verify gets 404, an
// unknown method 405, a POST without the one-click body 400. Mount it at
// Path. It is safe for concurrent use.
type Handler struct {
	cfg HandlerConfig
	log *slog.Logger
}

// NewHandler checks cfg and returns a Handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Signer == nil {
		return nil, errors.New("unsubscribe: HandlerConfig.Signer is required")
	}
	if cfg.Preferences == nil {
		return nil, errors.New("unsubscribe: HandlerConfig.Preferences is required (the *notify.Dispatcher)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>Unsubscribe</title></head>
<body>{{if .Done}}<p>You are unsubscribed from {{.Category}} messages{{.On}}.</p>
{{else}}<p>Unsubscribe from {{.Category}} messages{{.On}}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{{end}}</body></html>
`))

type pageData struct {
	Done     bool
	Category string
	On       string
}

func pageFor(l Link, done bool) pageData {
	d := pageData{Done: done, Category: l.Category, On: " by " + l.Channel}
	if l.Category == "*" {
		d.Category = "all"
	}
	if l.Channel == "*" {
		d.On = ""
	}
	return d
}

// ServeHTTP serves one link.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		hd.Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.EscapedPath()
	token := path[strings.LastIndexByte(path, '/')+1:]
	l, err := h.cfg.Signer.Verify(token)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		h.page(w, r, l, false)
		return
	}
	if !oneClick(w, r) {
		http.Error(w, `want the body "List-Unsubscribe=One-Click" (RFC 8058)`, http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	if err := h.cfg.Preferences.SetPreference(ctx, l.UserID, l.Category, l.Channel, false); err != nil {
		h.log.ErrorContext(r.Context(), "unsubscribe: store the opt-out", slog.String("category", l.Category),
			slog.String("channel", l.Channel), slog.Any("error", err))
		http.Error(w, "the opt-out could not be stored; try again later", http.StatusServiceUnavailable)
		return
	}
	h.page(w, r, l, true)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request, l Link, done bool) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_ = page.Execute(w, pageFor(l, done))
}

// oneClick reports whether r's body, read up to MaxBodyBytes, is a form
// (urlencoded or multipart, as RFC 8058 allows) with
// List-Unsubscribe=One-Click.
func oneClick(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	defer func() { _, _ = io.Copy(io.Discard, r.Body) }() // drain what is left, bounded
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch ct {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(MaxBodyBytes)
	default:
		return false
	}
	if err != nil {
		return false
	}
	return r.PostForm.Get("List-Unsubscribe") == "One-Click"
}
