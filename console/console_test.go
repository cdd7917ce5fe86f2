package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
)

// The queues page shows each channel's counts as Stats reads them, and the
// last hour's chart as Report counts it.
func TestQueuesPage(t *testing.T) {
	e := newEnv(t, console.Config{})
	status, body := e.get(prefix + "/")
	require.Equal(t, http.StatusOK, status, body)
	st, err := e.d.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, 3, st[notify.ChannelSMS].Dead)
	for ch, s := range st {
		row := regexp.MustCompile(`(?s)<tr data-channel="` + ch + `">.*?</tr>`).FindString(body)
		require.NotEmpty(t, row, ch)
		for _, n := range []int{s.Ready, s.Delayed, s.InFlight, s.Dead} {
			assert.Contains(t, row, `data-n="`+strconv.Itoa(n)+`"`, ch)
		}
	}
	assert.Contains(t, body, `href="/console/dead?channel=sms">3</a>`, "dead count links to the dead letters")
	assert.Contains(t, body, `data-channel="email" data-queued="3" data-sent="3" data-failed="0"`)
	assert.Contains(t, body, `data-channel="sms" data-queued="3" data-sent="0" data-failed="3"`)
	assert.Contains(t, body, `<script src="/console/static/console.js?v=`)

	status, live := e.get(prefix + "/queues/live")
	require.Equal(t, http.StatusOK, status)
	assert.True(t, strings.HasPrefix(live, `<div id="live"`), "a bare fragment, no layout: %.80s", live)
	assert.NotContains(t, live, "<html")
}

// Every page sends headers that forbid framing, sniffing and any script or
// style not its own.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, console.Config{})
	resp, err := e.client.Get(e.srv.URL + prefix + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "notify_console_csrf" {
			ck = c
		}
	}
	require.NotNil(t, ck)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.False(t, ck.Secure, "plain HTTP without SecureCookies")
	assert.Equal(t, "/console/", ck.Path)

	for _, a := range []string{"console.css", "console.js"} {
		resp, err := e.client.Get(e.srv.URL + prefix + "/static/" + a)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, a)
		assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	}
	status, _ := e.get(prefix + "/static/other.js")
	assert.Equal(t, http.StatusNotFound, status)
	status, body := e.get(prefix + "/nothing-here")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, body, "no console page at this address")
}

// Over TLS, and with SecureCookies, the cookie is Secure.
func TestSecureCookie(t *testing.T) {
	e := newEnv(t, console.Config{SecureCookies: true})
	resp, err := e.client.Get(e.srv.URL + prefix + "/dead")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, resp.Cookies())
	assert.True(t, resp.Cookies()[0].Secure)
}

// The dead-letter list shows a channel's dead deliveries with reason and
// attempts, reasons' secrets redacted.
func TestDeadList(t *testing.T) {
	e := newEnv(t, console.Config{})
	status, body := e.get(prefix + "/dead")
	require.Equal(t, http.StatusOK, status, body)
	ids := e.deadIDs()
	require.Len(t, ids, 3)
	for _, id := range ids {
		assert.Contains(t, body, `data-id="`+id+`"`)
	}
	assert.Contains(t, body, `<option value="sms" selected>sms (3)</option>`, "the first channel with dead deliveries")
	assert.Contains(t, body, "token=[redacted]")
	assert.NotContains(t, body, "abc123secret")
	assert.Contains(t, body, `<td class="r">2</td>`, "attempts")

	status, body = e.get(prefix + "/dead?channel=email")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "No dead deliveries on email match.")

	status, body = e.get(prefix + "/dead?channel=sms&reason=nomatch")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "No dead deliveries on sms match.")
}

// Malformed filters and unknown IDs give the page with a banner naming
// what is wrong, and a 4xx status.
func TestBadInput(t *testing.T) {
	e := newEnv(t, console.Config{})
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/dead?channel=pigeon", 400, "channel: no channel named &#34;pigeon&#34;"},
		{"/dead?channel=sms&since=yesterday", 400, "since: &#34;yesterday&#34; is not a date"},
		{"/dead?channel=sms&since=2026-02-01&until=2026-01-01", 400, "until: must be after since"},
		{"/dead?channel=sms&cursor=garbage", 400, "Cursor"},
		{"/dead?channel=sms&reason=" + strings.Repeat("x", 201), 400, "reason: longer than 200"},
		{"/dead/item?channel=sms&id=nope", 404, "no dead delivery &#34;nope&#34; on sms"},
		{"/dead/item?channel=sms", 400, "both are required"},
		{"/dead/replay?channel=sms&id=nope", 404, "no dead delivery"},
		{"/dead/replay", 400, "channel: required"},
		{"/find?kind=phone&q=x", 400, "kind: search by notification, event or user"},
		{"/find?kind=event&q=no-such-event", 404, "not found"},
		{"/find?kind=notification&q=no-such", 404, "Search:</strong> not found"},
		{"/find?kind=user&q=nobody", 200, "Nothing found for this user"},
		{"/find?kind=user&q=ana&cursor=bad", 400, "Cursor"},
		{"/delivery?n=x", 400, "a notification ID and a delivery ID are required"},
		{"/delivery?n=nope&d=nope", 404, "Delivery:</strong> not found"},
		{"/engagement?since=2026-13-01", 400, "since:"},
		{"/engagement?by=week", 400, "GroupBy[0]: &#34;week&#34; is not a dimension"},
		{"/engagement?since=2026-01-02&until=2026-01-01", 400, "Until: must be after Since"},
		{"/engagement?since=2020-01-01&until=2026-01-01", 400, "at most 400 days"},
		{"/find?q=%3Cscript%3Ealert(1)%3C/script%3E&kind=user", 200, "&lt;script&gt;alert(1)&lt;/script&gt;"},
	} {
		status, body := e.get(prefix + c.path)
		assert.Equal(t, c.status, status, c.path)
		assert.Contains(t, body, c.want, c.path)
		assert.NotContains(t, body, "<script>alert", c.path)
	}
}

// Inspecting a dead letter shows its payload with secrets redacted and
// addresses masked.
func TestDeadItemRedacted(t *testing.T) {
	e := newEnv(t, console.Config{})
	id := e.deadIDs()[0]
	status, body := e.get(prefix + "/dead/item?channel=sms&id=" + id)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, id)
	assert.Contains(t, body, "&#43;15•••••••06", "the phone number masked")
	assert.NotContains(t, body, "5005550006")
	assert.NotContains(t, body, "k-secret", "metadata api_key")
	assert.NotContains(t, body, "supersecret", "a link's token")
	assert.Contains(t, body, "token=[redacted]&amp;u=1")
	assert.Contains(t, body, "o-1", "other metadata shown")
	assert.Contains(t, body, "Hello &lt;b&gt;Ana&lt;/b&gt;", "content escaped")
	assert.Contains(t, body, "ev-", "the event ID")
}

// Replaying one dead letter goes through a confirmation page and a POST
// with the CSRF token; the delivery is then sent.
func TestReplayOne(t *testing.T) {
	e := newEnv(t, console.Config{})
	id := e.deadIDs()[0]
	status, body := e.get(prefix + "/dead/replay?channel=sms&id=" + id)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Replay the dead sms delivery")
	assert.Len(t, e.deadIDs(), 3, "the confirmation page replays nothing")
	token := csrfFrom(t, body)

	e.fixed.Store(true)
	resp, body := e.post(prefix+"/dead/replay", url.Values{"csrf": {token}, "channel": {"sms"}, "id": {id}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "/console/dead?channel=sms&replayed=1", resp.Header.Get("Location"))
	assert.Eventually(t, func() bool { return e.sms.SentCount(id) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, e.deadIDs(), 2)

	status, body = e.get(resp.Header.Get("Location"))
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Replayed 1 dead delivery.")

	// Again: it is no longer dead.
	resp, body = e.post(prefix+"/dead/replay", url.Values{"csrf": {token}, "channel": {"sms"}, "id": {id}})
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Contains(t, body, "not dead")
	resp, body = e.post(prefix+"/dead/replay", url.Values{"csrf": {token}, "channel": {"sms"}, "id": {"unknown"}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
}

// A filtered replay counts what it will replay, then replays it.
func TestReplayFiltered(t *testing.T) {
	e := newEnv(t, console.Config{})
	status, body := e.get(prefix + "/dead/replay?channel=sms&reason=twilio")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `<strong id="count">3</strong>`)
	assert.Contains(t, body, `name="reason" value="twilio"`)
	e.fixed.Store(true)
	resp, body := e.post(prefix+"/dead/replay", url.Values{"csrf": {csrfFrom(t, body)}, "channel": {"sms"}, "reason": {"twilio"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "/console/dead?channel=sms&reason=twilio&replayed=3", resp.Header.Get("Location"))
	for _, nid := range e.nids {
		for _, r := range e.settle(nid) {
			assert.Contains(t, []notify.Status{notify.StatusSent, notify.StatusOpened}, r.Status, r.DeliveryID)
		}
	}
	assert.Empty(t, e.deadIDs())
}

// A POST without the CSRF token, with another browser's, or from another
// origin replays nothing.
func TestReplayCSRF(t *testing.T) {
	e := newEnv(t, console.Config{})
	id := e.deadIDs()[0]
	_, body := e.get(prefix + "/dead/replay?channel=sms&id=" + id)
	token := csrfFrom(t, body)

	resp, body := e.post(prefix+"/dead/replay", url.Values{"channel": {"sms"}, "id": {id}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "CSRF token is missing or does not match")
	resp, _ = e.post(prefix+"/dead/replay", url.Values{"csrf": {token + "x"}, "channel": {"sms"}, "id": {id}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// The right token without the cookie it belongs to (another browser).
	other, err := http.PostForm(e.srv.URL+prefix+"/dead/replay", url.Values{"csrf": {token}, "channel": {"sms"}, "id": {id}})
	require.NoError(t, err)
	other.Body.Close()
	assert.Equal(t, http.StatusForbidden, other.StatusCode)

	// A cross-site form post, as a browser sends it.
	req, err := http.NewRequest("POST", e.srv.URL+prefix+"/dead/replay", strings.NewReader(url.Values{"csrf": {token}, "channel": {"sms"}, "id": {id}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	cross, err := e.client.Do(req)
	require.NoError(t, err)
	cross.Body.Close()
	assert.Equal(t, http.StatusForbidden, cross.StatusCode)

	// A GET never replays.
	status, _ := e.get(prefix + "/dead/replay?csrf=" + url.QueryEscape(token) + "&channel=sms&id=" + id)
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, e.deadIDs(), 3, "nothing was replayed")
}

// Read-only: no replay buttons, and POSTs are refused.
func TestReadOnly(t *testing.T) {
	e := newEnv(t, console.Config{ReadOnly: true})
	id := e.deadIDs()[0]
	status, body := e.get(prefix + "/dead")
	require.Equal(t, http.StatusOK, status)
	assert.NotContains(t, body, "/dead/replay")
	assert.Contains(t, body, "read-only")
	status, _ = e.get(prefix + "/dead/replay?channel=sms&id=" + id)
	assert.Equal(t, http.StatusForbidden, status)
	_, body = e.get(prefix + "/dead")
	resp, _ := e.post(prefix+"/dead/replay", url.Values{"csrf": {"x"}, "channel": {"sms"}, "id": {id}})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Len(t, e.deadIDs(), 3)
	_ = body
}

// Find by notification, event and user; a delivery's page shows its whole
// history.
func TestFindAndHistory(t *testing.T) {
	e := newEnv(t, console.Config{})
	recs, err := e.d.Status(t.Context(), e.nids[0])
	require.NoError(t, err)
	require.Len(t, recs, 2)

	for _, q := range []string{"kind=notification&q=" + e.nids[0], "kind=event&q=ev-1"} {
		status, body := e.get(prefix + "/find?" + q)
		require.Equal(t, http.StatusOK, status, q)
		for _, r := range recs {
			assert.Contains(t, body, "/console/delivery?d="+r.DeliveryID+"&amp;n="+r.NotificationID, q)
		}
		assert.Contains(t, body, "a•••@example.com", q)
		assert.NotContains(t, body, "ana@example.com", q)
	}
	status, body := e.get(prefix + "/find?kind=user&q=ana")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 6, strings.Count(body, `href="/console/delivery?`), "ana's six deliveries")

	var sms notify.DeliveryRecord
	for _, r := range recs {
		if r.Channel == notify.ChannelSMS {
			sms = r
		}
	}
	status, body = e.get(prefix + "/delivery?n=" + sms.NotificationID + "&d=" + sms.DeliveryID)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `id="status">dead</span>`)
	for _, ev := range sms.Events {
		assert.Contains(t, body, ">"+string(ev.Status)+"</span>")
	}
	assert.Equal(t, len(sms.Events), strings.Count(body[strings.Index(body, `id="events"`):strings.Index(body, "other deliveries")], "<tr><td>"))
	assert.Contains(t, body, "retrying")
	assert.NotContains(t, body, "abc123secret")
}

// The engagement page shows Report's rows and totals.
func TestEngagement(t *testing.T) {
	e := newEnv(t, console.Config{})
	now := time.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	rows, err := e.d.Report(t.Context(), notify.ReportQuery{Since: day.Add(-6 * 24 * time.Hour), Until: day.Add(24 * time.Hour), GroupBy: []string{notify.ByChannel, notify.ByDay}})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	status, body := e.get(prefix + "/engagement")
	require.Equal(t, http.StatusOK, status, body)
	for _, r := range rows {
		row := regexp.MustCompile(`<tr><th scope="row">` + r.Day.Format("2006-01-02") + `</th><th scope="row">` + r.Channel + `</th>.*</tr>`).FindString(body)
		require.NotEmpty(t, row, r.Channel)
		for _, n := range []int{r.Deliveries, r.Sent, r.Delivered, r.Failed, r.Opened, r.Clicked} {
			assert.Contains(t, row, `data-n="`+strconv.Itoa(n)+`"`)
		}
	}
	assert.Contains(t, body, "33.3 %", "email: one of three opened")
	assert.Contains(t, body, "<svg")

	status, body = e.get(prefix + "/engagement?by=template&by=category")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `<th scope="row">news</th>`)
	status, body = e.get(prefix + "/engagement?by=")
	assert.Equal(t, http.StatusBadRequest, status, "an empty dimension is named")
	_ = body
}

// With the backend down every page still renders, with a banner saying
// what failed (credentials scrubbed) and a 503; the live fragment carries
// the banner with a 200.
func TestBackendDown(t *testing.T) {
	e := newEnv(t, console.Config{ChartMaxAge: -1})
	e.down.Store(true)
	for _, path := range []string{"/", "/dead", "/dead?channel=sms", "/dead/item?channel=sms&id=x", "/find?kind=user&q=ana",
		"/find?kind=notification&q=x", "/delivery?n=a&d=b", "/engagement"} {
		status, body := e.get(prefix + path)
		assert.Equal(t, http.StatusServiceUnavailable, status, path)
		assert.Contains(t, body, `class="banner" role="alert"`, path)
		assert.Contains(t, body, "the backend did not answer: ", path)
		assert.Contains(t, body, "connection refused", path)
		assert.NotContains(t, body, "hunter2", path)
		assert.Contains(t, body, "<nav", path)
	}
	status, body := e.get(prefix + "/queues/live")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "connection refused")
	assert.Contains(t, body, "unavailable")

	e.down.Store(false)
	status, _ = e.get(prefix + "/")
	assert.Equal(t, http.StatusOK, status, "back when the backend is")
}

func TestNewChecksConfig(t *testing.T) {
	_, err := console.New(console.Config{})
	assert.ErrorContains(t, err, "Dispatcher is required")
	e := newEnv(t, console.Config{})
	_, err = console.New(console.Config{Dispatcher: e.d, Prefix: "console"})
	assert.ErrorContains(t, err, "must start with /")
	_, err = console.New(console.Config{Dispatcher: e.d, CSRFKey: []byte("short")})
	assert.ErrorContains(t, err, "32 bytes")
	_ = context.Background()
}
