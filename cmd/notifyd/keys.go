package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

// keysUsage is the keys command's help.
const keysUsage = `usage:
  notifyd keys create --name NAME --scopes send,read [--limit 100/1m] [--json]
  notifyd keys list [--json]
  notifyd keys rotate ID [--overlap 24h] [--json]
  notifyd keys revoke ID

The keys live in the durable key store (--postgres-url, with
--key-encryption-key); every serve flag and NOTIFYD_* variable applies.
A secret is printed once, when made: keep it then. The embedded server
(no --postgres-url) takes its keys from --key-file or NOTIFYD_BOOTSTRAP_KEY.
`

// keyView is a key as the keys command shows it: never a secret.
type keyView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Scopes    []string  `json:"scopes"`
	Limit     string    `json:"limit,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Secrets counts the live secrets (two while a rotation overlaps);
	// SecretsExpire is when the first of them ends, if one does.
	Secrets       int       `json:"secrets"`
	SecretsExpire time.Time `json:"secrets_expire,omitzero"`
}

// viewOf describes k at now.
func viewOf(k notifyhttp.Key, now time.Time) keyView {
	v := keyView{ID: k.ID, Name: k.Name, Limit: formatLimit(k.Limit), CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
	for _, s := range k.Scopes {
		v.Scopes = append(v.Scopes, string(s))
	}
	for _, s := range k.Secrets {
		if s.Expired(now) {
			continue
		}
		v.Secrets++
		if !s.ExpiresAt.IsZero() && (v.SecretsExpire.IsZero() || s.ExpiresAt.Before(v.SecretsExpire)) {
			v.SecretsExpire = s.ExpiresAt
		}
	}
	return v
}

// madeKey is what create and rotate print: the key and its new secret.
type madeKey struct {
	keyView
	Secret string `json:"secret"`
}

// keysCommand runs "notifyd keys SUB ...". args starts after "keys".
func keysCommand(ctx context.Context, args []string, global []rawFlag, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, keysUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("notifyd keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	seen := append([]rawFlag(nil), global...)
	addSettingFlags(fs, &seen)
	asJSON := fs.Bool("json", false, "print JSON")
	var name, scopes, limit *string
	var overlap *time.Duration
	switch sub {
	case "create":
		name = fs.String("name", "", "what the key is for (required)")
		scopes = fs.String("scopes", "", "comma-separated: send, read, admin (required)")
		limit = fs.String("limit", "", "requests allowed per period, such as 100/1m")
	case "rotate":
		overlap = fs.Duration("overlap", 24*time.Hour, "how long the old secret keeps working")
	case "list", "revoke":
	default:
		fmt.Fprintf(stderr, "notifyd keys: unknown command %q\n\n%s", sub, keysUsage)
		return 2
	}
	// The ID may come before or after the flags.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	wantArgs := 0
	if sub == "rotate" || sub == "revoke" {
		wantArgs = 1
	}
	if len(pos) != wantArgs {
		fmt.Fprintf(stderr, "notifyd keys %s: want %d argument(s), got %q\n\n%s", sub, wantArgs, pos, keysUsage)
		return 2
	}
	cfg, err := loadConfig(seen, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "notifyd:", err)
		return 2
	}
	if err := runKeys(ctx, &cfg, sub, pos, keysArgs{name: name, scopes: scopes, limit: limit, overlap: overlap, json: *asJSON}, stdout); err != nil {
		fmt.Fprintf(stderr, "notifyd keys %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// keysArgs are the flags of one keys subcommand (nil: not its flag).
type keysArgs struct {
	name, scopes, limit *string
	overlap             *time.Duration
	json                bool
}

// runKeys opens the key store and runs sub.
func runKeys(ctx context.Context, cfg *Config, sub string, pos []string, a keysArgs, stdout io.Writer) error {
	if cfg.PostgresURL == "" {
		return errors.New("no durable key store: give --postgres-url (and --key-encryption-key). " +
			"The embedded server keeps its keys in memory: give it --key-file or NOTIFYD_BOOTSTRAP_KEY=id:secret:scopes instead")
	}
	if err := checkBackends(cfg); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := openKeyStore(ctx, cfg, pool)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	switch sub {
	case "create":
		if *a.name == "" || *a.scopes == "" {
			return errors.New("--name and --scopes are required, such as --name billing --scopes send,read")
		}
		sc, err := parseScopes(splitList(*a.scopes))
		if err != nil {
			return err
		}
		lim, err := parseLimit(*a.limit)
		if err != nil {
			return err
		}
		k, secret, err := notifyhttp.NewKey(*a.name, sc...)
		if err != nil {
			return err
		}
		k.Limit = lim
		if err := keys.PutKey(ctx, k); err != nil {
			return err
		}
		return printMade(stdout, madeKey{viewOf(k, now), secret}, a.json)
	case "list":
		ks, err := keys.Keys(ctx)
		if err != nil {
			return err
		}
		views := make([]keyView, len(ks))
		for i, k := range ks {
			views[i] = viewOf(k, now)
		}
		if a.json {
			return json.NewEncoder(stdout).Encode(views)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tLIMIT\tCREATED\tSECRETS\tSTATE")
		for _, v := range views {
			state := "active"
			switch {
			case !v.RevokedAt.IsZero():
				state = "revoked " + v.RevokedAt.Format(time.RFC3339)
			case !v.SecretsExpire.IsZero():
				state = "rotating: old secret ends " + v.SecretsExpire.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.Name, strings.Join(v.Scopes, ","), orDash(v.Limit),
				v.CreatedAt.Format(time.RFC3339), v.Secrets, state)
		}
		return tw.Flush()
	case "rotate":
		k, err := keyByID(ctx, keys, pos[0])
		if err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() {
			return fmt.Errorf("key %s is revoked; create a new one", k.ID)
		}
		secret, err := notifyhttp.Rotate(&k, *a.overlap, now)
		if err != nil {
			return err
		}
		if err := keys.PutKey(ctx, k); err != nil {
			return err
		}
		return printMade(stdout, madeKey{viewOf(k, now), secret}, a.json)
	case "revoke":
		k, err := keyByID(ctx, keys, pos[0])
		if err != nil {
			return err
		}
		if k.RevokedAt.IsZero() {
			k.RevokedAt = now
			if err := keys.PutKey(ctx, k); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "revoked %s at %s\n", k.ID, k.RevokedAt.Format(time.RFC3339))
		return nil
	}
	return fmt.Errorf("unknown command %q", sub)
}

// keyByID reads one key, saying so when there is none.
func keyByID(ctx context.Context, keys notifyhttp.KeyStore, id string) (notifyhttp.Key, error) {
	k, err := keys.Key(ctx, id)
	if errors.Is(err, notify.ErrNotFound) {
		return k, fmt.Errorf("no key %q (see notifyd keys list)", id)
	}
	return k, err
}

// printMade prints a key with its new secret.
func printMade(w io.Writer, m madeKey, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(m)
	}
	_, err := fmt.Fprintf(w, "key id:  %s\nsecret:  %s\nscopes:  %s\nlimit:   %s\n\nThe secret is shown once: store it now.\n",
		m.ID, m.Secret, strings.Join(m.Scopes, ","), orDash(m.Limit))
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
