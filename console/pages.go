package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css static/console.js
var staticFS embed.FS

// pageNames are the templates under templates/, each executed with the
// layout.
var pageNames = []string{"queues", "live", "dead", "deaditem", "confirm", "find", "delivery", "engagement", "notfound"}

// asset is one embedded static file.
type asset struct {
	body    []byte
	ctype   string
	version string // a hash of body, for cache busting
}

type pages struct {
	t      map[string]*template.Template
	assets map[string]asset
}

func loadPages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}, assets: map[string]asset{}}
	for _, name := range pageNames {
		files := []string{"templates/layout.html", "templates/parts.html", "templates/" + name + ".html"}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, files...)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", name, err)
		}
		p.t[name] = t
	}
	for name, ctype := range map[string]string{"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"} {
		b, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			return nil, fmt.Errorf("console: read %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		p.assets[name] = asset{body: b, ctype: ctype, version: hex.EncodeToString(sum[:6])}
	}
	return p, nil
}

// execute runs page name: the layout around it, or the bare fragment for
// "live".
func (p *pages) execute(w io.Writer, name string, v *view) error {
	t, ok := p.t[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	root := "layout"
	if name == "live" {
		root = "live"
	}
	return t.ExecuteTemplate(w, root, v)
}

func (p *pages) cssURL(prefix string) string {
	return prefix + "/static/console.css?v=" + p.assets["console.css"].version
}

func (p *pages) jsURL(prefix string) string {
	return prefix + "/static/console.js?v=" + p.assets["console.js"].version
}

// static serves the embedded stylesheet and script; their URLs carry a
// hash of the content, so they may be cached for good.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	a, ok := h.pages.assets[r.PathValue("name")]
	if !ok {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+a.version+`"`)
	if r.Header.Get("If-None-Match") == `"`+a.version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(a.body)
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"age":     age,
	"num":     num,
	"pct":     func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + " %" },
	"mask":    maskAddress,
	"redact":  redactLinks,
	"qs":      func(pairs ...string) string { return query(pairs...) },
	"statusc": statusClass,
	"f":       f,
	"secs":    func(ms int) string { return strconv.FormatFloat(float64(ms)/1000, 'g', -1, 64) },
	"rows": func(v *view, rows []recordRow) any {
		return struct {
			Prefix string
			Rows   []recordRow
		}{v.Prefix, rows}
	},
}

// age writes a duration for people: "—" for none, "42 s", "3 min 5 s",
// "2 h 10 min".
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
}

// num writes n with separators of thousands: 1,234,567.
func num(n int) string {
	s := strconv.Itoa(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return neg + string(out)
}

// query builds a query string from name, value pairs, leaving out empty
// values.
func query(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Add(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// statusClass is the CSS class of a delivery status: ok, bad or wait.
func statusClass(s string) string {
	switch s {
	case "sent", "delivered", "opened", "clicked", "converted":
		return "ok"
	case "failed", "dead", "invalid_recipient", "opted_out", "undelivered", "expired", "config_error", "complained":
		return "bad"
	}
	return "wait"
}
