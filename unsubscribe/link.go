package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/keyring"
)

// Path is where links live under Config.BaseURL; mount the Handler there.
const Path = "/u/"

// MinKeyBytes is the shortest key Config.Keys accepts. 32 random bytes are
// recommended.
const MinKeyBytes = keyring.MinBytes

// MaxKeys bounds len(Config.Keys).
const MaxKeys = keyring.Max

// MaxFieldBytes bounds a link's user ID, category and channel each.
const MaxFieldBytes = 255

// Token layout (base64url without padding):
//
//	byte 0      version
//	bytes 1-2   key ID: the first two bytes of SHA-256(domainKeyID + key)
//	bytes 3-6   expiry, Unix seconds, big-endian; 0: never
//	...         user ID, category, channel: each a length byte and bytes
//	16 bytes    HMAC-SHA256 over domainLink and all of the above, truncated
const (
	version   = 1
	headerLen = 7
	sigLen    = 16

	maxTokenBytes = headerLen + 3*(1+MaxFieldBytes) + sigLen
	// MaxTokenChars is the longest token a link can have; the Handler
	// refuses longer paths before decoding them.
	MaxTokenChars = (maxTokenBytes*8 + 5) / 6
	minTokenBytes = headerLen + 3 + sigLen
)

const (
	domainKeyID = "notify/unsubscribe/key-id/v1\x00"
	domainLink  = "notify/unsubscribe/link/v1\x00"
)

var enc = base64.RawURLEncoding.Strict()

// errLink is every reason a token is refused; the Handler does not say
// which.
var errLink = errors.New("unsubscribe: not a valid link")

// Config configures a Signer.
type Config struct {
	// BaseURL is where the Handler is reachable from mail clients: links
	// are BaseURL + Path + token. An https URL with a host and,
	// optionally, a path (no query or fragment); http only for a host
	// named localhost or a loopback address (tests). Required.
	BaseURL string
	// Keys are HMAC-SHA256 keys, each at least MinKeyBytes long (32 random
	// bytes recommended), at most MaxKeys of them. Keys[0] signs; every
	// key verifies. To rotate, put the new key first and keep the old one
	// after it as long as mail it signed may be read. Required.
	Keys [][]byte
	// TTL bounds how long a link works, from the delivery's CreatedAt (or
	// from the call to Link). Zero: links work until their key is removed.
	TTL time.Duration
	// Categories, when set, are the only categories whose deliveries get
	// a link from Unsubscribe (the bulk ones); empty: every category.
	Categories []string
}

// Signer makes and verifies unsubscribe links. Build one with New; it is
// safe for concurrent use.
type Signer struct {
	base       string // BaseURL without a trailing slash, plus Path
	keys       []key
	ttl        time.Duration
	categories []string
	now        func() time.Time
}

type key struct {
	id     [2]byte
	secret []byte
}

// New checks cfg and returns a Signer.
func New(cfg Config) (*Signer, error) {
	base, err := checkBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Check(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("unsubscribe: %w", err)
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("unsubscribe: Config.TTL is %s; zero (never expire) or more", cfg.TTL)
	}
	s := &Signer{base: base + Path, ttl: cfg.TTL, categories: slices.Clone(cfg.Categories), now: time.Now}
	for _, k := range keys {
		h := sha256.Sum256(append([]byte(domainKeyID), k...))
		s.keys = append(s.keys, key{id: [2]byte{h[0], h[1]}, secret: k})
	}
	return s, nil
}

// checkBase checks Config.BaseURL and returns it without a trailing slash.
func checkBase(raw string) (string, error) {
	base := strings.TrimSuffix(raw, "/")
	if base == "" {
		return "", errors.New("unsubscribe: Config.BaseURL is empty: give the https URL the Handler is reachable at, e.g. https://u.example.com")
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("unsubscribe: Config.BaseURL %q: %w", raw, err)
	}
	switch {
	case u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "":
		return "", fmt.Errorf("unsubscribe: Config.BaseURL %q: want scheme://host/path, with no user, query, fragment or escapes", raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return "", fmt.Errorf("unsubscribe: Config.BaseURL %q is not an https URL (RFC 8058 one-click needs https; http only for localhost)", raw)
	}
	if u.Scheme+"://"+u.Host+u.Path != base {
		return "", fmt.Errorf("unsubscribe: Config.BaseURL %q: write it as scheme://host/path, lower-case scheme", raw)
	}
	return base, nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Link is what a verified link opts out of.
type Link struct {
	UserID   string
	Category string // a category, or notify.AllCategories
	Channel  string // a channel, or notify.AllChannels
	// Expires is when the link stops working; zero: never.
	Expires time.Time
}

// Link returns the signed link that opts userID out of category on
// channel (either may be the wildcard "*"), expiring Config.TTL from now.
// Each must be 1 to MaxFieldBytes bytes.
func (s *Signer) Link(userID, category, channel string) (string, error) {
	return s.link(userID, category, channel, s.now())
}

func (s *Signer) link(userID, category, channel string, from time.Time) (string, error) {
	for _, f := range [...]struct{ name, v string }{{"user ID", userID}, {"category", category}, {"channel", channel}} {
		if f.v == "" || len(f.v) > MaxFieldBytes {
			return "", fmt.Errorf("unsubscribe: the %s is %d bytes; want 1 to %d", f.name, len(f.v), MaxFieldBytes)
		}
	}
	var expires uint32
	if s.ttl > 0 {
		e := from.Add(s.ttl).Unix()
		if e <= 0 || e > 1<<32-1 {
			return "", fmt.Errorf("unsubscribe: the link's expiry %s is out of range", from.Add(s.ttl))
		}
		expires = uint32(e)
	}
	b := make([]byte, 0, headerLen+3+len(userID)+len(category)+len(channel)+sigLen)
	b = append(b, version, s.keys[0].id[0], s.keys[0].id[1])
	b = binary.BigEndian.AppendUint32(b, expires)
	for _, f := range [...]string{userID, category, channel} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	b = append(b, mac(s.keys[0].secret, b)...)
	return s.base + enc.EncodeToString(b), nil
}

// mac is the truncated MAC of body under secret.
func mac(secret, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(domainLink))
	h.Write(body)
	return h.Sum(nil)[:sigLen]
}

// Unsubscribe returns the List-Unsubscribe target of d and true (one-click),
// matching channel/email's Config.Unsubscribe: the link opts d's user out
// of d's category on d's channel. A critical delivery, one without a user,
// one of a category not in Config.Categories (when set), or one whose
// fields are too long for a link, gets none (nil, false). It is
// deterministic (an expiry counts from d.CreatedAt), as Config.Unsubscribe
// must be.
func (s *Signer) Unsubscribe(d *notify.Delivery) (targets []string, oneClick bool) {
	if d == nil || d.UserID == "" || d.Critical {
		return nil, false
	}
	if len(s.categories) > 0 && !slices.Contains(s.categories, d.Category) {
		return nil, false
	}
	from := d.CreatedAt
	if from.IsZero() {
		from = s.now()
	}
	l, err := s.link(d.UserID, d.Category, d.Channel, from)
	if err != nil {
		return nil, false
	}
	return []string{l}, true
}

// Verify checks a link's token (the part after Path) and returns what it
// opts out of. Every failure is the same error: a forged, altered,
// truncated or expired link, or one signed by a key no longer in
// Config.Keys. The MAC is compared in constant time.
func (s *Signer) Verify(token string) (Link, error) {
	p, err := parseToken(token)
	if err != nil {
		return Link{}, errLink
	}
	ok := false
	for _, k := range s.keys {
		// Keys whose ID differs are skipped; those that share it (a
		// two-byte ID may collide) are each tried, in constant time.
		if k.id == p.keyID && hmac.Equal(mac(k.secret, p.body), p.sig) {
			ok = true
		}
	}
	if !ok {
		return Link{}, errLink
	}
	l := Link{UserID: p.user, Category: p.category, Channel: p.channel}
	if p.expires != 0 {
		l.Expires = time.Unix(int64(p.expires), 0)
		if !s.now().Before(l.Expires) {
			return Link{}, errLink
		}
	}
	return l, nil
}

// parsed is a token decoded, not verified.
type parsed struct {
	keyID                   [2]byte
	expires                 uint32
	user, category, channel string
	body, sig               []byte
}

// parseToken decodes token and checks its layout, not its MAC.
func parseToken(token string) (parsed, error) {
	var p parsed
	if len(token) == 0 || len(token) > MaxTokenChars {
		return p, errLink
	}
	b, err := enc.DecodeString(token)
	if err != nil || len(b) < minTokenBytes || b[0] != version {
		return p, errLink
	}
	p.body, p.sig = b[:len(b)-sigLen], b[len(b)-sigLen:]
	p.keyID = [2]byte{b[1], b[2]}
	p.expires = binary.BigEndian.Uint32(b[3:headerLen])
	rest := p.body[headerLen:]
	var fields [3]string
	for i := range fields {
		if len(rest) == 0 {
			return p, errLink
		}
		n := int(rest[0])
		if n == 0 || len(rest) < 1+n {
			return p, errLink
		}
		fields[i], rest = string(rest[1:1+n]), rest[1+n:]
	}
	if len(rest) != 0 {
		return p, errLink
	}
	p.user, p.category, p.channel = fields[0], fields[1], fields[2]
	return p, nil
}
