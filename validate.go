package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// validate checks what can be checked without the backends.
func (d *Dispatcher) validate(n *Notification) error {
	if n.UserID == "" && len(n.To) == 0 {
		return invalid("UserID", "no recipient: set UserID, or list explicit addresses in To")
	}
	for _, f := range [...]struct{ name, v string }{{"EventID", n.EventID}, {"UserID", n.UserID}, {"Category", n.Category}, {"Template", n.Template}} {
		if len(f.v) > 255 {
			return invalid(f.name, "%d bytes long; at most 255", len(f.v))
		}
		if !utf8.ValidString(f.v) {
			return invalid(f.name, "not valid UTF-8")
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			return invalid(f.name, "contains a NUL byte")
		}
	}
	if n.Category == AllCategories {
		return invalid("Category", "%q is reserved for opt-outs of every category (AllCategories)", AllCategories)
	}
	switch {
	case n.Template == "" && n.Content == nil:
		return invalid("Template", "no content: set Template (with Data) or Content")
	case n.Template != "" && n.Content != nil:
		return invalid("Content", "set Template or Content, not both")
	case n.Template != "" && d.cfg.Renderer == nil:
		return invalid("Template", "this Dispatcher has no Renderer (set Config.Renderer) to render template %q", n.Template)
	case n.Content != nil && n.Content.IsZero():
		return invalid("Content", "empty message")
	}
	for i, c := range n.Channels {
		if _, ok := d.channels[c]; !ok {
			return invalid("Channels["+strconv.Itoa(i)+"]", "unknown channel %q; this Dispatcher has %v", c, d.names)
		}
	}
	for i, a := range n.To {
		if _, ok := d.channels[a.Channel]; !ok {
			return invalid("To["+strconv.Itoa(i)+"].Channel", "unknown channel %q; this Dispatcher has %v", a.Channel, d.names)
		}
		if a.Value == "" {
			return invalid("To["+strconv.Itoa(i)+"].Value", "empty address")
		}
		if len(a.Value) > 1024 || !utf8.ValidString(a.Value) {
			return invalid("To["+strconv.Itoa(i)+"].Value", "not an address: %d bytes, or not valid UTF-8", len(a.Value))
		}
	}
	if n.TTL < 0 {
		return invalid("TTL", "negative (%s)", n.TTL)
	}
	if n.Priority < PriorityNormal || n.Priority > PriorityLow {
		return invalid("Priority", "unknown priority %d", n.Priority)
	}
	if err := checkData(n.Data, 0); err != nil {
		return &ValidationError{Field: "Data", Reason: err.Error() + "; Data must marshal to JSON (it is stored with the delivery)", Err: err}
	}
	for k := range n.Options {
		if _, ok := d.channels[k]; !ok {
			return invalid("Options."+k, "options for unknown channel %q; this Dispatcher has %v", k, d.names)
		}
	}
	return nil
}

// checkData reports whether v marshals to JSON, walking the common shapes
// without allocating and marshaling only what it does not know.
func checkData(v any, depth int) error {
	if depth > 32 {
		return errors.New("nested more than 32 levels deep")
	}
	switch x := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		json.Number, time.Time, []string, map[string]string:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		return nil
	case float32:
		return checkData(float64(x), depth)
	case map[string]any:
		for k, e := range x {
			if err := checkData(e, depth+1); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if err := checkData(e, depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	_, err := json.Marshal(v)
	return err
}
