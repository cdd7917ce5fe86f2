// Package notifyhttp is notify's HTTP API as an http.Handler: send, status,
// replay, contacts and preferences under /v1, authenticated by signed
// requests (appKey and appSecret), with RFC 9457 problem details for every
// error; and Client, a Go client that signs, retries safely and returns the
// library's typed errors. cmd/notifyd serves it.
//
// THIS FILE IS THE AGREED SKELETON: the signatures below are what
// cmd/notifyd builds against. Fill them in; change one only together with
// its callers.
package notifyhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gonotify/notify"
)

// Scope is what a key may do.
type Scope string

// Scopes.
const (
	ScopeSend  Scope = "send"  // send and send batch
	ScopeRead  Scope = "read"  // status, contacts and preferences reads
	ScopeAdmin Scope = "admin" // everything, including replay and writes of contacts and preferences
)

// Key is a client application's credentials: the appKey (ID) and its
// secrets (one, or two while a rotation overlaps).
type Key struct {
	ID      string
	Name    string
	Scopes  []Scope
	Secrets []Secret
	// Limit, when set, bounds the key's requests through Config.Limiter.
	Limit     *notify.Limit
	CreatedAt time.Time
	// RevokedAt, when set, is when the key was revoked; a revoked key
	// authenticates nothing.
	RevokedAt time.Time
}

// Secret is one appSecret of a key.
type Secret struct {
	Value     []byte
	CreatedAt time.Time
	// ExpiresAt, when set, ends the secret (the old secret of a rotation).
	ExpiresAt time.Time
}

// KeyStore holds keys. Key returns notify.ErrNotFound for an unknown ID.
type KeyStore interface {
	Key(ctx context.Context, id string) (Key, error)
	PutKey(ctx context.Context, k Key) error
	Keys(ctx context.Context) ([]Key, error)
}

// Config configures the Handler.
type Config struct {
	Dispatcher *notify.Dispatcher
	Keys       KeyStore
	// Replay remembers signatures for the skew window so a replayed request
	// is refused; use the Dispatcher's Deduper to hold across instances.
	Replay notify.Deduper
	// Limiter enforces keys' Limit; nil disables per-key limits.
	Limiter notify.Limiter
	// Webhooks are mounted as they are (provider callbacks authenticate
	// themselves): path -> handler, e.g. "/v1/webhooks/twilio".
	Webhooks map[string]http.Handler
	// Ready reports whether the backends are reachable, for /readyz.
	Ready func(ctx context.Context) error
	// MaxBodyBytes bounds a request body; default 1 MiB.
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// New returns the API handler.
func New(cfg Config) (http.Handler, error) {
	return nil, errors.New("notifyhttp: not implemented yet")
}

// NewKey makes a key with a fresh random ID and secret; the secret is
// returned once, for the caller to hand to the client.
func NewKey(name string, scopes ...Scope) (Key, string, error) {
	return Key{}, "", errors.New("notifyhttp: not implemented yet")
}

// Rotate adds a fresh secret to k and makes the others expire after
// overlap; it returns the new secret.
func Rotate(k *Key, overlap time.Duration, now time.Time) (string, error) {
	return "", errors.New("notifyhttp: not implemented yet")
}

// MemoryKeys is a KeyStore in process memory.
type MemoryKeys struct{}

// NewMemoryKeys returns an empty MemoryKeys.
func NewMemoryKeys() *MemoryKeys { return &MemoryKeys{} }

// Key returns the key with that ID, or notify.ErrNotFound.
func (m *MemoryKeys) Key(ctx context.Context, id string) (Key, error) {
	return Key{}, notify.ErrNotFound
}

// PutKey stores k, replacing the key with its ID.
func (m *MemoryKeys) PutKey(ctx context.Context, k Key) error {
	return errors.New("notifyhttp: not implemented yet")
}

// Keys lists every key.
func (m *MemoryKeys) Keys(ctx context.Context) ([]Key, error) { return nil, nil }

// ClientConfig configures a Client.
type ClientConfig struct {
	BaseURL    string // e.g. "http://127.0.0.1:8080"
	KeyID      string
	Secret     string
	HTTPClient *http.Client
	// MaxRetries bounds retries of a 5xx or 429 answer (same event ID); default 3.
	MaxRetries int
}

// Client calls a notifyhttp API.
type Client struct{ cfg ClientConfig }

// NewClient returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) { return &Client{cfg: cfg}, nil }

// Send sends one notification.
func (c *Client) Send(ctx context.Context, n notify.Notification) (notify.Receipt, error) {
	return notify.Receipt{}, errors.New("notifyhttp: not implemented yet")
}
