package track

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	htmltemplate "html/template"
	"net/url"
	"strings"
	"sync"

	"github.com/gonotify/notify/internal/keyring"
	"github.com/gonotify/notify/internal/uuidtext"
)

// MaxTargetBytes bounds the URL a click link leads to, once normalized.
const MaxTargetBytes = 2048

// MinKeyBytes is the shortest key Config.Keys accepts. 32 random bytes are
// recommended.
const MinKeyBytes = keyring.MinBytes

// MaxKeys bounds len(Config.Keys): every key is tried on every link.
const MaxKeys = keyring.Max

// Paths of the two kinds of link under Config.BaseURL.
const (
	ClickPath = "/t/c/"
	OpenPath  = "/t/o/"
)

// Link layout (the token after ClickPath or OpenPath, base64url without
// padding):
//
//	byte 0      version (high nibble, 1) and flags (low nibble: flagHTTPS)
//	byte 1      how the delivery ID is held: didUUID (16 bytes follow),
//	            didMarker (16 zero bytes follow: a marker, not a link), or
//	            1 to maxRawID (that many bytes of the ID follow)
//	...         the delivery ID
//	...         the target URL (clicks only), without "https://" when
//	            flagHTTPS is set
//	12 bytes    HMAC-SHA256 over a domain string, the kind and all of the
//	            above, truncated
const (
	version   = 0x10
	flagHTTPS = 0x01
	didUUID   = 0x00
	didMarker = 0xff
	maxRawID  = 64
	sigLen    = 12
	uuidLen   = 16

	maxTokenBytes = 2 + maxRawID + MaxTargetBytes + sigLen
	// maxTokenChars is the longest token a link can have; longer input is
	// refused before it is decoded.
	maxTokenChars = (maxTokenBytes*8 + 5) / 6
)

// Link kinds, as they appear in the path and in the MAC.
const (
	kindClick byte = 'c'
	kindOpen  byte = 'o'
)

// Domain strings keep a link's MAC from being a marker's and the reverse.
const (
	domainLink   = "notify/track/link/v1\x00"
	domainMarker = "notify/track/marker/v1\x00"
)

var enc = base64.RawURLEncoding.Strict()

// errLink is every reason a token is refused; the handler does not say
// which (a forger learns nothing from the answer).
var errLink = errors.New("track: not a valid link")

// Config configures a Signer.
type Config struct {
	// BaseURL is where the Handler is reachable from recipients' devices:
	// links are BaseURL + ClickPath + token and BaseURL + OpenPath + token.
	// An http or https URL with a host and, optionally, a path (without a
	// trailing slash); only letters, digits and -._~:/[] may appear in it,
	// and no query or fragment. Required.
	BaseURL string
	// Keys are HMAC-SHA256 keys, each at least MinKeyBytes long (32 random
	// bytes recommended), at most MaxKeys of them. Keys[0] signs; every
	// key verifies. To rotate, put the new key first and keep the old one
	// after it as long as links it signed may still be clicked (mail is
	// read weeks later); links signed only by a key removed from the list
	// are refused. Required.
	Keys [][]byte
}

// Signer makes tracking links and verifies them. Build one with New; it is
// safe for concurrent use.
//
// A template cannot know the delivery ID its link must name (a template is
// rendered once per channel, before delivery IDs are given to each
// address), so the template functions of Funcs, and Click and Open, return
// markers: a URL of the same shape and length as the final link, signed
// as a marker, naming no delivery. The channel returned by Wrap turns each
// marker into the delivery's link when it validates a delivery and when
// it sends one. See the package documentation.
type Signer struct {
	base      string // BaseURL without a trailing slash
	clickBase string // base + ClickPath
	openBase  string // base + OpenPath
	keys      [][]byte
	pools     []sync.Pool // per key: *macState
	prefixes  [4][]byte   // domain and kind: link click, link open, marker click, marker open
	bufs      sync.Pool   // *[maxTokenBytes]byte, to decode tokens into
}

// New checks cfg and returns a Signer.
func New(cfg Config) (*Signer, error) {
	base, err := checkBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Check(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("track: %w", err)
	}
	s := &Signer{base: base, clickBase: base + ClickPath, openBase: base + OpenPath, keys: keys, pools: make([]sync.Pool, len(keys))}
	for i, k := range keys {
		s.pools[i].New = func() any { return &macState{h: hmac.New(sha256.New, k)} }
	}
	for i, d := range []string{domainLink, domainMarker} {
		s.prefixes[2*i] = append([]byte(d), kindClick)
		s.prefixes[2*i+1] = append([]byte(d), kindOpen)
	}
	s.bufs.New = func() any { return new([maxTokenBytes]byte) }
	return s, nil
}

// checkBase checks Config.BaseURL and returns it without a trailing slash.
func checkBase(raw string) (string, error) {
	base := strings.TrimSuffix(raw, "/")
	if base == "" {
		return "", errors.New("track: Config.BaseURL is empty: give the URL the Handler is reachable at, e.g. https://t.example.com")
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !unreserved(c) && !strings.ContainsRune(":/[]", rune(c)) {
			return "", fmt.Errorf("track: Config.BaseURL %q has %q; only letters, digits and -._~:/[] may appear (no query, fragment or escapes)", raw, c)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("track: Config.BaseURL %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("track: Config.BaseURL %q is not an absolute http or https URL with a host", raw)
	}
	if u.Scheme+"://"+u.Host+u.Path != base {
		return "", fmt.Errorf("track: Config.BaseURL %q: write it as scheme://host/path, lower-case scheme", raw)
	}
	return base, nil
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// b64 reports whether c is in the base64url alphabet.
func b64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// BaseURL returns Config.BaseURL without its trailing slash.
func (s *Signer) BaseURL() string { return s.base }

// macState is a pooled HMAC of one key, with room for its sum.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// mac appends to dst the truncated MAC of domain, kind and body under key i.
func (s *Signer) mac(dst []byte, i int, domain string, kind byte, body []byte) []byte {
	st := s.pools[i].Get().(*macState)
	st.h.Reset()
	st.h.Write(s.prefix(domain, kind))
	st.h.Write(body)
	out := st.h.Sum(st.sum[:0])
	dst = append(dst, out[:sigLen]...)
	s.pools[i].Put(st)
	return dst
}

// prefix is what a MAC covers before the token: the domain and the kind.
func (s *Signer) prefix(domain string, kind byte) []byte {
	i := 0
	if domain == domainMarker {
		i = 2
	}
	if kind == kindOpen {
		i++
	}
	return s.prefixes[i]
}

// verifyMAC reports whether sig is the MAC of domain, kind and body under
// any key. Every key is tried, each compared in constant time.
func (s *Signer) verifyMAC(domain string, kind byte, body, sig []byte) bool {
	ok := false
	var buf [sigLen]byte
	for i := range s.keys {
		if hmac.Equal(s.mac(buf[:0], i, domain, kind, body), sig) {
			ok = true
		}
	}
	return ok
}

// checkTarget checks a click's target and returns it normalized.
func checkTarget(target string) (string, error) {
	if len(target) > MaxTargetBytes {
		return "", fmt.Errorf("track: the link's URL is %d bytes; at most %d", len(target), MaxTargetBytes)
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("track: the link's URL %q does not parse: %w", target, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("track: the link's URL %q is not an absolute http or https URL with a host", target)
	}
	if u.User != nil {
		return "", fmt.Errorf("track: the link's URL %q has user information (user@); remove it", target)
	}
	n := u.String()
	if len(n) > MaxTargetBytes {
		return "", fmt.Errorf("track: the link's URL is %d bytes once escaped; at most %d", len(n), MaxTargetBytes)
	}
	return n, nil
}

// appendToken appends the signed token of a link of kind for id (nil:
// a marker) leading to target (normalized; empty for an open).
func (s *Signer) appendToken(dst []byte, kind byte, id *deliveryID, target string) []byte {
	raw := s.bufs.Get().(*[maxTokenBytes]byte)
	defer s.bufs.Put(raw)
	b := raw[:0]
	flags := byte(0)
	if rest, ok := strings.CutPrefix(target, "https://"); ok {
		flags, target = flagHTTPS, rest
	}
	b = append(b, version|flags)
	domain := domainLink
	switch {
	case id == nil:
		domain = domainMarker
		b = append(b, didMarker)
		b = append(b, make([]byte, uuidLen)...)
	case id.uuid:
		b = append(b, didUUID)
		b = append(b, id.b[:uuidLen]...)
	default:
		b = append(b, byte(id.n))
		b = append(b, id.b[:id.n]...)
	}
	b = append(b, target...)
	b = s.mac(b, 0, domain, kind, b)
	return enc.AppendEncode(dst, b)
}

// deliveryID is a delivery ID as a link holds it: 16 bytes for a
// lower-case canonical UUID (the Dispatcher's IDs), else its bytes.
type deliveryID struct {
	uuid bool
	n    int
	b    [maxRawID]byte
}

func parseID(s string) (deliveryID, error) {
	var id deliveryID
	if u, ok := parseUUID(s); ok {
		id.uuid, id.n = true, uuidLen
		copy(id.b[:], u[:])
		return id, nil
	}
	if s == "" || len(s) > maxRawID {
		return id, fmt.Errorf("track: delivery ID %q: want 1 to %d bytes", s, maxRawID)
	}
	id.n = copy(id.b[:], s)
	return id, nil
}

// parseUUID parses a lower-case canonical UUID (8-4-4-4-12 hex digits).
func parseUUID(s string) ([uuidLen]byte, bool) { return uuidtext.Parse(s) }

func formatUUID(b []byte) string {
	const digits = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range b[:uuidLen] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = digits[c>>4], digits[c&0xf]
		j += 2
	}
	return string(out[:])
}

// link is a verified link.
type link struct {
	kind       byte
	deliveryID string
	target     string // clicks: where to redirect; opens: empty
}

// parsed is a token decoded but not verified.
type parsed struct {
	kind   byte
	marker bool
	body   []byte // what the MAC covers, after the kind
	sig    []byte
	id     []byte
	uuid   bool
	target []byte // without the https:// of flagHTTPS
	https  bool
}

// parseToken decodes token into raw (which must hold maxTokenBytes) and
// checks its layout, not its MAC.
func parseToken(kind byte, token string, raw []byte) (parsed, error) {
	p := parsed{kind: kind}
	if kind != kindClick && kind != kindOpen {
		return p, errLink
	}
	if len(token) == 0 || len(token) > maxTokenChars {
		return p, errLink
	}
	n, err := enc.Decode(raw[:maxTokenBytes], []byte(token))
	if err != nil || n < 2+1+sigLen {
		return p, errLink
	}
	b := raw[:n]
	if b[0]&0xf0 != version || b[0]&0x0f&^flagHTTPS != 0 {
		return p, errLink
	}
	p.https = b[0]&flagHTTPS != 0
	idLen := int(b[1])
	switch {
	case b[1] == didUUID || b[1] == didMarker:
		idLen = uuidLen
		p.uuid, p.marker = b[1] == didUUID, b[1] == didMarker
	case idLen > maxRawID:
		return p, errLink
	}
	if n < 2+idLen+sigLen {
		return p, errLink
	}
	p.body, p.sig = b[:n-sigLen], b[n-sigLen:]
	p.id, p.target = b[2:2+idLen], b[2+idLen:n-sigLen]
	switch {
	case kind == kindOpen && (len(p.target) > 0 || p.https):
		return p, errLink
	case kind == kindClick && len(p.target) == 0:
		return p, errLink
	}
	return p, nil
}

// verify checks a link's token and returns what it names. A marker is not
// a link.
func (s *Signer) verify(kind byte, token string) (link, error) {
	raw := s.bufs.Get().(*[maxTokenBytes]byte)
	defer s.bufs.Put(raw)
	p, err := parseToken(kind, token, raw[:])
	if err != nil || p.marker || !s.verifyMAC(domainLink, kind, p.body, p.sig) {
		return link{}, errLink
	}
	l := link{kind: kind}
	if p.uuid {
		l.deliveryID = formatUUID(p.id)
	} else {
		l.deliveryID = string(p.id)
	}
	if kind == kindClick {
		if p.https {
			l.target = "https://" + string(p.target)
		} else {
			l.target = string(p.target)
		}
		// Signed by us after checkTarget; this is only a second line.
		if !strings.HasPrefix(l.target, "https://") && !strings.HasPrefix(l.target, "http://") || strings.ContainsAny(l.target, "\x00\r\n\t ") {
			return link{}, errLink
		}
	}
	return l, nil
}

// Click returns a click marker for target: a URL that the channel returned
// by Wrap turns, for each delivery, into a link that records a click and
// redirects to target. target must be an absolute http or https URL of at
// most MaxTargetBytes (it is normalized as net/url writes it). It is the
// "trackClick" template function.
func (s *Signer) Click(target string) (string, error) {
	t, err := checkTarget(target)
	if err != nil {
		return "", err
	}
	return string(s.appendToken([]byte(s.clickBase), kindClick, nil, t)), nil
}

// Open returns the open marker: a URL that the channel returned by Wrap
// turns, for each delivery, into the URL of a 1x1 transparent GIF that
// records an open. It is the "trackOpen" template function; use it as an
// image's src in email HTML.
func (s *Signer) Open() string {
	return string(s.appendToken([]byte(s.openBase), kindOpen, nil, ""))
}

// Pixel returns an HTML img element showing the open marker's image; it is
// the "trackPixel" template function, for the body of an email's HTML part
// (html/template inserts it as HTML; in a text part it would print as
// text).
func (s *Signer) Pixel() htmltemplate.HTML {
	return htmltemplate.HTML(`<img src="` + s.Open() + `" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`)
}

// Funcs returns the template functions, for template.Config.Funcs:
//
//	trackClick URL   a click marker for URL (Click)
//	trackOpen        the open marker, for an img src (Open)
//	trackPixel       an img element showing it (Pixel; HTML parts only)
//
// For example, in an email's HTML:
//
//	<a href="{{trackClick "https://shop.example.com/orders"}}">Your orders</a>
//	{{trackPixel}}
//
// and in an SMS: "Track it: {{trackClick .url}}". A marker must end at a
// character that cannot continue a base64url token (a quote, a space, a
// '<', a '.'), and must not be escaped further (inside a <script>, say),
// or Wrap does not find it and the recipient gets a link that only
// answers "not found".
func (s *Signer) Funcs() map[string]any {
	return map[string]any{
		"trackClick": s.Click,
		"trackOpen":  s.Open,
		"trackPixel": s.Pixel,
	}
}

// ClickLink returns the signed click link of deliveryID to target, for a
// host that knows the delivery ID (in a push's data, say). Messages built
// by templates use markers instead (Click).
func (s *Signer) ClickLink(deliveryID, target string) (string, error) {
	t, err := checkTarget(target)
	if err != nil {
		return "", err
	}
	id, err := parseID(deliveryID)
	if err != nil {
		return "", err
	}
	return string(s.appendToken([]byte(s.clickBase), kindClick, &id, t)), nil
}

// OpenLink returns the signed open-pixel URL of deliveryID.
func (s *Signer) OpenLink(deliveryID string) (string, error) {
	id, err := parseID(deliveryID)
	if err != nil {
		return "", err
	}
	return string(s.appendToken([]byte(s.openBase), kindOpen, &id, "")), nil
}

// Resolve returns text with every marker in it replaced by the link of
// deliveryID it stands for. A marker-like string that is not one of this
// Signer's markers (wrong MAC: written by someone without the key, say in
// a template's data; or signed by a key no longer in Config.Keys) is left
// as it is: it names no delivery, and the Handler answers it "not found".
// A deliveryID longer than 64 bytes (the Dispatcher's are 36) leaves text
// as it is.
func (s *Signer) Resolve(deliveryID, text string) string {
	out, _ := s.resolve(deliveryID, text)
	return out
}

// resolve is Resolve, reporting whether it replaced anything.
func (s *Signer) resolve(deliveryID, text string) (string, bool) {
	prefix := s.base + "/t/"
	i := strings.Index(text, prefix)
	if i < 0 {
		return text, false
	}
	id, err := parseID(deliveryID)
	if err != nil {
		return text, false
	}
	var out []byte
	last := 0
	raw := s.bufs.Get().(*[maxTokenBytes]byte)
	defer s.bufs.Put(raw)
	for i >= 0 {
		j := i + len(prefix)
		if j+2 < len(text) && (text[j] == kindClick || text[j] == kindOpen) && text[j+1] == '/' {
			kind, start := text[j], j+2
			end := start
			for end < len(text) && b64(text[end]) && end-start <= maxTokenChars {
				end++
			}
			if p, err := parseToken(kind, text[start:end], raw[:]); err == nil && p.marker && s.verifyMAC(domainMarker, kind, p.body, p.sig) {
				if out == nil {
					out = make([]byte, 0, len(text)+64)
				}
				out = append(out, text[last:j+2]...)
				target := string(p.target)
				if p.https {
					target = "https://" + target
				}
				out = s.appendToken(out, kind, &id, target)
				last = end
				j = end
			}
		}
		k := strings.Index(text[j:], prefix)
		if k < 0 {
			break
		}
		i = j + k
	}
	if out == nil {
		return text, false
	}
	return string(append(out, text[last:]...)), true
}
