package email

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"sort"
	"strings"

	"github.com/gonotify/notify/channel/internal/options"
)

// Options are per-notification email settings. The host puts them under
// Notification.Options["email"]; the channel receives them as
// Delivery.Options. Zero fields fall back to the channel's Config.
type Options struct {
	// From overrides Config.From: "Display Name <address>" or a bare address.
	From string `json:"from,omitempty"`
	// ReplyTo overrides Config.ReplyTo.
	ReplyTo []string `json:"reply_to,omitempty"`
	// ConfigurationSet overrides Config.ConfigurationSet (the SES
	// configuration set whose event destinations report bounces,
	// complaints, opens and clicks).
	ConfigurationSet string `json:"configuration_set,omitempty"`
	// Headers are added to the message, after Config.Headers (a name in
	// both takes this value). Names and values must be printable ASCII;
	// headers SES sets itself (From, To, Subject, ...) are refused.
	Headers map[string]string `json:"headers,omitempty"`
	// ListUnsubscribe lists unsubscribe targets (https: or mailto: URLs)
	// for the List-Unsubscribe header (RFC 2369), which bulk senders must
	// carry. It overrides Config.Unsubscribe.
	ListUnsubscribe []string `json:"list_unsubscribe,omitempty"`
	// OneClick adds "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
	// (RFC 8058): mail clients unsubscribe with a POST to the https target.
	// It needs an https target in ListUnsubscribe.
	OneClick bool `json:"one_click,omitempty"`
	// Tags are extra SES message tags (EmailTags), after Config.Tags. Names
	// and values are sanitized to SES's charset (letters, digits, _ and -).
	Tags map[string]string `json:"tags,omitempty"`
}

// DecodeOptions decodes raw (a Delivery's Options) strictly: unknown
// fields are an error, so a misspelt option fails at accept time, and raw
// must be one JSON value. Empty raw, or null, gives zero Options. The
// error says what did not decode and wraps encoding/json's.
func DecodeOptions(raw json.RawMessage) (Options, error) {
	return options.Decode[Options](raw, "email")
}

// reservedHeaders are set by SES or by the channel itself.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "reply-to": true, "sender": true,
	"return-path": true, "message-id": true, "date": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "content-disposition": true, "dkim-signature": true,
	"list-unsubscribe": true, "list-unsubscribe-post": true, // use ListUnsubscribe and OneClick
}

// checkHeader validates one custom header against SES's rules: name of 1 to
// 126 printable ASCII characters without ':', value of printable ASCII, name
// and value together at most 996 characters.
func checkHeader(name, value string) error {
	if name == "" || len(name) > 126 {
		return fmt.Errorf("header name %q must be 1 to 126 characters", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("header name %q may hold only printable ASCII without ':'", name)
		}
	}
	if reservedHeaders[strings.ToLower(name)] {
		return fmt.Errorf("header %q is set by SES or by the channel; it cannot be a custom header", name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 32 && c != '\t') || c > 126 {
			return fmt.Errorf("header %s: the value may hold only printable ASCII (no line breaks); encode it (RFC 2047) first", name)
		}
	}
	if len(name)+len(value) > 996 {
		return fmt.Errorf("header %s: name and value are %d characters; SES allows 996", name, len(name)+len(value))
	}
	return nil
}

// unsubscribeHeaders builds List-Unsubscribe (and List-Unsubscribe-Post)
// from targets.
func unsubscribeHeaders(targets []string, oneClick bool) ([][2]string, error) {
	if len(targets) == 0 {
		if oneClick {
			return nil, fmt.Errorf("one-click unsubscribe needs an https target in list_unsubscribe")
		}
		return nil, nil
	}
	parts := make([]string, len(targets))
	https := false
	for i, t := range targets {
		u, err := url.Parse(t)
		if err != nil || !(u.Scheme == "https" && u.Host != "" || u.Scheme == "mailto" && u.Opaque != "") {
			return nil, fmt.Errorf("unsubscribe target %q must be an https: or mailto: URL", t)
		}
		if strings.ContainsAny(t, "<>\r\n") {
			return nil, fmt.Errorf("unsubscribe target %q holds '<', '>' or a line break", t)
		}
		https = https || u.Scheme == "https"
		parts[i] = "<" + t + ">"
	}
	if oneClick && !https {
		return nil, fmt.Errorf("one-click unsubscribe needs an https target in list_unsubscribe")
	}
	h := [][2]string{{"List-Unsubscribe", strings.Join(parts, ", ")}}
	if oneClick {
		h = append(h, [2]string{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"})
	}
	for _, kv := range h {
		if len(kv[0])+len(kv[1]) > 996 {
			return nil, fmt.Errorf("the List-Unsubscribe header is %d characters; SES allows 996", len(kv[0])+len(kv[1]))
		}
		for i := 0; i < len(kv[1]); i++ {
			if c := kv[1][i]; c < 32 || c > 126 {
				return nil, fmt.Errorf("unsubscribe targets must be ASCII; percent-encode them")
			}
		}
	}
	return h, nil
}

// mergeHeaders returns base overridden by over, sorted by name for a
// stable message.
func mergeHeaders(base, over map[string]string) [][2]string {
	m := make(map[string][2]string, len(base)+len(over))
	for k, v := range base {
		m[strings.ToLower(k)] = [2]string{k, v}
	}
	for k, v := range over {
		m[strings.ToLower(k)] = [2]string{k, v}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// parseAddress parses one address as net/mail does, refusing lists and
// line breaks, and returns it formatted for SES (a non-ASCII display name
// is RFC 2047 encoded).
func parseAddress(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%q holds a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address: %w", s, err)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "", fmt.Errorf("%q is not an email address: no domain", s)
	}
	if len(a.Address) > 320 {
		return "", fmt.Errorf("%q is longer than 320 characters", a.Address)
	}
	if a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}

// sanitizeTag maps s into SES's message tag charset (ASCII letters, digits,
// '_' and '-'), at most 256 characters; anything else becomes '_'. An empty
// result is "none".
func sanitizeTag(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == 256 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
