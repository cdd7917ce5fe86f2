package notifyhttp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the scheme of the Authorization header of a signed request:
//
//	Authorization: NOTIFY-HMAC-SHA256 key=<appKey>, ts=<unix seconds>, nonce=<nonce>, sig=<hex>
//
// sig is the lowercase hex HMAC-SHA256, keyed with the appSecret's bytes,
// of the string to sign (see StringToSign). nonce is 16 to 64 characters
// of A-Z a-z 0-9 _ -, fresh for every request (and every retry): two
// identical requests in the same second differ by it, while a replayed
// one is refused.
const AuthScheme = "NOTIFY-HMAC-SHA256"

// StringToSign returns the canonical string a request's signature covers:
// six lines joined by "\n" (no newline at the end):
//
//	METHOD           upper case, "POST"
//	PATH             the path as sent on the wire (percent-encoded), "/v1/notifications"
//	QUERY            the canonical query: every name=value pair, each
//	                 side escaped as url.QueryEscape does, sorted
//	                 bytewise, joined by "&"; empty without a query
//	TIMESTAMP        unix seconds, decimal, as in the header's ts
//	NONCE            the header's nonce
//	BODY-SHA256      lowercase hex SHA-256 of the body (of no bytes:
//	                 e3b0c442...b855)
func StringToSign(method, escapedPath, rawQuery string, ts int64, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	var b strings.Builder
	b.Grow(len(method) + len(escapedPath) + len(rawQuery) + 100)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(escapedPath)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(rawQuery))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// canonicalQuery sorts rawQuery's pairs, re-escaped, so that the encoding
// a client library picks does not change the signature. A query that does
// not parse is signed as it is (the server then refuses it anyway).
func canonicalQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	vs, err := url.ParseQuery(rawQuery)
	if err != nil {
		return rawQuery
	}
	pairs := make([]string, 0, len(vs))
	for k, list := range vs {
		for _, v := range list {
			pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// Signature returns the lowercase hex HMAC-SHA256 of stringToSign keyed
// with secret.
func Signature(secret []byte, stringToSign string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets r's Authorization header for keyID and secret at now,
// with a fresh random nonce; body must be the exact bytes r sends.
func SignRequest(r *http.Request, body []byte, keyID, secret string, now time.Time) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	ts := now.Unix()
	sts := StringToSign(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, ts, nonce, body)
	r.Header.Set("Authorization", AuthScheme+" key="+keyID+", ts="+strconv.FormatInt(ts, 10)+", nonce="+nonce+", sig="+Signature([]byte(secret), sts))
}

// authorization is a parsed Authorization header.
type authorization struct {
	keyID  string
	ts     int64
	nonce  string
	sig    [sha256.Size]byte
	sigHex string
}

// maxKeyIDLen bounds a key ID in a header.
const maxKeyIDLen = 128

// parseAuthorization parses "NOTIFY-HMAC-SHA256 key=K, ts=T, nonce=N,
// sig=S": each parameter exactly once, in any order, separated by commas
// with optional spaces; K 1 to 128 of [A-Za-z0-9._-], T decimal unix
// seconds, N 16 to 64 of [A-Za-z0-9_-], S 64 lowercase hex digits. Anything else is an error saying what is wrong.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || scheme != AuthScheme {
		return a, errors.New("the Authorization header must start with \"" + AuthScheme + " \"")
	}
	var haveKey, haveTS, haveNonce, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " ")
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, errors.New("each Authorization parameter is name=value (key, ts, sig)")
		}
		switch name {
		case "key":
			if haveKey || !validKeyID(val) {
				return a, errors.New("key must appear once: 1 to 128 characters of A-Z a-z 0-9 . _ -")
			}
			a.keyID, haveKey = val, true
		case "ts":
			if haveTS || len(val) == 0 || len(val) > 18 || strings.TrimLeft(val, "0123456789") != "" {
				return a, errors.New("ts must appear once: unix seconds in decimal")
			}
			ts, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return a, errors.New("ts must appear once: unix seconds in decimal")
			}
			a.ts, haveTS = ts, true
		case "nonce":
			if haveNonce || len(val) < 16 || len(val) > 64 || !validKeyID(val) || strings.Contains(val, ".") {
				return a, errors.New("nonce must appear once: 16 to 64 characters of A-Z a-z 0-9 _ -")
			}
			a.nonce, haveNonce = val, true
		case "sig":
			if haveSig || len(val) != 2*sha256.Size || strings.ToLower(val) != val {
				return a, errors.New("sig must appear once: 64 lowercase hex digits")
			}
			if _, err := hex.Decode(a.sig[:], []byte(val)); err != nil {
				return a, errors.New("sig must appear once: 64 lowercase hex digits")
			}
			a.sigHex, haveSig = val, true
		default:
			return a, errors.New("unknown Authorization parameter (key, ts, nonce and sig only)")
		}
	}
	if !haveKey || !haveTS || !haveNonce || !haveSig {
		return a, errors.New("the Authorization header needs key, ts, nonce and sig")
	}
	return a, nil
}

func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > maxKeyIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// verify reports which of k's secrets signed sts with sig: the index, or
// -1. Every secret is compared, each in constant time.
func verifySig(k *Key, sts string, sig []byte) int {
	found := -1
	for i := range k.Secrets {
		m := hmac.New(sha256.New, k.Secrets[i].Value)
		m.Write([]byte(sts))
		if hmac.Equal(m.Sum(nil), sig) && found < 0 {
			found = i
		}
	}
	return found
}
