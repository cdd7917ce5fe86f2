package unsubscribe_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/unsubscribe"
)

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210")
)

func newSigner(t *testing.T, cfg unsubscribe.Config) *unsubscribe.Signer {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://u.example.com"
	}
	if cfg.Keys == nil {
		cfg.Keys = [][]byte{key1}
	}
	s, err := unsubscribe.New(cfg)
	require.NoError(t, err)
	return s
}

// env is a Handler in front of a Dispatcher on memory backends.
type env struct {
	s *unsubscribe.Signer
	d *notify.Dispatcher
	h http.Handler
}

func newEnv(t *testing.T, cfg unsubscribe.Config) *env {
	t.Helper()
	q := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = q.Close() })
	d, err := notify.New(notify.Config{Queue: q, Store: smem.New(smem.Config{}),
		Channels: []notify.Channel{notifytest.NewChannel(notify.ChannelEmail)}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	s := newSigner(t, cfg)
	h, err := unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: s, Preferences: d, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return &env{s: s, d: d, h: h}
}

func (e *env) do(t *testing.T, method, link, contentType string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, link, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) post(t *testing.T, link string) *httptest.ResponseRecorder {
	t.Helper()
	return e.do(t, http.MethodPost, link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
}

func (e *env) settings(t *testing.T, user string) []notify.Preference {
	t.Helper()
	ps, err := e.d.Preferences(t.Context(), user)
	require.NoError(t, err)
	return ps
}

func TestOneClickPostOptsOut(t *testing.T) {
	e := newEnv(t, unsubscribe.Config{})
	link, err := e.s.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "https://u.example.com/u/"), link)

	w := e.post(t, link)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "You are unsubscribed from marketing messages by email")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	ok, err := e.d.Allowed(t.Context(), "ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	assert.False(t, ok, "the one-click POST opted ana out")
	ok, err = e.d.Allowed(t.Context(), "ana", "news", notify.ChannelEmail)
	require.NoError(t, err)
	assert.True(t, ok, "of that category only")

	// Again: idempotent.
	assert.Equal(t, http.StatusOK, e.post(t, link).Code)
	assert.Len(t, e.settings(t, "ana"), 1)
}

func TestMultipartPostOptsOut(t *testing.T) {
	e := newEnv(t, unsubscribe.Config{})
	link, err := e.s.Link("bo", notify.AllCategories, notify.AllChannels)
	require.NoError(t, err)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("List-Unsubscribe", "One-Click"))
	require.NoError(t, mw.Close())
	w := e.do(t, http.MethodPost, link, mw.FormDataContentType(), &body)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), "unsubscribed from all messages.")
	assert.Equal(t, []notify.Preference{{Category: notify.AllCategories, Channel: notify.AllChannels}},
		clearTimes(e.settings(t, "bo")))
}

func clearTimes(ps []notify.Preference) []notify.Preference {
	for i := range ps {
		ps[i].Updated = time.Time{}
	}
	return ps
}

func TestGetChangesNothing(t *testing.T) {
	e := newEnv(t, unsubscribe.Config{})
	link, err := e.s.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		w := e.do(t, m, link, "", nil)
		assert.Equal(t, http.StatusOK, w.Code, m)
		assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		assert.Contains(t, w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
	}
	w := e.do(t, http.MethodGet, link, "", nil)
	assert.Contains(t, w.Body.String(), `<form method="post">`)
	assert.Contains(t, w.Body.String(), `name="List-Unsubscribe" value="One-Click"`)
	assert.Empty(t, e.settings(t, "ana"), "a GET stored nothing")
}

func TestRefusedLinksChangeNothing(t *testing.T) {
	e := newEnv(t, unsubscribe.Config{})
	link, err := e.s.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	other := newSigner(t, unsubscribe.Config{Keys: [][]byte{key2}})
	forged, err := other.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)

	token := link[strings.LastIndexByte(link, '/')+1:]
	flip := func(i int) string {
		b := []byte(token)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return "https://u.example.com/u/" + string(b)
	}
	for name, bad := range map[string]string{
		"altered first char":  flip(0),
		"altered middle":      flip(len(token) / 2),
		"altered signature":   flip(len(token) - 2),
		"truncated":           link[:len(link)-4],
		"extended":            link + "AAAA",
		"another key":         forged,
		"empty":               "https://u.example.com/u/",
		"not base64":          "https://u.example.com/u/" + strings.Repeat("!", 40),
		"longer than a token": "https://u.example.com/u/" + strings.Repeat("A", unsubscribe.MaxTokenChars+1),
	} {
		w := e.post(t, bad)
		assert.Equal(t, http.StatusNotFound, w.Code, name)
		assert.NotContains(t, w.Body.String(), "signature", name)
		assert.Equal(t, http.StatusNotFound, e.do(t, http.MethodGet, bad, "", nil).Code, name)
	}
	assert.Empty(t, e.settings(t, "ana"), "no refused link stored anything")
}

func TestBadPostsChangeNothing(t *testing.T) {
	e := newEnv(t, unsubscribe.Config{})
	link, err := e.s.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	form := "application/x-www-form-urlencoded"
	for name, tc := range map[string]struct {
		ct, body string
	}{
		"no body":              {form, ""},
		"another value":        {form, "List-Unsubscribe=Yes"},
		"no content type":      {"", "List-Unsubscribe=One-Click"},
		"json":                 {"application/json", `{"List-Unsubscribe":"One-Click"}`},
		"oversized":            {form, "List-Unsubscribe=One-Click&pad=" + strings.Repeat("x", unsubscribe.MaxBodyBytes)},
		"malformed media type": {"multipart/form-data; boundary", "List-Unsubscribe=One-Click"},
	} {
		w := e.do(t, http.MethodPost, link, tc.ct, strings.NewReader(tc.body))
		assert.Equal(t, http.StatusBadRequest, w.Code, name)
	}
	w := e.do(t, http.MethodPut, link, form, strings.NewReader("List-Unsubscribe=One-Click"))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "GET, HEAD, POST", w.Header().Get("Allow"))
	assert.Empty(t, e.settings(t, "ana"))
}

type failingPrefs struct{}

func (failingPrefs) SetPreference(context.Context, string, string, string, bool) error {
	return errors.New("db password=hunter2 refused")
}

func TestStoreFailureIsUnavailableWithoutDetail(t *testing.T) {
	s := newSigner(t, unsubscribe.Config{})
	h, err := unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: s, Preferences: failingPrefs{}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	link, err := s.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, link, strings.NewReader("List-Unsubscribe=One-Click"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "hunter2")
}

func TestKeyRotation(t *testing.T) {
	old := newSigner(t, unsubscribe.Config{Keys: [][]byte{key1}})
	link, err := old.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	token := link[strings.LastIndexByte(link, '/')+1:]

	rotated := newSigner(t, unsubscribe.Config{Keys: [][]byte{key2, key1}})
	l, err := rotated.Verify(token)
	require.NoError(t, err, "a link of the old key verifies while the key is listed")
	assert.Equal(t, unsubscribe.Link{UserID: "ana", Category: "marketing", Channel: notify.ChannelEmail}, l)
	fresh, err := rotated.Link("ana", "marketing", notify.ChannelEmail)
	require.NoError(t, err)
	assert.NotEqual(t, link, fresh, "the new key signs")

	dropped := newSigner(t, unsubscribe.Config{Keys: [][]byte{key2}})
	_, err = dropped.Verify(token)
	assert.Error(t, err, "a link of a removed key")
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSigner(t, unsubscribe.Config{TTL: 24 * time.Hour})
		link, err := s.Link("ana", "marketing", notify.ChannelEmail)
		require.NoError(t, err)
		token := link[strings.LastIndexByte(link, '/')+1:]
		l, err := s.Verify(token)
		require.NoError(t, err)
		assert.Equal(t, time.Now().Add(24*time.Hour).Truncate(time.Second), l.Expires)
		time.Sleep(24*time.Hour - time.Minute)
		_, err = s.Verify(token)
		require.NoError(t, err, "before it expires")
		time.Sleep(2 * time.Minute)
		_, err = s.Verify(token)
		assert.Error(t, err, "after it expires")
	})
}

func TestUnsubscribeFunc(t *testing.T) {
	s := newSigner(t, unsubscribe.Config{Categories: []string{"marketing", "news"}, TTL: time.Hour})
	created := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	d := &notify.Delivery{ID: "d1", UserID: "ana", Category: "marketing", Channel: notify.ChannelEmail, CreatedAt: created}
	targets, oneClick := s.Unsubscribe(d)
	require.Len(t, targets, 1)
	assert.True(t, oneClick)
	again, _ := s.Unsubscribe(d)
	assert.Equal(t, targets, again, "deterministic: accept time and send time write the same header")

	for name, d := range map[string]*notify.Delivery{
		"critical":           {UserID: "ana", Category: "marketing", Channel: "email", Critical: true},
		"no user":            {Category: "marketing", Channel: "email"},
		"another category":   {UserID: "ana", Category: "security", Channel: "email"},
		"user ID too long":   {UserID: strings.Repeat("u", 256), Category: "marketing", Channel: "email"},
		"nil delivery fails": nil,
	} {
		targets, oneClick := s.Unsubscribe(d)
		assert.Nil(t, targets, name)
		assert.False(t, oneClick, name)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for name, cfg := range map[string]unsubscribe.Config{
		"no base":       {Keys: [][]byte{key1}},
		"http":          {BaseURL: "http://u.example.com", Keys: [][]byte{key1}},
		"query":         {BaseURL: "https://u.example.com/?a=b", Keys: [][]byte{key1}},
		"no keys":       {BaseURL: "https://u.example.com"},
		"short key":     {BaseURL: "https://u.example.com", Keys: [][]byte{[]byte("short")}},
		"too many keys": {BaseURL: "https://u.example.com", Keys: make([][]byte, unsubscribe.MaxKeys+1)},
		"negative TTL":  {BaseURL: "https://u.example.com", Keys: [][]byte{key1}, TTL: -time.Second},
	} {
		_, err := unsubscribe.New(cfg)
		assert.Error(t, err, name)
	}
	s, err := unsubscribe.New(unsubscribe.Config{BaseURL: "http://127.0.0.1:8080/mail/", Keys: [][]byte{key1}})
	require.NoError(t, err, "http on loopback, for tests")
	link, err := s.Link("a", "b", "c")
	require.NoError(t, err)
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u.Path, "/mail/u/"), u.Path)
	_, err = s.Link("", "b", "c")
	assert.Error(t, err)
}
