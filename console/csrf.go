package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// csrfCookie holds the browser's random CSRF value; forms carry its HMAC.
const (
	csrfCookie = "notify_console_csrf"
	csrfField  = "csrf"
)

// csrf issues and checks the tokens of the console's forms: a random
// value in an HttpOnly, SameSite=Strict cookie, and in each form the HMAC
// of that value under the console's key (a double submit that a cookie
// planted by a sibling domain cannot satisfy without the key).
type csrf struct {
	key    []byte
	path   string
	secure bool
}

// token returns the form token for r's cookie, setting a fresh cookie when
// r has none (or a malformed one).
func (c *csrf) token(w http.ResponseWriter, r *http.Request) string {
	val := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && validCookieValue(ck.Value) {
		val = ck.Value
	} else {
		var b [32]byte
		_, _ = rand.Read(b[:])
		val = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: val, Path: c.path, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: c.secure || r.TLS != nil,
		})
	}
	return c.mac(val)
}

// check reports whether r's form token matches its cookie, in constant
// time.
func (c *csrf) check(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || !validCookieValue(ck.Value) {
		return false
	}
	got := r.PostFormValue(csrfField)
	want := c.mac(ck.Value)
	return hmac.Equal([]byte(got), []byte(want))
}

func (c *csrf) mac(val string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("notify console csrf\x00"))
	m.Write([]byte(val))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCookieValue reports whether s is a value token could have set: 43
// characters of unpadded base64url.
func validCookieValue(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
