package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// The console is served only to a browser that logged in with an admin
// key; a wrong secret, a key without the admin scope, a forged or expired
// session, and a key revoked after the login are all turned away.
func TestOperatorConsoleLogin(t *testing.T) {
	q := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = q.Close() })
	d, err := notify.New(notify.Config{Queue: q, Store: smem.New(smem.Config{}), Channels: []notify.Channel{notifytest.NewChannel("sms")}})
	if err != nil {
		t.Fatal(err)
	}
	keys := notifyhttp.NewMemoryKeys()
	admin, adminSecret, err := notifyhttp.NewKey("ops", notifyhttp.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	reader, readerSecret, err := notifyhttp.NewKey("dash", notifyhttp.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []notifyhttp.Key{admin, reader} {
		if err := keys.PutKey(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	h, err := newOperatorConsole(&Config{}, d, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(consolePath+"/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(c *http.Client, path string) (int, string, http.Header) {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	login := func(c *http.Client, id, secret string) *http.Response {
		t.Helper()
		resp, err := c.PostForm(srv.URL+consolePath+"/login", url.Values{"key": {id}, "secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	c := newClient()
	if status, _, hd := get(c, consolePath+"/"); status != http.StatusSeeOther || hd.Get("Location") != consolePath+"/login" {
		t.Fatalf("before login: %d %q, want a redirect to the login", status, hd.Get("Location"))
	}
	if status, body, _ := get(c, consolePath+"/login"); status != http.StatusOK || !strings.Contains(body, `type="password"`) {
		t.Fatalf("login page: %d", status)
	}
	if status, _, _ := get(c, consolePath+"/static/console.css"); status != http.StatusOK {
		t.Fatalf("the stylesheet is public: %d", status)
	}
	for _, bad := range []struct{ id, secret string }{{admin.ID, "wrong"}, {reader.ID, readerSecret}, {"nk_unknown", adminSecret}, {"", ""}} {
		if resp := login(c, bad.id, bad.secret); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("login as %q: %d with %d cookies, want 401 and none", bad.id, resp.StatusCode, len(resp.Cookies()))
		}
	}
	resp := login(c, admin.ID, adminSecret)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("admin login: %d, %d cookies", resp.StatusCode, len(resp.Cookies()))
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != consolePath+"/" || strings.Contains(ck.Value, adminSecret) {
		t.Fatalf("session cookie %+v", ck)
	}
	if status, body, _ := get(c, consolePath+"/"); status != http.StatusOK || !strings.Contains(body, `data-channel="sms"`) {
		t.Fatalf("after login: %d", status)
	}

	// A forged session: another key ID under the same signature.
	forged := newClient()
	u, _ := url.Parse(srv.URL + consolePath + "/")
	parts := strings.Split(ck.Value, ".")
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "bmtfb3RoZXI." + parts[1] + "." + parts[2], Path: consolePath + "/"}})
	if status, _, _ := get(forged, consolePath+"/"); status != http.StatusSeeOther {
		t.Errorf("forged session: %d, want a redirect to the login", status)
	}
	// Expired: the same cookie twelve hours on.
	oc := h.(*operatorConsole)
	oc.now = func() time.Time { return time.Now().Add(sessionTTL + time.Minute) }
	if status, _, _ := get(c, consolePath+"/"); status != http.StatusSeeOther {
		t.Errorf("expired session: %d", status)
	}
	oc.now = time.Now
	// Revoked after the login: the session ends at once.
	admin.RevokedAt = time.Now().Add(-time.Second)
	if err := keys.PutKey(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(c, consolePath+"/"); status != http.StatusSeeOther {
		t.Errorf("revoked key: %d", status)
	}
	// A POST without a session is refused, not redirected.
	resp, err = newClient().PostForm(srv.URL+consolePath+"/dead/replay", url.Values{"channel": {"sms"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d", resp.StatusCode)
	}
}
