package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
	"github.com/gonotify/notify/notifyhttp"
)

// The operator console is served at consolePath behind a login with an
// admin key: its ID and one of its secrets, entered once, exchanged for a
// signed session cookie. Every request checks the key again, so revoking
// it (or dropping its admin scope) ends its sessions at once.
const (
	consolePath   = "/console"
	sessionCookie = "notifyd_console_session"
	sessionTTL    = 12 * time.Hour
	maxLoginBytes = 4 << 10
)

// operatorConsole is the console behind its login.
type operatorConsole struct {
	console *console.Handler
	keys    notifyhttp.KeyStore
	key     []byte // signs sessions
	secure  bool
	log     *slog.Logger
	now     func() time.Time
	xorigin *http.CrossOriginProtection
}

// newOperatorConsole returns the console handler for cfg, mounted at
// consolePath.
func newOperatorConsole(cfg *Config, d *notify.Dispatcher, keys notifyhttp.KeyStore, log *slog.Logger) (http.Handler, error) {
	var key []byte
	if cfg.OperatorConsoleKey != "" {
		k, err := base64.StdEncoding.DecodeString(cfg.OperatorConsoleKey)
		if err != nil || len(k) < 32 {
			return nil, errors.New("--operator-console-key: want at least 32 bytes in base64 (openssl rand -base64 32)")
		}
		key = k
	} else {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	c, err := console.New(console.Config{
		Dispatcher: d, Prefix: consolePath, ReadOnly: cfg.OperatorConsoleReadOnly,
		CSRFKey: derive(key, "csrf"), SecureCookies: cfg.OperatorConsoleSecureCookies, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &operatorConsole{
		console: c, keys: keys, key: derive(key, "session"), secure: cfg.OperatorConsoleSecureCookies,
		log: log, now: time.Now, xorigin: http.NewCrossOriginProtection(),
	}, nil
}

// derive is an HMAC-derived subkey of key for one use.
func derive(key []byte, use string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("notifyd operator console " + use))
	return m.Sum(nil)
}

func (o *operatorConsole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == consolePath+"/login":
		o.xorigin.Handler(http.HandlerFunc(o.login)).ServeHTTP(w, r)
		return
	case strings.HasPrefix(r.URL.Path, consolePath+"/static/"):
		o.console.ServeHTTP(w, r) // the stylesheet and script are not secret
		return
	}
	if _, ok := o.session(r); !ok {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, consolePath+"/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "log in to the console first: "+consolePath+"/login", http.StatusUnauthorized)
		return
	}
	o.console.ServeHTTP(w, r)
}

// session returns the key ID of r's session when its cookie is valid and
// its key is still an admin key, neither revoked nor gone.
func (o *operatorConsole) session(r *http.Request) (string, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || len(ck.Value) > 512 {
		return "", false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return "", false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, o.sign(parts[0]+"."+parts[1])) {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !o.now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	idb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", false
	}
	id := string(idb)
	k, err := o.keys.Key(r.Context(), id)
	if err != nil || k.Revoked(o.now()) || !k.Allows(notifyhttp.ScopeAdmin) {
		return "", false
	}
	return id, true
}

func (o *operatorConsole) sign(s string) []byte {
	m := hmac.New(sha256.New, o.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// checkAdmin reports whether secret is a live secret of key id, which must
// be an admin key; every secret is compared in constant time.
func (o *operatorConsole) checkAdmin(ctx context.Context, id, secret string) bool {
	k, err := o.keys.Key(ctx, id)
	if err != nil {
		return false
	}
	now := o.now()
	ok := false
	for i := range k.Secrets {
		s := &k.Secrets[i]
		if subtle.ConstantTimeCompare(s.Value, []byte(secret)) == 1 && !s.Expired(now) {
			ok = true
		}
	}
	return ok && !k.Revoked(now) && k.Allows(notifyhttp.ScopeAdmin)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · notify console</title><link rel="stylesheet" href="{{.Prefix}}/static/console.css"></head>
<body><main id="main"><h1>notify console</h1>
{{with .Error}}<div class="banner" role="alert">{{.}}</div>{{end}}
<form method="post" action="{{.Prefix}}/login" class="confirm">
<p>Log in with an API key that has the admin scope.</p>
<p><label>Key ID<br><input name="key" autocomplete="username" required maxlength="128" autofocus></label></p>
<p><label>Secret<br><input name="secret" type="password" autocomplete="current-password" required maxlength="512"></label></p>
<button type="submit">Log in</button>
</form></main></body></html>
`))

// login shows the login form (GET) or checks it (POST) and starts a
// session.
func (o *operatorConsole) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		o.loginForm(w, http.StatusOK, "")
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		o.loginForm(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	id, secret := r.PostFormValue("key"), r.PostFormValue("secret")
	if !o.checkAdmin(r.Context(), id, secret) {
		o.log.WarnContext(r.Context(), "console: failed login", slog.String("key", truncate(id, 128)), slog.String("remote", r.RemoteAddr))
		o.loginForm(w, http.StatusUnauthorized, "Unknown key, wrong secret, or not an admin key.")
		return
	}
	exp := o.now().Add(sessionTTL).Unix()
	payload := base64.RawURLEncoding.EncodeToString([]byte(id)) + "." + strconv.FormatInt(exp, 10)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: payload + "." + base64.RawURLEncoding.EncodeToString(o.sign(payload)),
		Path: consolePath + "/", MaxAge: int(sessionTTL / time.Second), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: o.secure || r.TLS != nil,
	})
	o.log.InfoContext(r.Context(), "console: login", slog.String("key", id))
	http.Redirect(w, r, consolePath+"/", http.StatusSeeOther)
}

func (o *operatorConsole) loginForm(w http.ResponseWriter, status int, msg string) {
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, struct{ Prefix, Error string }{consolePath, msg}); err != nil {
		http.Error(w, fmt.Sprintf("render the login page: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
