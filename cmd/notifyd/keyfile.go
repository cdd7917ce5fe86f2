package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

// keyFileEntry is one key of a --key-file: the embedded mode's keys, kept
// across restarts in a file only its owner reads.
type keyFileEntry struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Scopes []string `json:"scopes"`
	Secret string   `json:"secret"`
	Limit  string   `json:"limit,omitempty"` // "100/1m"
}

// parseScopes turns "send,read" into scopes, refusing unknown ones.
func parseScopes(s []string) ([]notifyhttp.Scope, error) {
	if len(s) == 0 {
		return nil, errors.New("no scopes: give some of send, read, admin")
	}
	out := make([]notifyhttp.Scope, len(s))
	for i, v := range s {
		switch sc := notifyhttp.Scope(strings.TrimSpace(v)); sc {
		case notifyhttp.ScopeSend, notifyhttp.ScopeRead, notifyhttp.ScopeAdmin:
			out[i] = sc
		default:
			return nil, fmt.Errorf("unknown scope %q: use send, read or admin", v)
		}
	}
	return out, nil
}

// parseLimit reads a rate such as "100/1m", "10/s" or "1000/24h".
func parseLimit(s string) (*notify.Limit, error) {
	if s == "" {
		return nil, nil
	}
	rate, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(rate)
	if !ok || err != nil || n <= 0 {
		return nil, fmt.Errorf("limit %q: want RATE/PERIOD, such as 100/1m", s)
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // "10/s"
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("limit %q: the period %q is not a duration such as 1m or 24h", s, per)
	}
	return &notify.Limit{Rate: n, Per: d}, nil
}

// formatLimit is parseLimit's inverse.
func formatLimit(l *notify.Limit) string {
	if l == nil || l.IsZero() {
		return ""
	}
	return strconv.Itoa(l.Rate) + "/" + l.Per.String()
}

// validKeyID reports whether id may name a key in an Authorization
// header: 1 to 128 of A-Z a-z 0-9 . _ -.
func validKeyID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// keyOf turns an entry into a Key.
func (e keyFileEntry) keyOf(now time.Time) (notifyhttp.Key, error) {
	if !validKeyID(e.ID) || e.Secret == "" {
		return notifyhttp.Key{}, fmt.Errorf("key %q: a key needs an id (1 to 128 of A-Z a-z 0-9 . _ -) and a secret", e.ID)
	}
	scopes, err := parseScopes(e.Scopes)
	if err != nil {
		return notifyhttp.Key{}, fmt.Errorf("key %s: %w", e.ID, err)
	}
	limit, err := parseLimit(e.Limit)
	if err != nil {
		return notifyhttp.Key{}, fmt.Errorf("key %s: %w", e.ID, err)
	}
	return notifyhttp.Key{
		ID: e.ID, Name: e.Name, Scopes: scopes, Limit: limit, CreatedAt: now,
		Secrets: []notifyhttp.Secret{{Value: []byte(e.Secret), CreatedAt: now}},
	}, nil
}

// parseBootstrapKey reads id:secret:scopes (scopes comma-separated).
func parseBootstrapKey(s string) (keyFileEntry, error) {
	i, j := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if i <= 0 || j <= i+1 || j == len(s)-1 {
		return keyFileEntry{}, errors.New("NOTIFYD_BOOTSTRAP_KEY: want id:secret:scopes, such as app1:a-long-random-secret:send,read")
	}
	if !validKeyID(s[:i]) {
		return keyFileEntry{}, errors.New("NOTIFYD_BOOTSTRAP_KEY: the id is 1 to 128 of A-Z a-z 0-9 . _ -")
	}
	return keyFileEntry{ID: s[:i], Name: "bootstrap", Secret: s[i+1 : j], Scopes: splitList(s[j+1:])}, nil
}

// bootstrapKeys fills the embedded mode's key store: from --key-file (made
// with one fresh key when the file does not exist) and
// NOTIFYD_BOOTSTRAP_KEY. With neither it makes one key. A key it made is
// printed once, to w; secrets are never logged.
func bootstrapKeys(ctx context.Context, cfg *Config, keys notifyhttp.KeyStore, w io.Writer) error {
	now := time.Now().UTC()
	var entries []keyFileEntry
	if cfg.KeyFile != "" {
		data, err := os.ReadFile(cfg.KeyFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("--key-file: %w", err)
		default:
			if err := json.Unmarshal(data, &entries); err != nil {
				return fmt.Errorf("--key-file %s: want a JSON array of {\"id\", \"secret\", \"scopes\", \"name\", \"limit\"}: %w", cfg.KeyFile, err)
			}
		}
	}
	if cfg.BootstrapKey != "" {
		e, err := parseBootstrapKey(cfg.BootstrapKey)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	made := len(entries) == 0
	if made {
		e, err := freshEntry()
		if err != nil {
			return err
		}
		entries = []keyFileEntry{e}
		if cfg.KeyFile != "" {
			data, _ := json.MarshalIndent(entries, "", "  ")
			if err := os.WriteFile(cfg.KeyFile, append(data, '\n'), 0o600); err != nil {
				return fmt.Errorf("--key-file: write the new key: %w", err)
			}
		}
	}
	for _, e := range entries {
		k, err := e.keyOf(now)
		if err != nil {
			return fmt.Errorf("API keys: %w", err)
		}
		if err := keys.PutKey(ctx, k); err != nil {
			return err
		}
	}
	if made {
		e := entries[0]
		where := "it lives only as long as this process"
		if cfg.KeyFile != "" {
			where = "saved in " + cfg.KeyFile
		}
		fmt.Fprintf(w, "notifyd: a new API key with every scope (shown once; %s):\n  key id: %s\n  secret: %s\n  or: export NOTIFYD_BOOTSTRAP_KEY=%s:%s:%s\n",
			where, e.ID, e.Secret, e.ID, e.Secret, strings.Join(e.Scopes, ","))
	}
	return nil
}

// freshEntry makes a key with every scope.
func freshEntry() (keyFileEntry, error) {
	k, secret, err := notifyhttp.NewKey("bootstrap", notifyhttp.ScopeSend, notifyhttp.ScopeRead, notifyhttp.ScopeAdmin)
	if err != nil {
		return keyFileEntry{}, err
	}
	return keyFileEntry{ID: k.ID, Name: k.Name, Scopes: []string{"send", "read", "admin"}, Secret: secret}, nil
}
