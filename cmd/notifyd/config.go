package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// envPrefix starts the name of every environment variable notifyd reads.
const envPrefix = "NOTIFYD_"

// Config is notifyd's configuration. Every setting has one name, used as
// the command-line flag (--postgres-url), the environment variable
// (NOTIFYD_POSTGRES_URL: upper case, dashes as underscores) and the key of
// the JSON config file ("postgres-url"). Flags win over the environment,
// the environment over the file, the file over the defaults.
type Config struct {
	// Serving.
	Addr            string
	LogLevel        string
	ShutdownTimeout time.Duration
	MaxBodyBytes    int64

	// Backends. With none of PostgresURL, RedisAddr and SQS*, everything
	// is in process memory (the embedded mode).
	PostgresURL      string
	PostgresSchema   string
	KeyEncryptionKey string // base64; encrypts the secrets of the PostgreSQL key store
	RedisAddr        string
	RedisPassword    string
	RedisDB          int
	SQSRegion        string
	SQSEndpoint      string
	SQSCreateQueues  bool
	QueueVisibility  time.Duration
	QueuePrefix      string
	// SQLite is the file of the single-machine durable backend (queue,
	// store, dedup); it is the default, as notifyd.db, when no other
	// backend is given. Memory keeps everything in process memory instead.
	SQLite string
	Memory bool

	// Content: a JSON file of templates, and tracking links.
	Templates string
	// Categories is a JSON file of category policies: opt-in, quiet
	// hours, rate limits.
	Categories   string
	TrackBaseURL string
	TrackKeys    string // base64 HMAC keys, comma-separated, newest first

	// One-click unsubscribe links (RFC 8058) in bulk email.
	UnsubscribeBaseURL    string
	UnsubscribeKeys       string // base64 HMAC keys, comma-separated, newest first
	UnsubscribeCategories string // comma-separated; empty: every category

	// API keys of the embedded mode (a durable key store needs none of
	// these: use the keys command).
	KeyFile      string
	BootstrapKey string // id:secret:scopes

	// The operator console at /console/, behind a login with an admin
	// key.
	OperatorConsole              bool
	OperatorConsoleReadOnly      bool
	OperatorConsoleSecureCookies bool
	OperatorConsoleKey           string // base64; signs sessions and CSRF tokens

	// Dispatcher.
	Workers     int
	SendTimeout time.Duration
	// DefaultTimeZone is the IANA zone of quiet hours for contacts that
	// name none, or one unknown here; empty: UTC.
	DefaultTimeZone string

	// Channels: a console channel stands in for every provider whose
	// credentials are not configured, unless Console is false.
	Console    bool
	ConsoleOut string

	APNsKeyFile      string
	APNsKeyID        string
	APNsTeamID       string
	APNsCertFile     string
	APNsCertPassword string
	APNsTopic        string
	APNsProduction   bool
	APNsHost         string

	FCMCredentialsFile string
	FCMProjectID       string
	FCMEndpoint        string

	TwilioAccountSID          string
	TwilioAuthToken           string
	TwilioFrom                string
	TwilioMessagingServiceSID string
	TwilioStatusCallback      string
	TwilioBaseURL             string
	// SMSDefaultRegion reads national phone numbers ("(415) 555-0100")
	// as numbers of this region (ISO 3166 code, "US"); empty: numbers
	// must be international (+1 415 555 0100).
	SMSDefaultRegion  string
	SMSAllowLandlines bool

	SESFrom             string
	SESRegion           string
	SESEndpoint         string
	SESConfigurationSet string
	SESTopicARNs        []string
}

// defaults returns the configuration before any file, variable or flag.
func defaults() Config {
	return Config{
		Addr:            ":8080",
		LogLevel:        "info",
		ShutdownTimeout: 30 * time.Second,
		MaxBodyBytes:    1 << 20,
		PostgresSchema:  "notify",
		Console:         true,
		ConsoleOut:      "stdout",
	}
}

// setting is one configuration setting: its name, its help, and how a
// string value (from a flag, a variable or the file) sets it.
type setting struct {
	name   string
	usage  string
	isBool bool
	secret bool // never echoed back in errors
	set    func(c *Config, v string) error
}

func str(name, usage string, f func(c *Config) *string) setting {
	return setting{name: name, usage: usage, set: func(c *Config, v string) error { *f(c) = v; return nil }}
}

func secretStr(name, usage string, f func(c *Config) *string) setting {
	s := str(name, usage, f)
	s.secret = true
	return s
}

func boolean(name, usage string, f func(c *Config) *bool) setting {
	return setting{name: name, usage: usage, isBool: true, set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*f(c) = b
		return nil
	}}
}

func integer(name, usage string, f func(c *Config) *int) setting {
	return setting{name: name, usage: usage, set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("want a whole number")
		}
		*f(c) = n
		return nil
	}}
}

func bytesize(name, usage string, f func(c *Config) *int64) setting {
	return setting{name: name, usage: usage, set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return errors.New("want a positive number of bytes")
		}
		*f(c) = n
		return nil
	}}
}

func duration(name, usage string, f func(c *Config) *time.Duration) setting {
	return setting{name: name, usage: usage, set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("want a duration such as 30s or 5m")
		}
		*f(c) = d
		return nil
	}}
}

func list(name, usage string, f func(c *Config) *[]string) setting {
	return setting{name: name, usage: usage, set: func(c *Config, v string) error {
		*f(c) = splitList(v)
		return nil
	}}
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// settings lists every setting, in the order of --help.
var settings = []setting{
	str("addr", "address to listen on", func(c *Config) *string { return &c.Addr }),
	str("log-level", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
	duration("shutdown-timeout", "how long SIGTERM waits for in-flight requests, then for in-flight sends", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	bytesize("max-body-bytes", "largest request body accepted", func(c *Config) *int64 { return &c.MaxBodyBytes }),

	secretStr("postgres-url", "PostgreSQL URL: durable queue, store, dedup and API keys (postgres://user:pass@host/db)", func(c *Config) *string { return &c.PostgresURL }),
	str("postgres-schema", "PostgreSQL schema of notify's tables", func(c *Config) *string { return &c.PostgresSchema }),
	secretStr("key-encryption-key", "base64 AES-256 key (32 bytes) encrypting API secrets in PostgreSQL; make one with: openssl rand -base64 32", func(c *Config) *string { return &c.KeyEncryptionKey }),
	str("redis-addr", "Redis host:port: shared dedup and rate limits", func(c *Config) *string { return &c.RedisAddr }),
	secretStr("redis-password", "Redis password", func(c *Config) *string { return &c.RedisPassword }),
	integer("redis-db", "Redis database number", func(c *Config) *int { return &c.RedisDB }),
	str("sqs-region", "AWS region of the SQS queues: SQS carries the deliveries (needs --postgres-url for the log)", func(c *Config) *string { return &c.SQSRegion }),
	str("sqs-endpoint", "SQS endpoint override (a local SQS server)", func(c *Config) *string { return &c.SQSEndpoint }),
	str("sqlite", "SQLite file: a durable queue, store and dedup on one machine, nothing to run (default notifyd.db when neither --postgres-url nor --memory is given)", func(c *Config) *string { return &c.SQLite }),
	boolean("memory", "keep everything in this process's memory: nothing is durable (for trying notifyd)", func(c *Config) *bool { return &c.Memory }),
	boolean("sqs-create-queues", "create missing SQS queues (with their dead-letter queues)", func(c *Config) *bool { return &c.SQSCreateQueues }),
	str("queue-prefix", "prefix of each channel's queue name (empty: notify.); SQS queues are named after it; one per environment sharing a backend", func(c *Config) *string { return &c.QueuePrefix }),
	duration("queue-visibility", "lease of a received job before another worker may take it (0: the backend's default)", func(c *Config) *time.Duration { return &c.QueueVisibility }),

	str("categories", "JSON file of category policies: {\"marketing\": {\"opt_in\": true, \"quiet_hours\": \"21:00-08:00\", \"limit\": {\"rate\": 3, \"per\": \"24h\"}, \"over_limit\": \"drop\"}} (without it every category is opt-out, unlimited, at any hour)", func(c *Config) *string { return &c.Categories }),
	str("templates", "JSON file of templates: {\"name\": {\"locale or empty\": {\"push\": {\"title\", \"body\"}, \"sms\": {\"body\"}, \"email\": {\"subject\", \"text\", \"html\"}}}} (without it only inline content can be sent)", func(c *Config) *string { return &c.Templates }),
	str("track-base-url", "public URL of this server for tracking links (clicks /t/c/..., opens /t/o/...); with --track-keys, templates get trackClick, trackOpen and trackPixel", func(c *Config) *string { return &c.TrackBaseURL }),
	secretStr("track-keys", "HMAC keys of tracking links: base64, comma-separated, newest first (openssl rand -base64 32)", func(c *Config) *string { return &c.TrackKeys }),
	str("unsubscribe-base-url", "public https URL of this server for one-click unsubscribe links (/u/...); with --unsubscribe-keys, SES email carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)", func(c *Config) *string { return &c.UnsubscribeBaseURL }),
	secretStr("unsubscribe-keys", "HMAC keys of unsubscribe links: base64, comma-separated, newest first (openssl rand -base64 32)", func(c *Config) *string { return &c.UnsubscribeKeys }),
	str("unsubscribe-categories", "comma-separated categories whose email gets an unsubscribe link (empty: every category; critical notifications never do)", func(c *Config) *string { return &c.UnsubscribeCategories }),
	str("key-file", "embedded mode: JSON file of API keys, created with one fresh key when missing", func(c *Config) *string { return &c.KeyFile }),
	secretStr("bootstrap-key", "embedded mode: one API key as id:secret:scopes (prefer the variable NOTIFYD_BOOTSTRAP_KEY)", func(c *Config) *string { return &c.BootstrapKey }),

	boolean("operator-console", "serve the operator console (queues, dead letters, search, engagement) at /console/; log in with an admin key's ID and secret", func(c *Config) *bool { return &c.OperatorConsole }),
	boolean("operator-console-read-only", "the operator console shows, never replays", func(c *Config) *bool { return &c.OperatorConsoleReadOnly }),
	boolean("operator-console-secure-cookies", "mark the console's cookies Secure on plain HTTP too (set it when TLS ends at a proxy in front)", func(c *Config) *bool { return &c.OperatorConsoleSecureCookies }),
	secretStr("operator-console-key", "base64 key (32 bytes or more) signing console sessions; the same on every instance behind one address (default: a random key per start, which logs everyone out on restart)", func(c *Config) *string { return &c.OperatorConsoleKey }),

	integer("workers", "concurrent sends per channel (0: the library's default, 8)", func(c *Config) *int { return &c.Workers }),
	duration("send-timeout", "bound on one provider call (0: the library's default, 30s)", func(c *Config) *time.Duration { return &c.SendTimeout }),
	str("default-time-zone", "IANA time zone of quiet hours for contacts whose time_zone is empty or unknown (empty: UTC)", func(c *Config) *string { return &c.DefaultTimeZone }),

	boolean("console", "stand a console channel in for every provider that has no credentials", func(c *Config) *bool { return &c.Console }),
	str("console-out", "where console channels write: stdout, stderr, log, or a file path (appended)", func(c *Config) *string { return &c.ConsoleOut }),

	str("apns-key-file", "APNs .p8 signing key (token auth, with --apns-key-id and --apns-team-id)", func(c *Config) *string { return &c.APNsKeyFile }),
	str("apns-key-id", "APNs signing key ID", func(c *Config) *string { return &c.APNsKeyID }),
	str("apns-team-id", "Apple developer team ID", func(c *Config) *string { return &c.APNsTeamID }),
	str("apns-cert-file", "APNs .p12 or .pem client certificate (certificate auth)", func(c *Config) *string { return &c.APNsCertFile }),
	secretStr("apns-cert-password", "password of --apns-cert-file", func(c *Config) *string { return &c.APNsCertPassword }),
	str("apns-topic", "default apns-topic (the app's bundle ID)", func(c *Config) *string { return &c.APNsTopic }),
	boolean("apns-production", "use api.push.apple.com instead of the sandbox", func(c *Config) *bool { return &c.APNsProduction }),
	str("apns-host", "APNs URL override (a local test server)", func(c *Config) *string { return &c.APNsHost }),

	str("fcm-credentials-file", "FCM service-account JSON key", func(c *Config) *string { return &c.FCMCredentialsFile }),
	str("fcm-project-id", "Firebase project ID (with Application Default Credentials when no key file)", func(c *Config) *string { return &c.FCMProjectID }),
	str("fcm-endpoint", "FCM endpoint override (a local test server)", func(c *Config) *string { return &c.FCMEndpoint }),

	str("twilio-account-sid", "Twilio account SID (AC...)", func(c *Config) *string { return &c.TwilioAccountSID }),
	secretStr("twilio-auth-token", "Twilio auth token (prefer the variable NOTIFYD_TWILIO_AUTH_TOKEN)", func(c *Config) *string { return &c.TwilioAuthToken }),
	str("twilio-from", "default SMS sender", func(c *Config) *string { return &c.TwilioFrom }),
	str("twilio-messaging-service-sid", "default Twilio Messaging Service (MG...)", func(c *Config) *string { return &c.TwilioMessagingServiceSID }),
	str("twilio-status-callback", "public URL of this server's /v1/webhooks/twilio; set it to receive delivery reports", func(c *Config) *string { return &c.TwilioStatusCallback }),
	str("twilio-base-url", "Twilio API URL override (a local test server)", func(c *Config) *string { return &c.TwilioBaseURL }),
	str("sms-default-region", "region (ISO 3166, \"US\") whose national phone numbers contacts may use; they are stored as E.164 (empty: only international numbers)", func(c *Config) *string { return &c.SMSDefaultRegion }),
	boolean("sms-allow-landlines", "accept fixed-line phone numbers for SMS (refused by default: a landline cannot receive a text)", func(c *Config) *bool { return &c.SMSAllowLandlines }),

	str("ses-from", "default email sender, an identity verified in SES; enables the SES channel", func(c *Config) *string { return &c.SESFrom }),
	str("ses-region", "AWS region of SES", func(c *Config) *string { return &c.SESRegion }),
	str("ses-endpoint", "SES endpoint override (a local SES server)", func(c *Config) *string { return &c.SESEndpoint }),
	str("ses-configuration-set", "default SES configuration set", func(c *Config) *string { return &c.SESConfigurationSet }),
	list("ses-topic-arns", "SNS topics of the configuration set's event destination; mounts /v1/webhooks/ses", func(c *Config) *[]string { return &c.SESTopicARNs }),
}

// settingNamed returns the setting of that name.
func settingNamed(name string) (setting, bool) {
	for _, s := range settings {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// envName is the environment variable of a setting.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// configFileSetting names the config file; it is read before the others
// and has no key in the file itself.
const configFileSetting = "config"

// rawFlag is one flag as given on the command line.
type rawFlag struct {
	name, value string
}

// recorder is a flag.Value that records the flags given, in order, to be
// applied after the file and the environment.
type recorder struct {
	name   string
	isBool bool
	seen   *[]rawFlag
}

func (r recorder) String() string { return "" }

func (r recorder) Set(v string) error {
	*r.seen = append(*r.seen, rawFlag{r.name, v})
	return nil
}

func (r recorder) IsBoolFlag() bool { return r.isBool }

// addSettingFlags defines a flag per setting (and --config) on fs, each
// recording into seen.
func addSettingFlags(fs *flag.FlagSet, seen *[]rawFlag) {
	fs.Var(recorder{name: configFileSetting, seen: seen}, configFileSetting, "JSON config file (keys are the flag names); also "+envName(configFileSetting))
	def := defaults()
	for _, s := range settings {
		usage := s.usage + " (" + envName(s.name) + ")"
		if d := defaultString(def, s.name); d != "" {
			usage += " (default " + d + ")"
		}
		fs.Var(recorder{name: s.name, isBool: s.isBool, seen: seen}, s.name, usage)
	}
}

// defaultString is the default of a setting as text, empty when it has none.
func defaultString(c Config, name string) string {
	switch name {
	case "addr":
		return c.Addr
	case "log-level":
		return c.LogLevel
	case "shutdown-timeout":
		return c.ShutdownTimeout.String()
	case "max-body-bytes":
		return strconv.FormatInt(c.MaxBodyBytes, 10)
	case "postgres-schema":
		return c.PostgresSchema
	case "console":
		return "true"
	case "console-out":
		return c.ConsoleOut
	}
	return ""
}

// loadConfig builds the configuration from the defaults, then the file
// (flags' --config, else NOTIFYD_CONFIG), then the environment, then the
// flags recorded in seen.
func loadConfig(seen []rawFlag, getenv func(string) string) (Config, error) {
	c := defaults()
	path := getenv(envName(configFileSetting))
	for _, f := range seen {
		if f.name == configFileSetting {
			path = f.value
		}
	}
	if path != "" {
		if err := applyFile(&c, path); err != nil {
			return Config{}, err
		}
	}
	for _, s := range settings {
		env := envName(s.name)
		v, ok := lookupEnv(getenv, env)
		if !ok {
			continue
		}
		if err := s.set(&c, v); err != nil {
			return Config{}, badValue(s, "variable "+env, v, err)
		}
	}
	for _, f := range seen {
		if f.name == configFileSetting {
			continue
		}
		s, _ := settingNamed(f.name)
		if err := s.set(&c, f.value); err != nil {
			return Config{}, badValue(s, "flag --"+f.name, f.value, err)
		}
	}
	return c, nil
}

// lookupEnv reports a variable that is set and not empty.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func badValue(s setting, where, v string, err error) error {
	if s.secret {
		return fmt.Errorf("%s: %v", where, err)
	}
	return fmt.Errorf("%s=%q: %v", where, v, err)
}

// applyFile sets c from a JSON object whose keys are setting names and
// whose values are strings, numbers, booleans or (for lists) arrays of
// strings. An unknown key is an error, so a typo does not go unnoticed.
func applyFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("config file %s: not a JSON object: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("config file %s: data after the JSON object", path)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := settingNamed(k)
		if !ok {
			return fmt.Errorf("config file %s: unknown key %q (keys are the flag names, see notifyd serve --help)", path, k)
		}
		v, err := fileValue(m[k])
		if err != nil {
			return fmt.Errorf("config file %s: key %q: %v", path, k, err)
		}
		if err := s.set(c, v); err != nil {
			return badValue(s, "config file "+path+": key "+strconv.Quote(k), v, err)
		}
	}
	return nil
}

// fileValue turns a JSON value into the text a flag would carry.
func fileValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		items := make([]string, len(v))
		for i, it := range v {
			s, ok := it.(string)
			if !ok || strings.Contains(s, ",") {
				return "", errors.New("a list holds strings without commas")
			}
			items[i] = s
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a string, a number, a boolean or a list of strings")
}
