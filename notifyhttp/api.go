package notifyhttp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
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

// Allows reports whether k holds scope s (ScopeAdmin holds every scope).
func (k *Key) Allows(s Scope) bool {
	return slices.Contains(k.Scopes, s) || slices.Contains(k.Scopes, ScopeAdmin)
}

// Revoked reports whether k is revoked at now.
func (k *Key) Revoked(now time.Time) bool {
	return !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt)
}

// Secret is one appSecret of a key. Value holds the secret's bytes exactly
// as the client holds them (the string NewKey returned): HMAC keys on
// them.
type Secret struct {
	Value     []byte
	CreatedAt time.Time
	// ExpiresAt, when set, ends the secret (the old secret of a rotation).
	ExpiresAt time.Time
}

// Expired reports whether s has ended at now.
func (s *Secret) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// KeyStore holds keys. Key returns notify.ErrNotFound for an unknown ID.
type KeyStore interface {
	Key(ctx context.Context, id string) (Key, error)
	PutKey(ctx context.Context, k Key) error
	Keys(ctx context.Context) ([]Key, error)
}

// Config configures the Handler.
type Config struct {
	// Dispatcher sends and answers every query. Required.
	Dispatcher *notify.Dispatcher
	// Keys authenticates requests. Required.
	Keys KeyStore
	// Replay remembers signatures for the skew window so a replayed request
	// is refused; use the Dispatcher's Deduper to hold across instances.
	// Nil: an in-process memory Deduper, which protects one instance only.
	Replay notify.Deduper
	// Limiter enforces keys' Limit; nil disables per-key limits.
	Limiter notify.Limiter
	// Webhooks are mounted as they are (provider callbacks authenticate
	// themselves): path -> handler, e.g. "/v1/webhooks/twilio". A path
	// ending in "/" matches every path under it.
	Webhooks map[string]http.Handler
	// Ready reports whether the backends are reachable, for /readyz. Nil:
	// always ready.
	Ready func(ctx context.Context) error
	// MaxBodyBytes bounds a request body; default 1 MiB.
	MaxBodyBytes int64
	// MaxBatch bounds the notifications of one batch request; default 1000.
	MaxBatch int
	// MaxSkew is how far a request's timestamp may be from the server's
	// clock, either way; default 5 minutes.
	MaxSkew time.Duration
	// Logger logs server-side failures with the request ID; default
	// slog.Default(). Secrets are never logged.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxBatch     = 1000
	DefaultMaxSkew      = 5 * time.Minute
)

// New returns the API handler.
func New(cfg Config) (http.Handler, error) {
	h, err := newHandler(cfg)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// NewKey makes a key with a fresh random ID and secret; the secret is
// returned once, for the caller to hand to the client.
func NewKey(name string, scopes ...Scope) (Key, string, error) {
	if len(scopes) == 0 {
		return Key{}, "", errors.New("notifyhttp: NewKey needs at least one scope (send, read or admin)")
	}
	for _, s := range scopes {
		if s != ScopeSend && s != ScopeRead && s != ScopeAdmin {
			return Key{}, "", fmt.Errorf("notifyhttp: unknown scope %q (send, read or admin)", s)
		}
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, "", fmt.Errorf("notifyhttp: random key ID: %w", err)
	}
	secret, err := newSecret()
	if err != nil {
		return Key{}, "", err
	}
	now := time.Now().UTC()
	k := Key{
		ID: "nk_" + hex.EncodeToString(id[:]), Name: name, Scopes: slices.Clone(scopes), CreatedAt: now,
		Secrets: []Secret{{Value: []byte(secret), CreatedAt: now}},
	}
	return k, secret, nil
}

// newSecret returns 32 random bytes as "nsk_" and unpadded base64url.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("notifyhttp: random secret: %w", err)
	}
	return "nsk_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Rotate adds a fresh secret to k and makes the others expire after
// overlap; it returns the new secret. Secrets already expired at now are
// dropped. Store k again (KeyStore.PutKey) for the rotation to apply.
func Rotate(k *Key, overlap time.Duration, now time.Time) (string, error) {
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	end := now.Add(overlap)
	kept := k.Secrets[:0:0]
	for _, s := range k.Secrets {
		if s.Expired(now) {
			continue
		}
		if s.ExpiresAt.IsZero() || s.ExpiresAt.After(end) {
			s.ExpiresAt = end
		}
		kept = append(kept, s)
	}
	k.Secrets = append(kept, Secret{Value: []byte(secret), CreatedAt: now})
	return secret, nil
}

// MemoryKeys is a KeyStore in process memory, safe for concurrent use.
type MemoryKeys struct {
	mu   sync.RWMutex
	keys map[string]Key
}

// NewMemoryKeys returns an empty MemoryKeys.
func NewMemoryKeys() *MemoryKeys { return &MemoryKeys{keys: map[string]Key{}} }

// Key returns the key with that ID, or notify.ErrNotFound.
func (m *MemoryKeys) Key(_ context.Context, id string) (Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.keys[id]
	if !ok {
		return Key{}, fmt.Errorf("notifyhttp: key %q: %w", id, notify.ErrNotFound)
	}
	return cloneKey(k), nil
}

// PutKey stores k, replacing the key with its ID.
func (m *MemoryKeys) PutKey(_ context.Context, k Key) error {
	if k.ID == "" {
		return errors.New("notifyhttp: PutKey: the key has no ID (make keys with NewKey)")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]Key{}
	}
	m.keys[k.ID] = cloneKey(k)
	return nil
}

// Keys lists every key, by ID.
func (m *MemoryKeys) Keys(_ context.Context) ([]Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Key, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, cloneKey(k))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// cloneKey copies k deeply, so a stored key is never changed through a
// caller's copy.
func cloneKey(k Key) Key {
	k.Scopes = slices.Clone(k.Scopes)
	k.Secrets = slices.Clone(k.Secrets)
	for i := range k.Secrets {
		k.Secrets[i].Value = slices.Clone(k.Secrets[i].Value)
	}
	if k.Limit != nil {
		l := *k.Limit
		k.Limit = &l
	}
	return k
}
