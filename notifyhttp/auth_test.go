package notifyhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// The worked example of the package doc and README: anyone can recompute
// these numbers with openssl; this test keeps the doc from drifting.
func TestWorkedExample(t *testing.T) {
	const (
		body      = `{"event_id":"order-1042-shipped","user_id":"ana","template":"shipped"}`
		secret    = "nsk_example_secret_do_not_use"
		bodyHash  = "b986157342b1eae2938c885050beefc67bb96561a1a07ff11ab7d626e45b79d5"
		signature = "d2c166d742f0875e485c2310e0159503211d98c9f283a3af7c2678dfc65a3c6f"
	)
	sts := StringToSign("POST", "/v1/notifications", "", 1700000000, "0123456789abcdef0123456789abcdef", []byte(body))
	assert.Equal(t, "POST\n/v1/notifications\n\n1700000000\n0123456789abcdef0123456789abcdef\n"+bodyHash, sts)
	assert.Equal(t, signature, Signature([]byte(secret), sts))
	for _, doc := range []string{"README.md", "doc.go"} {
		b, err := readFile(doc)
		require.NoError(t, err)
		assert.Contains(t, string(b), signature, "%s must show the worked example's signature", doc)
		assert.Contains(t, string(b), bodyHash, "%s must show the worked example's body hash", doc)
	}
}

func TestCanonicalQuery(t *testing.T) {
	assert.Equal(t, "", canonicalQuery(""))
	assert.Equal(t, "a=1&a=2&b=x+y&token=%2F%3D", canonicalQuery("token=/%3D&b=x%20y&a=2&a=1"))
}

// raw sends a request with the given Authorization header (none when
// empty) and returns the answer's status and problem.
func (e *env) raw(t *testing.T, method, path string, body []byte, auth string) (int, Problem, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var p Problem
	if resp.StatusCode >= 400 {
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		assert.Equal(t, resp.StatusCode, p.Status)
		assert.NotEmpty(t, p.Type)
		assert.NotEmpty(t, p.Title)
		assert.NotEmpty(t, p.RequestID)
		assert.Equal(t, resp.Header.Get("X-Request-Id"), p.RequestID)
	}
	return resp.StatusCode, p, resp.Header
}

func authHeader(id string, ts int64, nonce, sig string) string {
	return fmt.Sprintf("%s key=%s, ts=%d, nonce=%s, sig=%s", AuthScheme, id, ts, nonce, sig)
}

func sign(method, path string, body []byte, id, secret string, ts int64, nonce string) string {
	return authHeader(id, ts, nonce, Signature([]byte(secret), StringToSign(method, path, "", ts, nonce, body)))
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.d.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))
	body := []byte(`{"event_id":"e1","user_id":"ana","content":{"body":"hi"}}`)
	now := time.Now().Unix()
	const nonce = "nonce-0123456789abcdef"
	good := func(ts int64, nonce string) string {
		return sign("POST", "/v1/notifications", body, e.admin.ID, e.secret, ts, nonce)
	}

	revoked, revSecret := e.newKey(t, ScopeAdmin)
	revoked.RevokedAt = time.Now().Add(-time.Second)
	require.NoError(t, e.keys.PutKey(ctx, revoked))
	reader, readSecret := e.newKey(t, ScopeRead)
	rotated, oldSecret := e.newKey(t, ScopeSend)
	newSecret, err := Rotate(&rotated, -time.Second, time.Now()) // the old one has already expired
	require.NoError(t, err)
	require.NoError(t, e.keys.PutKey(ctx, rotated))

	for _, tc := range []struct {
		name   string
		auth   string
		status int
		says   string
	}{
		{"missing", "", 401, "no Authorization"},
		{"other scheme", "Bearer abc", 401, "malformed"},
		{"no sig", fmt.Sprintf("%s key=%s, ts=%d, nonce=%s", AuthScheme, e.admin.ID, now, nonce), 401, "malformed"},
		{"short sig", authHeader(e.admin.ID, now, nonce, "abcd"), 401, "malformed"},
		{"upper-case sig", strings.ToUpper(good(now, nonce+"u")), 401, "malformed"},
		{"duplicate param", good(now, nonce+"d") + ", ts=1", 401, "malformed"},
		{"short nonce", good(now, "abc"), 401, "malformed"},
		{"unknown key", sign("POST", "/v1/notifications", body, "nk_nobody", e.secret, now, nonce), 401, "unknown key"},
		{"wrong signature", sign("POST", "/v1/notifications", body, e.admin.ID, "wrong", now, nonce), 401, "wrong signature"},
		{"signed another body", sign("POST", "/v1/notifications", []byte(`{}`), e.admin.ID, e.secret, now, nonce), 401, "wrong signature"},
		{"signed another path", sign("POST", "/v1/notifications:batch", body, e.admin.ID, e.secret, now, nonce), 401, "wrong signature"},
		{"too old", good(now-6*60, nonce), 401, "timestamp"},
		{"too far ahead", good(now+6*60, nonce), 401, "timestamp"},
		{"absurd ts", authHeader(e.admin.ID, 999999999999999999, nonce, strings.Repeat("a", 64)), 401, "timestamp"},
		{"revoked", sign("POST", "/v1/notifications", body, revoked.ID, revSecret, now, nonce), 403, "revoked"},
		{"wrong scope", sign("POST", "/v1/notifications", body, reader.ID, readSecret, now, nonce), 403, "scope"},
		{"rotated-out secret", sign("POST", "/v1/notifications", body, rotated.ID, oldSecret, now, nonce), 401, "rotated out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, p, _ := e.raw(t, "POST", "/v1/notifications", body, tc.auth)
			assert.Equal(t, tc.status, status)
			assert.Contains(t, p.Detail, tc.says)
			for _, s := range []string{e.secret, revSecret, readSecret, oldSecret, newSecret} {
				assert.NotContains(t, p.Detail, s, "a secret in a problem")
			}
			assert.Zero(t, e.stored(t), "a refused request stored something")
		})
	}

	// The rotation's new secret works; a good request works once, and its
	// replay is refused.
	status, _, _ := e.raw(t, "POST", "/v1/notifications", body, sign("POST", "/v1/notifications", body, rotated.ID, newSecret, now, nonce+"r"))
	assert.Equal(t, http.StatusAccepted, status)
	assert.Equal(t, 1, e.stored(t))
	auth := good(now, nonce+"x")
	status, _, _ = e.raw(t, "POST", "/v1/notifications", body, auth)
	assert.Equal(t, http.StatusOK, status, "the same event again: a duplicate")
	status, p, _ := e.raw(t, "POST", "/v1/notifications", body, auth)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, p.Detail, "replayed")
	assert.Equal(t, 1, e.stored(t))
}

func TestRotationOverlap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k, old := e.newKey(t, ScopeRead)
	fresh, err := Rotate(&k, time.Hour, time.Now())
	require.NoError(t, err)
	require.NoError(t, e.keys.PutKey(ctx, k))
	for _, s := range []string{old, fresh} {
		_, err := e.client(t, k.ID, s).Contact(ctx, "nobody")
		assert.ErrorIs(t, err, notify.ErrNotFound, "both secrets verify during the overlap")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k, s := e.newKey(t, ScopeRead)
	k.Limit = &notify.Limit{Rate: 2, Per: time.Hour}
	require.NoError(t, e.keys.PutKey(ctx, k))
	c := e.client(t, k.ID, s)
	for range 2 {
		_, err := c.Contact(ctx, "nobody")
		require.ErrorIs(t, err, notify.ErrNotFound)
	}
	_, err := c.Contact(ctx, "nobody")
	require.ErrorIs(t, err, ErrRateLimited)
	var p *Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, 429, p.Status)
	assert.Greater(t, p.RetryAfter, 60, "Retry-After says how long (about half an hour)")
	_, err = e.c.Contact(ctx, "nobody")
	assert.ErrorIs(t, err, notify.ErrNotFound, "another key is not limited")
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(authHeader("nk_abc", 1700000000, "0123456789abcdef", strings.Repeat("ab", 32)))
	f.Add(AuthScheme + " key=a,ts=1,nonce=0123456789abcdef,sig=" + strings.Repeat("0", 64))
	f.Add(AuthScheme + " ")
	f.Add("Bearer x")
	f.Add(AuthScheme + " key=, ts=-1, sig=zz")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			return
		}
		// What parses round-trips, and holds only what the grammar allows.
		if !validKeyID(a.keyID) || a.ts < 0 || len(a.nonce) < 16 || len(a.sigHex) != 64 {
			t.Fatalf("parsed %q into %+v", h, a)
		}
		b, err := parseAuthorization(authHeader(a.keyID, a.ts, a.nonce, a.sigHex))
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %+v, %v", h, b, err)
		}
		if !strings.HasPrefix(h, AuthScheme+" ") || !strings.Contains(h, "sig="+a.sigHex) || !strings.Contains(h, "ts=") {
			t.Fatalf("accepted %q", h)
		}
	})
}
