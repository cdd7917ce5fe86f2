package apns

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/options"
	"github.com/sideshow/apns2"
)

// Options are the APNs settings of one notification. The host puts one
// under Notification.Options["apns"]; every field is optional. The alert
// text comes from the rendered notify.Message (Title, Subtitle, Body) and
// its Data becomes custom top-level payload keys.
type Options struct {
	// Topic overrides Config.Topic (the app's bundle ID). The suffix a push
	// type needs (".voip", ".complication", ".pushkit.fileprovider",
	// ".push-type.liveactivity", ".voip-ptt", ".location-query",
	// ".push-type.widgets") is added when missing.
	Topic string `json:"topic,omitempty"`
	// PushType is the apns-push-type: alert (default), background, voip,
	// liveactivity, complication, fileprovider, location, mdm, pushtotalk
	// or widgets.
	PushType string `json:"push_type,omitempty"`
	// Priority is the apns-priority: 10 (immediately), 5 (power
	// considerate) or 1 (lowest). Zero derives it from the notification's
	// Priority: High is 10, Low is 5, Normal leaves APNs's default (10),
	// and a background push is always 5.
	Priority int `json:"priority,omitempty"`
	// Expiration is when APNs stops trying to deliver. Zero uses the
	// notification's expiry (TTL or ExpiresAt); if neither is set APNs
	// keeps the push for its default period.
	Expiration time.Time `json:"expiration,omitzero"`
	// CollapseID (apns-collapse-id, at most 64 bytes) makes the device show
	// only the latest of the pushes sharing it.
	CollapseID string `json:"collapse_id,omitempty"`

	// ThreadID groups notifications on the device.
	ThreadID string `json:"thread_id,omitempty"`
	// Localized alert keys, looked up in the app's Localizable.strings.
	TitleLocKey     string   `json:"title_loc_key,omitempty"`
	TitleLocArgs    []string `json:"title_loc_args,omitempty"`
	SubtitleLocKey  string   `json:"subtitle_loc_key,omitempty"`
	SubtitleLocArgs []string `json:"subtitle_loc_args,omitempty"`
	LocKey          string   `json:"loc_key,omitempty"`
	LocArgs         []string `json:"loc_args,omitempty"`
	LaunchImage     string   `json:"launch_image,omitempty"`
	// Badge sets the app icon's badge; a pointer to 0 clears it, nil leaves
	// it unchanged.
	Badge *int `json:"badge,omitempty"`
	// Sound names a sound file in the app bundle, or "default".
	Sound string `json:"sound,omitempty"`
	// SoundCritical makes Sound a critical alert (needs Apple's
	// entitlement), played at SoundVolume (0..1; zero means 1).
	SoundCritical bool    `json:"sound_critical,omitempty"`
	SoundVolume   float64 `json:"sound_volume,omitempty"`
	// Category names the app's notification category (its actions).
	Category string `json:"category,omitempty"`
	// MutableContent lets the app's notification service extension modify
	// the push before display.
	MutableContent bool `json:"mutable_content,omitempty"`
	// ContentAvailable wakes the app in the background; background pushes
	// set it whatever this says.
	ContentAvailable bool `json:"content_available,omitempty"`
	// InterruptionLevel is passive, active, time-sensitive or critical.
	InterruptionLevel string `json:"interruption_level,omitempty"`
	// RelevanceScore (0..1) ranks the notification in the summary.
	RelevanceScore *float64 `json:"relevance_score,omitempty"`
	// TargetContentID names the window to bring forward.
	TargetContentID string `json:"target_content_id,omitempty"`
	// FilterCriteria is matched by the app's Focus filter.
	FilterCriteria string `json:"filter_criteria,omitempty"`

	// Live Activity fields (push type liveactivity). Event is start, update
	// or end; Timestamp defaults to the notification's creation time.
	Event          string         `json:"event,omitempty"`
	Timestamp      int64          `json:"timestamp,omitempty"`
	ContentState   map[string]any `json:"content_state,omitempty"`
	DismissalDate  int64          `json:"dismissal_date,omitempty"`
	StaleDate      int64          `json:"stale_date,omitempty"`
	AttributesType string         `json:"attributes_type,omitempty"`
	Attributes     map[string]any `json:"attributes,omitempty"`

	// Custom adds top-level payload keys beside "aps", after the message's
	// Data (Custom wins on a clash). Values may be any JSON.
	Custom map[string]any `json:"custom,omitempty"`
}

// Payload limits in bytes.
const (
	MaxPayload     = 4096
	MaxVoIPPayload = 5120
	MaxCollapseID  = 64
)

// Token lengths in hex characters: today's tokens are 64 (32 bytes); Apple
// says they may grow, so up to 200 are accepted.
const (
	minTokenLen = 64
	maxTokenLen = 200
)

var topicSuffix = map[apns2.EPushType]string{
	apns2.PushTypeVOIP:         ".voip",
	apns2.PushTypeComplication: ".complication",
	apns2.PushTypeFileProvider: ".pushkit.fileprovider",
	apns2.PushTypeLiveActivity: ".push-type.liveactivity",
	apns2.PushTypePushToTalk:   ".voip-ptt",
	apns2.PushTypeLocation:     ".location-query",
	"widgets":                  ".push-type.widgets",
}

func knownPushType(t apns2.EPushType) bool {
	switch t {
	case apns2.PushTypeAlert, apns2.PushTypeBackground, apns2.PushTypeMDM:
		return true
	}
	_, ok := topicSuffix[t]
	return ok
}

// DecodeOptions decodes raw (a Delivery's Options) strictly: unknown
// fields are an error, so a misspelt option fails at accept time, and raw
// must be one JSON value. Empty raw, or null, gives zero Options. The
// error says what did not decode and wraps encoding/json's.
func DecodeOptions(raw json.RawMessage) (Options, error) {
	return options.Decode[Options](raw, "apns")
}

type alert struct {
	Title           string   `json:"title,omitempty"`
	Subtitle        string   `json:"subtitle,omitempty"`
	Body            string   `json:"body,omitempty"`
	TitleLocKey     string   `json:"title-loc-key,omitempty"`
	TitleLocArgs    []string `json:"title-loc-args,omitempty"`
	SubtitleLocKey  string   `json:"subtitle-loc-key,omitempty"`
	SubtitleLocArgs []string `json:"subtitle-loc-args,omitempty"`
	LocKey          string   `json:"loc-key,omitempty"`
	LocArgs         []string `json:"loc-args,omitempty"`
	LaunchImage     string   `json:"launch-image,omitempty"`
}

func (a *alert) empty() bool {
	return a.Title == "" && a.Subtitle == "" && a.Body == "" && a.TitleLocKey == "" &&
		a.SubtitleLocKey == "" && a.LocKey == ""
}

type criticalSound struct {
	Critical int     `json:"critical"`
	Name     string  `json:"name"`
	Volume   float64 `json:"volume"`
}

type aps struct {
	Alert             *alert         `json:"alert,omitempty"`
	Badge             *int           `json:"badge,omitempty"`
	Sound             any            `json:"sound,omitempty"`
	ThreadID          string         `json:"thread-id,omitempty"`
	Category          string         `json:"category,omitempty"`
	ContentAvailable  int            `json:"content-available,omitempty"`
	MutableContent    int            `json:"mutable-content,omitempty"`
	TargetContentID   string         `json:"target-content-id,omitempty"`
	InterruptionLevel string         `json:"interruption-level,omitempty"`
	RelevanceScore    *float64       `json:"relevance-score,omitempty"`
	FilterCriteria    string         `json:"filter-criteria,omitempty"`
	Timestamp         int64          `json:"timestamp,omitempty"`
	Event             string         `json:"event,omitempty"`
	ContentState      map[string]any `json:"content-state,omitempty"`
	DismissalDate     int64          `json:"dismissal-date,omitempty"`
	StaleDate         int64          `json:"stale-date,omitempty"`
	AttributesType    string         `json:"attributes-type,omitempty"`
	Attributes        map[string]any `json:"attributes,omitempty"`
}

func optErr(field, format string, args ...any) *notify.ValidationError {
	return &notify.ValidationError{Field: "Options.apns." + field, Reason: fmt.Sprintf(format, args...)}
}

// build turns d into the apns2 notification to push, or explains with a
// *notify.ValidationError why APNs would refuse it. It decodes d.Options
// once and keeps nothing.
func (c *Channel) build(d *notify.Delivery, now time.Time) (*apns2.Notification, error) {
	if err := checkToken(d.Address); err != nil {
		return nil, &notify.ValidationError{Field: notify.FieldAddress, Reason: err.Error()}
	}
	o, err := DecodeOptions(d.Options)
	if err != nil {
		return nil, &notify.ValidationError{Field: "Options.apns", Reason: err.Error(), Err: err}
	}

	pushType := apns2.EPushType(o.PushType)
	if pushType == "" {
		pushType = apns2.PushTypeAlert
	}
	if !knownPushType(pushType) {
		return nil, optErr("push_type", "unknown push type %q (alert, background, voip, liveactivity, complication, fileprovider, location, mdm, pushtotalk, widgets)", o.PushType)
	}

	topic := o.Topic
	if topic == "" {
		topic = c.cfg.Topic
	}
	if topic == "" && c.tokenAuth {
		return nil, optErr("topic", "no topic: set apns.Config.Topic to the app's bundle ID, or Options.topic (token auth requires apns-topic)")
	}
	if sfx := topicSuffix[pushType]; topic != "" && sfx != "" && !strings.HasSuffix(topic, sfx) {
		topic += sfx
	}

	priority := o.Priority
	switch {
	case priority != 0 && priority != 1 && priority != 5 && priority != 10:
		return nil, optErr("priority", "%d is not an APNs priority (10, 5 or 1)", priority)
	case pushType == apns2.PushTypeBackground && priority == 10:
		return nil, optErr("priority", "a background push must have priority 5 or 1, not 10")
	case priority != 0:
	case pushType == apns2.PushTypeBackground:
		priority = apns2.PriorityLow
	case d.Priority == notify.PriorityHigh:
		priority = apns2.PriorityHigh
	case d.Priority == notify.PriorityLow:
		priority = apns2.PriorityLow
	}

	if len(o.CollapseID) > MaxCollapseID {
		return nil, optErr("collapse_id", "%d bytes long; APNs allows at most %d", len(o.CollapseID), MaxCollapseID)
	}
	expiration := o.Expiration
	if expiration.IsZero() {
		expiration = d.ExpiresAt
	}

	a := aps{
		Badge: o.Badge, ThreadID: o.ThreadID, Category: o.Category, TargetContentID: o.TargetContentID,
		InterruptionLevel: o.InterruptionLevel, RelevanceScore: o.RelevanceScore, FilterCriteria: o.FilterCriteria,
		Event: o.Event, Timestamp: o.Timestamp, ContentState: o.ContentState, DismissalDate: o.DismissalDate,
		StaleDate: o.StaleDate, AttributesType: o.AttributesType, Attributes: o.Attributes,
	}
	al := &alert{
		Title: d.Message.Title, Subtitle: d.Message.Subtitle, Body: d.Message.Body,
		TitleLocKey: o.TitleLocKey, TitleLocArgs: o.TitleLocArgs, SubtitleLocKey: o.SubtitleLocKey,
		SubtitleLocArgs: o.SubtitleLocArgs, LocKey: o.LocKey, LocArgs: o.LocArgs, LaunchImage: o.LaunchImage,
	}
	if !al.empty() {
		a.Alert = al
	}
	switch {
	case o.SoundCritical:
		if o.Sound == "" {
			return nil, optErr("sound", "a critical sound needs a sound name (or \"default\")")
		}
		vol := o.SoundVolume
		if vol == 0 {
			vol = 1
		}
		a.Sound = criticalSound{Critical: 1, Name: o.Sound, Volume: vol}
	case o.Sound != "":
		a.Sound = o.Sound
	}
	if o.SoundVolume < 0 || o.SoundVolume > 1 {
		return nil, optErr("sound_volume", "%v is outside 0..1", o.SoundVolume)
	}
	if o.RelevanceScore != nil && (*o.RelevanceScore < 0 || *o.RelevanceScore > 1) {
		return nil, optErr("relevance_score", "%v is outside 0..1", *o.RelevanceScore)
	}
	if o.MutableContent {
		a.MutableContent = 1
	}
	if o.ContentAvailable || pushType == apns2.PushTypeBackground {
		a.ContentAvailable = 1
	}
	switch o.InterruptionLevel {
	case "", "passive", "active", "time-sensitive", "critical":
	default:
		return nil, optErr("interruption_level", "unknown level %q (passive, active, time-sensitive, critical)", o.InterruptionLevel)
	}

	switch pushType {
	case apns2.PushTypeAlert:
		if a.Alert == nil && a.Badge == nil && a.Sound == nil {
			return nil, &notify.ValidationError{Field: "Content", Reason: "an APNs alert push needs a title, body, localized key, badge or sound; for a silent push set Options.apns.push_type to \"background\""}
		}
	case apns2.PushTypeBackground:
		if a.Alert != nil || a.Badge != nil || a.Sound != nil {
			return nil, &notify.ValidationError{Field: "Content", Reason: "a background push carries no alert, badge or sound; send data only, or use push type \"alert\""}
		}
	case apns2.PushTypeLiveActivity:
		switch o.Event {
		case "start", "update", "end":
		default:
			return nil, optErr("event", "a liveactivity push needs event start, update or end, not %q", o.Event)
		}
		if a.Timestamp == 0 {
			a.Timestamp = d.CreatedAt.Unix()
			if d.CreatedAt.IsZero() {
				a.Timestamp = now.Unix()
			}
		}
	}

	body := make(map[string]any, 2+len(d.Message.Data)+len(o.Custom))
	for k, v := range d.Message.Data {
		body[k] = v
	}
	for k, v := range o.Custom {
		body[k] = v
	}
	if _, ok := body["aps"]; ok {
		return nil, optErr("custom", `the key "aps" is APNs's own; rename the custom key`)
	}
	if _, ok := body[notify.PushDeliveryIDKey]; ok {
		return nil, optErr("custom", "the key %q carries the delivery ID (notify.PushDeliveryIDKey); rename the data or custom key", notify.PushDeliveryIDKey)
	}
	body["aps"] = a
	if d.ID != "" {
		body[notify.PushDeliveryIDKey] = d.ID
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, optErr("custom", "does not marshal to JSON: %v", err)
	}
	limit := MaxPayload
	if pushType == apns2.PushTypeVOIP {
		limit = MaxVoIPPayload
	}
	if len(payload) > limit {
		return nil, &notify.ValidationError{Field: "Content", Reason: fmt.Sprintf("the APNs payload is %d bytes, over APNs's %d-byte limit for %s pushes; shorten the message or its data", len(payload), limit, pushType)}
	}

	n := &apns2.Notification{
		DeviceToken: d.Address,
		Topic:       topic,
		PushType:    pushType,
		Priority:    priority,
		Expiration:  expiration,
		CollapseID:  o.CollapseID,
		Payload:     payload,
	}
	if isUUID(d.ID) {
		n.ApnsID = d.ID
	}
	return n, nil
}

// checkToken reports whether tok looks like an APNs device token: hex,
// whole bytes, 64 to 200 characters.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return fmt.Errorf("empty APNs device token")
	case len(tok) < minTokenLen || len(tok) > maxTokenLen || len(tok)%2 != 0:
		return fmt.Errorf("an APNs device token is %d to %d hex digits, an even number; this one has %d", minTokenLen, maxTokenLen, utf8.RuneCountInString(tok))
	}
	for i := 0; i < len(tok); i++ {
		if !isHex(tok[i]) {
			return fmt.Errorf("an APNs device token is hex digits; this one has %q at %d (send the token's hex encoding, not base64)", rune(tok[i]), i)
		}
	}
	return nil
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// isUUID reports whether s is a canonical lowercase UUID, as apns-id wants.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
				return false
			}
		}
	}
	return true
}
