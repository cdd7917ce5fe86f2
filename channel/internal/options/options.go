// Package options decodes a channel's per-delivery options
// (notify.Delivery.Options) the one way every channel does: strictly.
package options

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decode decodes raw, a Delivery's Options, into a T for the channel named
// channel ("apns", "fcm", "sms", "email"):
//
//   - raw empty (or JSON whitespace only) or the JSON null gives T's zero
//     value: the notification set no options for the channel;
//   - a field T does not have is an error, so that a misspelt option fails
//     the delivery's validation instead of being ignored;
//   - raw is exactly one JSON value: anything after it is an error.
//
// An error reads "decode <channel> options: <cause> (see
// <channel>.Options for the fields)" and wraps the cause (a
// *json.SyntaxError, a *json.UnmarshalTypeError, ...); T's zero value comes
// with it.
func Decode[T any](raw json.RawMessage, channel string) (T, error) {
	var v T
	if t := trimJSONSpace(raw); len(t) == 0 || string(t) == "null" {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	if err == nil {
		if rest := trimJSONSpace(raw[dec.InputOffset():]); len(rest) > 0 {
			err = fmt.Errorf("invalid character %q after the options value: send one JSON object", rest[0])
		}
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("decode %s options: %w (see %s.Options for the fields)", channel, err, channel)
	}
	return v, nil
}

// trimJSONSpace is b without the whitespace JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}
