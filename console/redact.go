package console

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// redacted replaces a value the console does not show.
const redacted = "[redacted]"

// maskAddress hides most of an address, whatever its channel: an e-mail
// address keeps its first character and its domain (a•••@example.com), a
// phone number its first three and last two digits (+15•••••67), anything
// else (a device token) its first and last four characters.
func maskAddress(s string) string {
	if s == "" {
		return ""
	}
	if local, domain, ok := strings.Cut(s, "@"); ok && local != "" && domain != "" && !strings.ContainsAny(s, " \t") {
		return firstRunes(local, 1) + "•••@" + domain
	}
	if phoneLike.MatchString(s) {
		digits := []rune(s)
		if len(digits) <= 6 {
			return "•••"
		}
		return string(digits[:3]) + strings.Repeat("•", len(digits)-5) + string(digits[len(digits)-2:])
	}
	r := []rune(s)
	if len(r) <= 12 {
		return "••••"
	}
	return string(r[:4]) + "…" + string(r[len(r)-4:])
}

var phoneLike = regexp.MustCompile(`^\+?[0-9][0-9 ().-]{5,}$`)

func firstRunes(s string, n int) string {
	r := []rune(s)
	if len(r) < n {
		return s
	}
	return string(r[:n])
}

// secretName matches the names of fields the console never shows.
var secretName = regexp.MustCompile(`(?i)token|secret|passw|pwd|key|auth|sig|credential|session|cookie|bearer|otp|pin$`)

// secretParam matches a URL query parameter whose name looks secret, with
// its value.
var secretParam = regexp.MustCompile(`(?i)([?&][a-z0-9_.-]*(?:token|secret|sig|key|auth|passw|code)[a-z0-9_.-]*=)[^&\s"'<>#]+`)

// redactLinks hides the values of secret-looking query parameters in
// links within s (signed tracking links, reset tokens).
func redactLinks(s string) string {
	return secretParam.ReplaceAllString(s, "${1}"+redacted)
}

// field is one name and value shown on the dead-letter page.
type field struct {
	Name, Value string
}

// redactStrings returns m's entries sorted by name, secret-looking names'
// values replaced, addresses masked and links redacted.
func redactStrings(m map[string]string) []field {
	out := make([]field, 0, len(m))
	for k, v := range m {
		out = append(out, field{k, redactValue(k, v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// redactAny is redactStrings for template data, whose values are any JSON
// value: nested objects are redacted field by field and shown as JSON.
func redactAny(m map[string]any) []field {
	out := make([]field, 0, len(m))
	for k, v := range m {
		var s string
		if secretName.MatchString(k) {
			s = redacted
		} else if str, ok := v.(string); ok {
			s = redactValue(k, str)
		} else {
			b, err := json.Marshal(redactJSON(v))
			if err != nil {
				s = fmt.Sprintf("(%T)", v)
			} else {
				s = string(b)
			}
		}
		out = append(out, field{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// redactValue is what the console shows for the value v of field name.
func redactValue(name, v string) string {
	if secretName.MatchString(name) {
		return redacted
	}
	if looksLikeAddress(v) {
		return maskAddress(v)
	}
	return redactLinks(v)
}

// looksLikeAddress reports whether v is an e-mail address or a phone
// number on its own.
func looksLikeAddress(v string) bool {
	if phoneLike.MatchString(v) {
		return true
	}
	local, domain, ok := strings.Cut(v, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(v, " \t<>")
}

// redactJSON walks a decoded JSON value, replacing the values of
// secret-looking keys and masking address-like strings.
func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if secretName.MatchString(k) {
				out[k] = redacted
				continue
			}
			out[k] = redactJSON(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = redactJSON(val)
		}
		return out
	case string:
		if looksLikeAddress(x) {
			return maskAddress(x)
		}
		return redactLinks(x)
	}
	return v
}

// redactRaw redacts a raw JSON document (a delivery's channel options) and
// indents it; what does not parse is not shown.
func redactRaw(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "(not JSON; not shown)"
	}
	b, err := json.MarshalIndent(redactJSON(v), "", "  ")
	if err != nil {
		return "(not shown)"
	}
	return string(b)
}
