package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifyhttp"
)

// parse runs the flag parsing of serve on args and loads the
// configuration with env as the environment.
func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var seen []rawFlag
	addSettingFlags(fs, &seen)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return loadConfig(seen, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "notifyd.json", `{
		"addr": "file:1", "workers": 3, "postgres-schema": "from_file",
		"send-timeout": "7s", "console": false, "ses-topic-arns": ["arn:a", "arn:b"],
		"log-level": "warn"
	}`)
	env := map[string]string{
		"NOTIFYD_CONFIG":    file,
		"NOTIFYD_ADDR":      "env:2",
		"NOTIFYD_WORKERS":   "5",
		"NOTIFYD_LOG_LEVEL": "error",
	}
	cfg, err := parse(t, []string{"--addr", "flag:3", "--log-level=debug"}, env)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"addr: flag over env and file", cfg.Addr, "flag:3"},
		{"log-level: flag over env and file", cfg.LogLevel, "debug"},
		{"workers: env over file", cfg.Workers, 5},
		{"postgres-schema: file over default", cfg.PostgresSchema, "from_file"},
		{"send-timeout: file", cfg.SendTimeout, 7 * time.Second},
		{"console: file's false over default true", cfg.Console, false},
		{"shutdown-timeout: default", cfg.ShutdownTimeout, 30 * time.Second},
		{"console-out: default", cfg.ConsoleOut, "stdout"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(cfg.SESTopicARNs, []string{"arn:a", "arn:b"}) {
		t.Errorf("ses-topic-arns: got %q", cfg.SESTopicARNs)
	}

	// The same settings without the flags: env wins over the file.
	cfg, err = parse(t, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "env:2" || cfg.LogLevel != "error" {
		t.Errorf("without flags: addr %q, log-level %q; want the environment's env:2, error", cfg.Addr, cfg.LogLevel)
	}

	// No file, no env: the defaults.
	cfg, err = parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || !cfg.Console || cfg.PostgresSchema != "notify" || cfg.Workers != 0 {
		t.Errorf("defaults: %+v", cfg)
	}

	// --config on the command line wins over NOTIFYD_CONFIG.
	other := writeFile(t, "other.json", `{"addr": "other:4"}`)
	cfg, err = parse(t, []string{"--config", other}, map[string]string{"NOTIFYD_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "other:4" || cfg.Workers != 0 {
		t.Errorf("--config over NOTIFYD_CONFIG: addr %q workers %d; want other:4 and 0 (the other file unread)", cfg.Addr, cfg.Workers)
	}

	// A boolean flag without a value, and the last of a repeated flag.
	cfg, err = parse(t, []string{"--console", "--addr", "a", "--addr", "b"}, map[string]string{"NOTIFYD_CONSOLE": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Console || cfg.Addr != "b" {
		t.Errorf("--console alone: %v, want true (over NOTIFYD_CONSOLE=false); repeated --addr: %q, want b", cfg.Console, cfg.Addr)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		want  string
		never string // must not appear: a secret
	}{
		{name: "unknown file key", file: `{"adr": ":1"}`, want: `unknown key "adr"`},
		{name: "file not an object", file: `[1]`, want: "not a JSON object"},
		{name: "file trailing data", file: `{} {}`, want: "data after"},
		{name: "file value type", file: `{"addr": {"x": 1}}`, want: `key "addr"`},
		{name: "bad env duration", env: map[string]string{"NOTIFYD_SHUTDOWN_TIMEOUT": "soon"}, want: "NOTIFYD_SHUTDOWN_TIMEOUT"},
		{name: "bad flag number", args: []string{"--workers", "many"}, want: "--workers"},
		{name: "bad bool", env: map[string]string{"NOTIFYD_CONSOLE": "maybe"}, want: "true or false"},
		{name: "secret not echoed", file: `{"postgres-url": 5, "redis-db": "x"}`, want: "redis-db"},
		{name: "missing file", env: map[string]string{"NOTIFYD_CONFIG": "/nonexistent/notifyd.json"}, want: "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			if c.file != "" {
				env["NOTIFYD_CONFIG"] = writeFile(t, "c.json", c.file)
			}
			_, err := parse(t, c.args, env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	// A secret's bad value is not repeated in the error.
	_, err := parse(t, nil, map[string]string{"NOTIFYD_CONFIG": writeFile(t, "s.json", `{"twilio-auth-token": {"v": "hunter2"}}`)})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("secret: %v", err)
	}
}

func TestEverySettingHasAFlagAndAVariable(t *testing.T) {
	// A setting set through its variable changes the Config (a setting
	// whose setter writes nowhere would be a silent no-op).
	values := map[bool]string{false: "7", true: "true"}
	for _, s := range settings {
		v := values[s.isBool]
		switch s.name {
		case "shutdown-timeout", "queue-visibility", "send-timeout":
			v = "7s"
		case "console":
			v = "false"
		}
		got, err := parse(t, nil, map[string]string{envName(s.name): v})
		if err != nil {
			t.Errorf("%s=%s: %v", envName(s.name), v, err)
			continue
		}
		if equalConfig(got, defaults()) {
			t.Errorf("%s=%s changed nothing", envName(s.name), v)
		}
	}
}

func equalConfig(a, b Config) bool {
	return reflect.DeepEqual(a, b)
}

func TestRunUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, &stderr); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("stderr: %q", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"keys", "list"}, func(string) string { return "" }, io.Discard, &stderr); code != 1 {
		t.Errorf("keys without a durable store: exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "--postgres-url") {
		t.Errorf("keys without a store should name --postgres-url: %q", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"keys", "rotate"}, func(string) string { return "" }, io.Discard, &stderr); code != 2 {
		t.Errorf("keys rotate without an ID: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"serve", "--postgres-url", "postgres://x"}, func(string) string { return "" }, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "--key-encryption-key") {
		t.Errorf("postgres without an encryption key: exit %d, %q", code, stderr.String())
	}
}

func TestParseLimit(t *testing.T) {
	good := map[string]notify.Limit{
		"100/1m":   {Rate: 100, Per: time.Minute},
		"10/s":     {Rate: 10, Per: time.Second},
		"1000/24h": {Rate: 1000, Per: 24 * time.Hour},
	}
	for in, want := range good {
		got, err := parseLimit(in)
		if err != nil || got == nil || *got != want {
			t.Errorf("parseLimit(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		if back, _ := parseLimit(formatLimit(got)); back == nil || *back != want {
			t.Errorf("formatLimit(%v) = %q does not parse back", got, formatLimit(got))
		}
	}
	for _, in := range []string{"100", "x/1m", "0/1m", "10/soon", "10/-1m", "-5/1m"} {
		if l, err := parseLimit(in); err == nil {
			t.Errorf("parseLimit(%q) = %v, want an error", in, l)
		}
	}
	if l, err := parseLimit(""); l != nil || err != nil {
		t.Errorf(`parseLimit("") = %v, %v; want no limit`, l, err)
	}
}

func TestBootstrapKeys(t *testing.T) {
	ctx := context.Background()
	e, err := parseBootstrapKey("app1:s3cr:et:send,read")
	if err != nil || e.ID != "app1" || e.Secret != "s3cr:et" || !slices.Equal(e.Scopes, []string{"send", "read"}) {
		t.Fatalf("parseBootstrapKey: %+v, %v", e, err)
	}
	for _, bad := range []string{"app1", "app1:secret", ":secret:send", "app1::send", "app1:secret:", "bad id!:secret:send"} {
		if _, err := parseBootstrapKey(bad); err == nil {
			t.Errorf("parseBootstrapKey(%q): want an error", bad)
		}
	}

	// NOTIFYD_BOOTSTRAP_KEY: that key, nothing printed.
	keys := notifyhttp.NewMemoryKeys()
	var out bytes.Buffer
	if err := bootstrapKeys(ctx, &Config{BootstrapKey: "app1:the-secret:send"}, keys, &out); err != nil {
		t.Fatal(err)
	}
	k, err := keys.Key(ctx, "app1")
	if err != nil || string(k.Secrets[0].Value) != "the-secret" || !slices.Equal(k.Scopes, []notifyhttp.Scope{notifyhttp.ScopeSend}) {
		t.Fatalf("bootstrap key: %+v, %v", k, err)
	}
	if out.Len() != 0 {
		t.Errorf("a given key must not be printed: %q", out.String())
	}
	if err := bootstrapKeys(ctx, &Config{BootstrapKey: "app1:the-secret:sned"}, notifyhttp.NewMemoryKeys(), &out); err == nil {
		t.Error("unknown scope: want an error")
	}

	// --key-file missing: made with one key, printed once; read back the
	// next time, printed no more.
	path := filepath.Join(t.TempDir(), "keys.json")
	keys = notifyhttp.NewMemoryKeys()
	out.Reset()
	if err := bootstrapKeys(ctx, &Config{KeyFile: path}, keys, &out); err != nil {
		t.Fatal(err)
	}
	made, _ := keys.Keys(ctx)
	if len(made) != 1 || !strings.Contains(out.String(), string(made[0].Secrets[0].Value)) {
		t.Fatalf("made %d keys; printed %q", len(made), out.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again := notifyhttp.NewMemoryKeys()
	out.Reset()
	if err := bootstrapKeys(ctx, &Config{KeyFile: path}, again, &out); err != nil {
		t.Fatal(err)
	}
	k, err = again.Key(ctx, made[0].ID)
	if err != nil || string(k.Secrets[0].Value) != string(made[0].Secrets[0].Value) {
		t.Fatalf("key file read back: %+v, %v", k, err)
	}
	if out.Len() != 0 {
		t.Errorf("a key read from the file must not be printed: %q", out.String())
	}
}

func TestRequestID(t *testing.T) {
	var seenCtx, seenHeader string
	h := withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenCtx, seenHeader = requestIDFrom(r.Context()), r.Header.Get(requestIDHeader)
	}))
	for _, c := range []struct {
		in   string
		pass bool
	}{
		{"abc-123_x.y:z", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"has space", false},
		{"new\nline", false},
		{`quote"`, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.in != "" {
			r.Header.Set(requestIDHeader, c.in)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get(requestIDHeader)
		if got == "" || got != seenCtx || got != seenHeader {
			t.Errorf("%q: response %q, context %q, header %q: want one ID everywhere", c.in, got, seenCtx, seenHeader)
		}
		if (got == c.in) != c.pass {
			t.Errorf("%q: got %q, pass through %v", c.in, got, c.pass)
		}
		if !wellFormedRequestID(got) {
			t.Errorf("%q: the ID given, %q, is not well formed", c.in, got)
		}
	}
}

func TestLoggerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger("info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), requestIDKey{}, "req-1")
	log.With("a", 1).InfoContext(ctx, "hello", "took", 1500*time.Millisecond)
	if s := buf.String(); !strings.Contains(s, `"request_id":"req-1"`) || !strings.Contains(s, `"took":"1.5s"`) {
		t.Errorf("log line: %s", s)
	}
	if _, err := newLogger("loud", &buf); err == nil {
		t.Error("unknown level: want an error")
	}
}
