package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
	"github.com/gonotify/notify/track"
	"github.com/gonotify/notify/unsubscribe"
)

// templateFile is the --templates file: template name, then locale ("" for
// the default), then each kind of channel's variant.
type templateFile map[string]map[string]struct {
	Push  *template.Push  `json:"push"`
	SMS   *template.SMS   `json:"sms"`
	Email *template.Email `json:"email"`
}

// openSigner returns the tracking links' Signer of --track-base-url and
// --track-keys, or nil when tracking is off.
func openSigner(cfg *Config) (*track.Signer, error) {
	if cfg.TrackBaseURL == "" && cfg.TrackKeys == "" {
		return nil, nil
	}
	if cfg.TrackBaseURL == "" || cfg.TrackKeys == "" {
		return nil, fmt.Errorf("--track-base-url and --track-keys go together: the public URL of this server, and the links' HMAC keys (base64, comma-separated, newest first; make one with: openssl rand -base64 32)")
	}
	var keys [][]byte
	for i, k := range strings.Split(cfg.TrackKeys, ",") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("--track-keys: key %d is not base64", i+1)
		}
		keys = append(keys, b)
	}
	s, err := track.New(track.Config{BaseURL: strings.TrimSuffix(cfg.TrackBaseURL, "/"), Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("--track-base-url/--track-keys: %w", err)
	}
	return s, nil
}

// openUnsubscriber returns the unsubscribe links' Signer of
// --unsubscribe-base-url, --unsubscribe-keys and --unsubscribe-categories,
// or nil when one-click unsubscribe is off.
func openUnsubscriber(cfg *Config) (*unsubscribe.Signer, error) {
	if cfg.UnsubscribeBaseURL == "" && cfg.UnsubscribeKeys == "" {
		return nil, nil
	}
	if cfg.UnsubscribeBaseURL == "" || cfg.UnsubscribeKeys == "" {
		return nil, fmt.Errorf("--unsubscribe-base-url and --unsubscribe-keys go together: the public https URL of this server, and the links' HMAC keys (base64, comma-separated, newest first; make one with: openssl rand -base64 32)")
	}
	var keys [][]byte
	for i, k := range strings.Split(cfg.UnsubscribeKeys, ",") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("--unsubscribe-keys: key %d is not base64", i+1)
		}
		keys = append(keys, b)
	}
	var cats []string
	for _, c := range strings.Split(cfg.UnsubscribeCategories, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cats = append(cats, c)
		}
	}
	s, err := unsubscribe.New(unsubscribe.Config{BaseURL: cfg.UnsubscribeBaseURL, Keys: keys, Categories: cats})
	if err != nil {
		return nil, fmt.Errorf("--unsubscribe-base-url/--unsubscribe-keys: %w", err)
	}
	return s, nil
}

// loadTemplates reads --templates into a template Set (with the tracking
// functions when signer is set); nil when no file is given: only
// notifications with inline Content can be sent then.
func loadTemplates(cfg *Config, signer *track.Signer) (notify.Renderer, error) {
	if cfg.Templates == "" {
		return nil, nil
	}
	data, err := os.ReadFile(cfg.Templates)
	if err != nil {
		return nil, fmt.Errorf("--templates: %w", err)
	}
	var file templateFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("--templates %s: want {\"name\": {\"locale or empty\": {\"push\": {...}, \"sms\": {...}, \"email\": {...}}}}: %w", cfg.Templates, err)
	}
	tcfg := template.Config{}
	if signer != nil {
		tcfg.Funcs = signer.Funcs()
	}
	set := template.New(tcfg)
	for name, locales := range file {
		for locale, v := range locales {
			if err := set.Add(name, locale, template.Variants{Push: v.Push, SMS: v.SMS, Email: v.Email}); err != nil {
				return nil, fmt.Errorf("--templates %s: template %q, locale %q: %w", cfg.Templates, name, locale, err)
			}
		}
	}
	return set, nil
}
