package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxChannelNames bounds len(Notification.Channels).
const maxChannelNames = 64

// validate checks what can be checked without the backends. Every check is
// linear in the size of n, and the sizes are checked before the contents,
// so an oversized Notification is turned away cheaply.
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
	if err := d.checkConsentPolicy(n); err != nil {
		return err
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
	if len(n.Channels) > maxChannelNames {
		return invalid("Channels", "%d names; at most %d (this Dispatcher has %d channels: %v)", len(n.Channels), maxChannelNames, len(d.names), d.names)
	}
	for i, c := range n.Channels {
		if _, ok := d.channels[c]; !ok {
			return invalid("Channels["+strconv.Itoa(i)+"]", "unknown channel %q; this Dispatcher has %v", c, d.names)
		}
	}
	if len(n.To) > d.cfg.MaxRecipients {
		return invalid("To", "%d addresses; at most %d (Config.MaxRecipients): split the notification, or send to each user by UserID", len(n.To), d.cfg.MaxRecipients)
	}
	for i, a := range n.To {
		if _, ok := d.channels[a.Channel]; !ok {
			return invalid("To["+strconv.Itoa(i)+"].Channel", "unknown channel %q; this Dispatcher has %v", a.Channel, d.names)
		}
		switch {
		case a.Value == "":
			return invalid("To["+strconv.Itoa(i)+"].Value", "empty address")
		case len(a.Value) > 1024:
			return invalid("To["+strconv.Itoa(i)+"].Value", "not an address: %d bytes long; at most 1024", len(a.Value))
		case !utf8.ValidString(a.Value):
			return invalid("To["+strconv.Itoa(i)+"].Value", "not an address: not valid UTF-8")
		case strings.IndexByte(a.Value, 0) >= 0:
			return invalid("To["+strconv.Itoa(i)+"].Value", "not an address: contains a NUL byte")
		}
	}
	if n.TTL < 0 {
		return invalid("TTL", "negative (%s)", n.TTL)
	}
	if n.Priority < PriorityNormal || n.Priority > PriorityLow {
		return invalid("Priority", "unknown priority %d", n.Priority)
	}
	if err := d.checkMetadata(n.Metadata); err != nil {
		return err
	}
	js := jsonSizer{max: d.cfg.MaxDataBytes}
	if err := js.walk(n.Data, 0); err != nil {
		if errors.Is(err, errOverBudget) {
			return &ValidationError{Field: "Data", Reason: fmt.Sprintf("more than %d bytes as JSON (Config.MaxDataBytes): Data is stored with every delivery; pass large content by reference", d.cfg.MaxDataBytes), Err: err}
		}
		return &ValidationError{Field: "Data", Reason: err.Error() + "; Data must marshal to JSON (it is stored with the delivery)", Err: err}
	}
	js = jsonSizer{max: d.cfg.MaxDataBytes}
	for k, o := range n.Options {
		if _, ok := d.channels[k]; !ok {
			return invalid("Options."+k, "options for unknown channel %q; this Dispatcher has %v", k, d.names)
		}
		if o == nil {
			continue
		}
		if err := js.walk(o, 0); err != nil {
			if errors.Is(err, errOverBudget) {
				return &ValidationError{Field: "Options", Reason: fmt.Sprintf("more than %d bytes as JSON (Config.MaxDataBytes), all channels together", d.cfg.MaxDataBytes), Err: err}
			}
			return &ValidationError{Field: "Options." + k, Reason: "does not marshal to JSON: " + err.Error(), Err: err}
		}
	}
	return nil
}

// checkMetadata checks Metadata against the Config's limits: sizes first,
// then each key and value is valid UTF-8 without NUL bytes (the log stores
// them as text).
func (d *Dispatcher) checkMetadata(md map[string]string) error {
	if len(md) == 0 {
		return nil
	}
	if len(md) > d.cfg.MaxMetadataKeys {
		return invalid("Metadata", "%d keys; at most %d (Config.MaxMetadataKeys)", len(md), d.cfg.MaxMetadataKeys)
	}
	size := 0
	for k, v := range md {
		size += len(k) + len(v)
	}
	if size > d.cfg.MaxMetadataBytes {
		return invalid("Metadata", "%d bytes of keys and values; at most %d (Config.MaxMetadataBytes)", size, d.cfg.MaxMetadataBytes)
	}
	for k, v := range md {
		if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return invalid("Metadata", "key %q is not valid UTF-8 or contains a NUL byte", k)
		}
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return invalid("Metadata", "the value of key %q is not valid UTF-8 or contains a NUL byte", k)
		}
	}
	return nil
}

// errOverBudget stops a jsonSizer walk past its budget.
var errOverBudget = errors.New("over the size limit")

// jsonSizer checks that values marshal to JSON and adds up their size as
// JSON, approximately (string escapes are not counted), walking the common
// shapes without allocating and marshaling only what it does not know. It
// stops with errOverBudget as soon as the size passes max, so its cost is
// bounded by max rather than by the value.
type jsonSizer struct {
	n, max int
}

func (s *jsonSizer) add(n int) error {
	s.n += n
	if s.n > s.max {
		return errOverBudget
	}
	return nil
}

func (s *jsonSizer) walk(v any, depth int) error {
	if depth > 32 {
		return errors.New("nested more than 32 levels deep")
	}
	var num [32]byte
	switch x := v.(type) {
	case nil:
		return s.add(4)
	case string:
		return s.add(len(x) + 2)
	case bool:
		return s.add(5)
	case int, int8, int16, int32, int64:
		return s.add(len(strconv.AppendInt(num[:0], reflect.ValueOf(x).Int(), 10)))
	case uint, uint8, uint16, uint32, uint64:
		return s.add(len(strconv.AppendUint(num[:0], reflect.ValueOf(x).Uint(), 10)))
	case json.Number:
		return s.add(len(x))
	case time.Time:
		return s.add(len(time.RFC3339Nano) + 2)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		return s.add(len(strconv.AppendFloat(num[:0], x, 'g', -1, 64)))
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%v is not a JSON number", x)
		}
		return s.add(len(strconv.AppendFloat(num[:0], float64(x), 'g', -1, 32)))
	case []string:
		if err := s.add(2 + len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := s.add(len(e) + 2); err != nil {
				return err
			}
		}
		return nil
	case map[string]string:
		if err := s.add(2 + len(x)); err != nil {
			return err
		}
		for k, e := range x {
			if err := s.add(len(k) + len(e) + 5); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if err := s.add(2 + len(x)); err != nil {
			return err
		}
		for k, e := range x {
			if err := s.add(len(k) + 3); err != nil {
				return err
			}
			if err := s.walk(e, depth+1); err != nil {
				if errors.Is(err, errOverBudget) {
					return err
				}
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	case []any:
		if err := s.add(2 + len(x)); err != nil {
			return err
		}
		for i, e := range x {
			if err := s.walk(e, depth+1); err != nil {
				if errors.Is(err, errOverBudget) {
					return err
				}
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.add(len(b))
}
