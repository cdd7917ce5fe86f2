package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type opts struct {
	From  string            `json:"from,omitempty"`
	N     int               `json:"n,omitempty"`
	Inner map[string]string `json:"inner,omitempty"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want opts
	}{
		{``, opts{}},
		{" \t\r\n", opts{}},
		{`null`, opts{}},
		{" null\n", opts{}},
		{`{}`, opts{}},
		{`{"from":"a","n":2}`, opts{From: "a", N: 2}},
		{" {\"from\":\"a\"} \n", opts{From: "a"}},
		{`{"inner":{"any":"key"}}`, opts{Inner: map[string]string{"any": "key"}}},
	} {
		got, err := Decode[opts](json.RawMessage(tc.raw), "sms")
		if err != nil {
			t.Errorf("Decode(%q): %v", tc.raw, err)
			continue
		}
		if got.From != tc.want.From || got.N != tc.want.N || len(got.Inner) != len(tc.want.Inner) {
			t.Errorf("Decode(%q) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		raw, cause string
	}{
		{`{"form":"a"}`, `unknown field "form"`},
		{`{"n":"2"}`, "cannot unmarshal string"},
		{`[1]`, "cannot unmarshal array"},
		{`{"from":"a"`, "unexpected EOF"},
		{`{"from":"a"}{"n":1}`, `invalid character '{' after the options value`},
		{`{"from":"a"} x`, `invalid character 'x' after the options value`},
		{`{"from":"a"}}`, `invalid character '}' after the options value`},
		{`null null`, "after the options value"},
		{"\v", "invalid character"},
	} {
		got, err := Decode[opts](json.RawMessage(tc.raw), "sms")
		if err == nil {
			t.Errorf("Decode(%q) = %+v, want an error", tc.raw, got)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "decode sms options: ") || !strings.HasSuffix(msg, " (see sms.Options for the fields)") || !strings.Contains(msg, tc.cause) {
			t.Errorf("Decode(%q): error %q does not name the channel and %q", tc.raw, msg, tc.cause)
		}
		if got.From != "" || got.N != 0 {
			t.Errorf("Decode(%q) returned %+v with its error, want the zero value", tc.raw, got)
		}
	}
	_, err := Decode[opts](json.RawMessage(`{"n":true}`), "fcm")
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "n" {
		t.Errorf("error %v does not wrap encoding/json's *UnmarshalTypeError for n", err)
	}
}

// FuzzDecode: Decode accepts exactly what one strict json.Decoder pass
// accepts when it is the whole input, and then decodes the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"from":"a","n":1}`, `{"x":1}`, `{"n":1} `, `{"n":1}{}`, `[]`, ` `, `{"inner":{"k":"v"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Decode[opts](raw, "email")
		trimmed := bytes.Trim(raw, " \t\r\n")
		if len(trimmed) == 0 || string(trimmed) == "null" {
			if err != nil {
				t.Fatalf("Decode(%q): %v, want zero options", raw, err)
			}
			return
		}
		var want opts
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		werr := dec.Decode(&want)
		whole := werr == nil && len(bytes.Trim(raw[dec.InputOffset():], " \t\r\n")) == 0
		if (err == nil) != whole {
			t.Fatalf("Decode(%q): error %v; a strict decoder says %v (whole input: %v)", raw, err, werr, whole)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "decode email options: ") {
				t.Fatalf("Decode(%q): error %q does not name the channel", raw, err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("Decode accepted %q, which is not one JSON value", raw)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Fatalf("Decode(%q) = %s, want %s", raw, g, w)
		}
	})
}
