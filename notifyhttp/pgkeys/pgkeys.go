// Package pgkeys is a notifyhttp.KeyStore in PostgreSQL: one table,
// api_keys, in a schema of its own choosing (default "notify"), created by
// an embedded, idempotent migration (Migrate). Secrets are encrypted at
// rest with AES-256-GCM under a 32-byte key given in Config (cmd/notifyd
// reads it from NOTIFYD_KEY_ENCRYPTION_KEY, base64); the key's ID is the
// additional data, so a row's secrets cannot be pasted onto another key.
// Everything else (name, scopes, limit, dates) is stored in clear.
//
// Rotating the encryption key is not supported yet: a Store opened with
// another key fails to read every existing key (it says so) rather than
// answering wrongly.
package pgkeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

//go:embed migrate.sql
var migrateSQL string

// DefaultSchema is the schema of the table when Config.Schema is empty.
const DefaultSchema = "notify"

// Config configures a Store.
type Config struct {
	// Schema holds the api_keys table; default "notify".
	Schema string
	// EncryptionKey is the AES-256 key (32 bytes) secrets are encrypted
	// with. Required. Keep it out of the database (an environment
	// variable, a secret manager).
	EncryptionKey []byte
}

// Store is a notifyhttp.KeyStore in PostgreSQL. It is safe for concurrent
// use.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	aead   cipher.AEAD
}

var _ notifyhttp.KeyStore = (*Store)(nil)

var schemaRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New returns the Store of cfg.Schema on pool. It does no I/O: call
// Migrate before the first use of the schema.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgkeys: the pool is nil")
	}
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if !schemaRE.MatchString(cfg.Schema) {
		return nil, fmt.Errorf("pgkeys: schema name %q: use 1 to 63 ASCII letters, digits and underscores, not starting with a digit", cfg.Schema)
	}
	if len(cfg.EncryptionKey) != 32 {
		return nil, fmt.Errorf("pgkeys: Config.EncryptionKey is %d bytes; want 32 (AES-256), e.g. `openssl rand -base64 32` decoded", len(cfg.EncryptionKey))
	}
	block, err := aes.NewCipher(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: %w", err)
	}
	return &Store{pool: pool, schema: cfg.Schema, aead: aead}, nil
}

// Migrate creates the schema and the api_keys table when missing. It is
// idempotent and safe to run from many processes at once (it holds an
// advisory lock).
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgkeys: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pgkeys.migrate:' || $1))`, s.schema); err != nil {
		return fmt.Errorf("pgkeys: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, strings.ReplaceAll(migrateSQL, "{{schema}}", pgx.Identifier{s.schema}.Sanitize())); err != nil {
		return fmt.Errorf("pgkeys: migrate schema %s: %w", s.schema, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgkeys: migrate: commit: %w", err)
	}
	return nil
}

func (s *Store) table() string { return pgx.Identifier{s.schema, "api_keys"}.Sanitize() }

// storedSecret is a secret inside the encrypted blob.
type storedSecret struct {
	Value     []byte    `json:"v"`
	CreatedAt time.Time `json:"c"`
	ExpiresAt time.Time `json:"e,omitzero"`
}

const blobVersion = 1

func (s *Store) seal(id string, secrets []notifyhttp.Secret) ([]byte, error) {
	ss := make([]storedSecret, len(secrets))
	for i, sec := range secrets {
		ss[i] = storedSecret{Value: sec.Value, CreatedAt: sec.CreatedAt, ExpiresAt: sec.ExpiresAt}
	}
	plain, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = blobVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, out[1:], plain, []byte(id)), nil
}

func (s *Store) open(id string, blob []byte) ([]notifyhttp.Secret, error) {
	ns := s.aead.NonceSize()
	if len(blob) < 1+ns || blob[0] != blobVersion {
		return nil, fmt.Errorf("pgkeys: key %s: the stored secrets are not in a known format", id)
	}
	plain, err := s.aead.Open(nil, blob[1:1+ns], blob[1+ns:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("pgkeys: key %s: cannot decrypt its secrets: is Config.EncryptionKey the key they were stored with?", id)
	}
	var ss []storedSecret
	if err := json.Unmarshal(plain, &ss); err != nil {
		return nil, fmt.Errorf("pgkeys: key %s: decode its secrets: %w", id, err)
	}
	out := make([]notifyhttp.Secret, len(ss))
	for i, sec := range ss {
		out[i] = notifyhttp.Secret{Value: sec.Value, CreatedAt: sec.CreatedAt, ExpiresAt: sec.ExpiresAt}
	}
	return out, nil
}

const columns = `id, name, scopes, secrets, limit_rate, limit_per_us, limit_burst, created_at, revoked_at`

func (s *Store) scan(row pgx.Row) (notifyhttp.Key, error) {
	var (
		k           notifyhttp.Key
		scopes      []string
		blob        []byte
		rate, burst *int32
		perUS       *int64
		created     time.Time
		revoked     *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &scopes, &blob, &rate, &perUS, &burst, &created, &revoked); err != nil {
		return k, err
	}
	for _, sc := range scopes {
		k.Scopes = append(k.Scopes, notifyhttp.Scope(sc))
	}
	if rate != nil && perUS != nil {
		l := notify.Limit{Rate: int(*rate), Per: time.Duration(*perUS) * time.Microsecond}
		if burst != nil {
			l.Burst = int(*burst)
		}
		k.Limit = &l
	}
	k.CreatedAt = created
	if revoked != nil {
		k.RevokedAt = *revoked
	}
	secrets, err := s.open(k.ID, blob)
	if err != nil {
		return k, err
	}
	k.Secrets = secrets
	return k, nil
}

// Key returns the key with that ID, or an error wrapping notify.ErrNotFound.
func (s *Store) Key(ctx context.Context, id string) (notifyhttp.Key, error) {
	k, err := s.scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM `+s.table()+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return notifyhttp.Key{}, fmt.Errorf("pgkeys: key %q: %w", id, notify.ErrNotFound)
	}
	if err != nil {
		return notifyhttp.Key{}, fmt.Errorf("pgkeys: read key %q: %w", id, err)
	}
	return k, nil
}

// PutKey stores k, replacing the key with its ID.
func (s *Store) PutKey(ctx context.Context, k notifyhttp.Key) error {
	if k.ID == "" {
		return errors.New("pgkeys: PutKey: the key has no ID (make keys with notifyhttp.NewKey)")
	}
	blob, err := s.seal(k.ID, k.Secrets)
	if err != nil {
		return fmt.Errorf("pgkeys: encrypt the secrets of key %s: %w", k.ID, err)
	}
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	var rate, burst *int32
	var perUS *int64
	if k.Limit != nil {
		r, b, p := int32(k.Limit.Rate), int32(k.Limit.Burst), k.Limit.Per.Microseconds()
		rate, burst, perUS = &r, &b, &p
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	var revoked *time.Time
	if !k.RevokedAt.IsZero() {
		revoked = &k.RevokedAt
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO `+s.table()+` (`+columns+`, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, scopes = EXCLUDED.scopes, secrets = EXCLUDED.secrets,
			limit_rate = EXCLUDED.limit_rate, limit_per_us = EXCLUDED.limit_per_us, limit_burst = EXCLUDED.limit_burst,
			created_at = EXCLUDED.created_at, revoked_at = EXCLUDED.revoked_at, updated_at = now()`,
		k.ID, k.Name, scopes, blob, rate, perUS, burst, created, revoked)
	if err != nil {
		return fmt.Errorf("pgkeys: store key %s: %w", k.ID, err)
	}
	return nil
}

// Keys lists every key, by ID.
func (s *Store) Keys(ctx context.Context) ([]notifyhttp.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM `+s.table()+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("pgkeys: list keys: %w", err)
	}
	defer rows.Close()
	var out []notifyhttp.Key
	for rows.Next() {
		k, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("pgkeys: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgkeys: list keys: %w", err)
	}
	return out, nil
}
