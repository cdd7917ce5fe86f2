package fcm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"firebase.google.com/go/v4/messaging"
	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/options"
)

// Options are the FCM settings of one notification. The host puts one under
// Notification.Options["fcm"]; every field is optional. The notification's
// title and body come from the rendered notify.Message, its Data is the data
// payload.
type Options struct {
	// Topic or Condition send to a topic or a condition instead of a
	// device. The delivery's address must then be the same target:
	// "/topics/<Topic>" or "condition:<Condition>" (an explicit To
	// address), so that a user's many devices do not each send it again.
	Topic     string `json:"topic,omitempty"`
	Condition string `json:"condition,omitempty"`

	// ImageURL is the notification's image on every platform.
	ImageURL string `json:"image_url,omitempty"`
	// AnalyticsLabel tags the message in FCM's delivery reports.
	AnalyticsLabel string `json:"analytics_label,omitempty"`

	// AndroidPriority is "high" or "normal"; empty derives it from the
	// notification's Priority (High: "high", Low: "normal").
	AndroidPriority string `json:"android_priority,omitempty"`
	// AndroidTTL bounds how long FCM keeps the message for an offline
	// device (JSON: nanoseconds, as time.Duration marshals). Zero uses the
	// notification's expiry, if any; FCM's default is four weeks.
	AndroidTTL time.Duration `json:"android_ttl,omitempty"`
	// AndroidCollapseKey makes FCM keep only the latest message with this
	// key for an offline device.
	AndroidCollapseKey string `json:"android_collapse_key,omitempty"`
	// AndroidChannelID names the app's notification channel (Android 8+).
	AndroidChannelID   string `json:"android_channel_id,omitempty"`
	AndroidSound       string `json:"android_sound,omitempty"`
	AndroidTag         string `json:"android_tag,omitempty"`
	AndroidClickAction string `json:"android_click_action,omitempty"`
	AndroidIcon        string `json:"android_icon,omitempty"`
	// AndroidColor is #RRGGBB.
	AndroidColor string `json:"android_color,omitempty"`

	// Android, APNS and Webpush are FCM's full per-platform overrides, in
	// the SDK's types. The fields above and the notification's priority
	// and expiry fill what these leave unset.
	Android *messaging.AndroidConfig `json:"android,omitempty"`
	APNS    *messaging.APNSConfig    `json:"apns,omitempty"`
	Webpush *messaging.WebpushConfig `json:"webpush,omitempty"`
}

// MaxPayload is FCM's limit, in bytes, on a message's content: here the
// data keys and values plus the notification's title, body and image URL.
const MaxPayload = 4096

// Token lengths accepted: today's registration tokens are 150-200
// characters.
const (
	minTokenLen = 20
	maxTokenLen = 4096
)

// Address prefixes for topic and condition targets.
const (
	TopicPrefix     = "/topics/"
	ConditionPrefix = "condition:"
)

// DecodeOptions decodes raw (a Delivery's Options) strictly: unknown
// fields are an error, so a misspelt option fails at accept time, and raw
// must be one JSON value. Empty raw, or null, gives zero Options. The
// error says what did not decode and wraps encoding/json's.
func DecodeOptions(raw json.RawMessage) (Options, error) {
	return options.Decode[Options](raw, "fcm")
}

func optErr(field, format string, args ...any) *notify.ValidationError {
	return &notify.ValidationError{Field: "Options.fcm." + field, Reason: fmt.Sprintf(format, args...)}
}

// target is where a message goes.
type target int

const (
	toToken target = iota
	toTopic
	toCondition
)

// build turns d into the FCM message to send, or explains with a
// *notify.ValidationError why FCM would refuse it. It decodes d.Options
// once and keeps nothing.
func (c *Channel) build(d *notify.Delivery, now time.Time) (*messaging.Message, error) {
	o, err := DecodeOptions(d.Options)
	if err != nil {
		return nil, &notify.ValidationError{Field: "Options.fcm", Reason: err.Error(), Err: err}
	}
	m := &messaging.Message{}
	if err := c.setTarget(m, d.Address, &o); err != nil {
		return nil, err
	}

	size := 0
	if len(d.Message.Data) > 0 || d.ID != "" {
		m.Data = make(map[string]string, len(d.Message.Data)+1)
		for k, v := range d.Message.Data {
			if err := checkDataKey(k); err != nil {
				return nil, &notify.ValidationError{Field: "Content", Reason: err.Error()}
			}
			if k == notify.PushDeliveryIDKey {
				return nil, &notify.ValidationError{Field: "Content", Reason: fmt.Sprintf("the data key %q carries the delivery ID (notify.PushDeliveryIDKey); rename it", k)}
			}
			m.Data[k] = v
			size += len(k) + len(v)
		}
		if d.ID != "" {
			m.Data[notify.PushDeliveryIDKey] = d.ID
			size += len(notify.PushDeliveryIDKey) + len(d.ID)
		}
	}
	if d.Message.Title != "" || d.Message.Body != "" || o.ImageURL != "" {
		m.Notification = &messaging.Notification{Title: d.Message.Title, Body: d.Message.Body, ImageURL: o.ImageURL}
		size += len(d.Message.Title) + len(d.Message.Body) + len(o.ImageURL)
	}
	if size > MaxPayload {
		return nil, &notify.ValidationError{Field: "Content", Reason: fmt.Sprintf("the FCM payload (data, title, body, image) is %d bytes, over FCM's %d-byte limit; shorten the message or its data", size, MaxPayload)}
	}
	if o.AnalyticsLabel != "" {
		m.FCMOptions = &messaging.FCMOptions{AnalyticsLabel: o.AnalyticsLabel}
	}

	var ttl time.Duration
	hasTTL := false
	if !d.ExpiresAt.IsZero() {
		ttl, hasTTL = max(d.ExpiresAt.Sub(now), 0).Truncate(time.Second), true
	}
	var err2 error
	if m.Android, err2 = android(&o, d.Priority, ttl, hasTTL); err2 != nil {
		return nil, err2
	}
	m.APNS = apnsOverride(o.APNS, d, hasTTL)
	m.Webpush = webpush(o.Webpush, d.Priority, ttl, hasTTL)
	return m, nil
}

func (c *Channel) setTarget(m *messaging.Message, addr string, o *Options) error {
	kind, value := toToken, addr
	switch {
	case strings.HasPrefix(addr, TopicPrefix):
		kind, value = toTopic, strings.TrimPrefix(addr, TopicPrefix)
	case strings.HasPrefix(addr, ConditionPrefix):
		kind, value = toCondition, strings.TrimPrefix(addr, ConditionPrefix)
	}
	switch {
	case o.Topic != "" && o.Condition != "":
		return optErr("topic", "set topic or condition, not both")
	case o.Topic != "" && (kind != toTopic || value != strings.TrimPrefix(o.Topic, TopicPrefix)):
		return optErr("topic", "a topic send goes to the address %q (an explicit To address), not to %q: each of a user's devices would send it again", TopicPrefix+strings.TrimPrefix(o.Topic, TopicPrefix), shorten(addr))
	case o.Condition != "" && (kind != toCondition || value != o.Condition):
		return optErr("condition", "a condition send goes to the address %q (an explicit To address), not to %q: each of a user's devices would send it again", ConditionPrefix+o.Condition, shorten(addr))
	}
	switch kind {
	case toTopic:
		if !validTopic(value) {
			return &notify.ValidationError{Field: notify.FieldAddress, Reason: fmt.Sprintf("%q is not an FCM topic name (letters, digits and -_.~%%)", value)}
		}
		m.Topic = value
	case toCondition:
		if strings.TrimSpace(value) == "" || !utf8.ValidString(value) {
			return &notify.ValidationError{Field: notify.FieldAddress, Reason: "empty or invalid FCM condition"}
		}
		m.Condition = value
	default:
		if err := checkToken(value); err != nil {
			return &notify.ValidationError{Field: notify.FieldAddress, Reason: err.Error()}
		}
		m.Token = value
	}
	return nil
}

func android(o *Options, prio notify.Priority, ttl time.Duration, hasTTL bool) (*messaging.AndroidConfig, error) {
	a := o.Android
	if a == nil {
		a = &messaging.AndroidConfig{}
	}
	switch o.AndroidPriority {
	case "", "high", "normal":
	default:
		return nil, optErr("android_priority", "%q is not an Android priority (high, normal)", o.AndroidPriority)
	}
	if o.AndroidTTL < 0 {
		return nil, optErr("android_ttl", "negative (%s)", o.AndroidTTL)
	}
	if o.AndroidPriority != "" {
		a.Priority = o.AndroidPriority
	} else if a.Priority == "" {
		switch prio {
		case notify.PriorityHigh:
			a.Priority = "high"
		case notify.PriorityLow:
			a.Priority = "normal"
		}
	}
	switch {
	case o.AndroidTTL > 0:
		t := o.AndroidTTL
		a.TTL = &t
	case a.TTL == nil && hasTTL:
		a.TTL = &ttl
	}
	if o.AndroidCollapseKey != "" {
		a.CollapseKey = o.AndroidCollapseKey
	}
	if o.AndroidChannelID != "" || o.AndroidSound != "" || o.AndroidTag != "" || o.AndroidClickAction != "" || o.AndroidIcon != "" || o.AndroidColor != "" {
		if a.Notification == nil {
			a.Notification = &messaging.AndroidNotification{}
		}
		n := a.Notification
		setIf(&n.ChannelID, o.AndroidChannelID)
		setIf(&n.Sound, o.AndroidSound)
		setIf(&n.Tag, o.AndroidTag)
		setIf(&n.ClickAction, o.AndroidClickAction)
		setIf(&n.Icon, o.AndroidIcon)
		setIf(&n.Color, o.AndroidColor)
	}
	if a.Priority == "" && a.TTL == nil && a.CollapseKey == "" && a.Notification == nil && a.RestrictedPackageName == "" &&
		len(a.Data) == 0 && a.FCMOptions == nil && !a.DirectBootOK {
		return nil, nil
	}
	return a, nil
}

func apnsOverride(a *messaging.APNSConfig, d *notify.Delivery, hasTTL bool) *messaging.APNSConfig {
	prio := ""
	switch d.Priority {
	case notify.PriorityHigh:
		prio = "10"
	case notify.PriorityLow:
		prio = "5"
	}
	if a == nil && prio == "" && !hasTTL && d.Message.Subtitle == "" {
		return nil
	}
	if a == nil {
		a = &messaging.APNSConfig{}
	}
	if prio != "" || hasTTL {
		if a.Headers == nil {
			a.Headers = map[string]string{}
		}
		if _, ok := a.Headers["apns-priority"]; !ok && prio != "" {
			a.Headers["apns-priority"] = prio
		}
		if _, ok := a.Headers["apns-expiration"]; !ok && hasTTL {
			a.Headers["apns-expiration"] = strconv.FormatInt(d.ExpiresAt.Unix(), 10)
		}
	}
	if d.Message.Subtitle != "" {
		if a.Payload == nil {
			a.Payload = &messaging.APNSPayload{}
		}
		if a.Payload.Aps == nil {
			a.Payload.Aps = &messaging.Aps{}
		}
		if aps := a.Payload.Aps; aps.AlertString == "" {
			if aps.Alert == nil {
				aps.Alert = &messaging.ApsAlert{}
			}
			setIf(&aps.Alert.SubTitle, d.Message.Subtitle)
		}
	}
	return a
}

func webpush(w *messaging.WebpushConfig, prio notify.Priority, ttl time.Duration, hasTTL bool) *messaging.WebpushConfig {
	urgency := ""
	switch prio {
	case notify.PriorityHigh:
		urgency = "high"
	case notify.PriorityLow:
		urgency = "low"
	}
	if w == nil && urgency == "" && !hasTTL {
		return nil
	}
	if w == nil {
		w = &messaging.WebpushConfig{}
	}
	if w.Headers == nil {
		w.Headers = map[string]string{}
	}
	if _, ok := w.Headers["Urgency"]; !ok && urgency != "" {
		w.Headers["Urgency"] = urgency
	}
	if _, ok := w.Headers["TTL"]; !ok && hasTTL {
		w.Headers["TTL"] = strconv.FormatInt(int64(ttl/time.Second), 10)
	}
	return w
}

// setIf sets *dst to v unless v is empty or *dst is already set.
func setIf(dst *string, v string) {
	if v != "" && *dst == "" {
		*dst = v
	}
}

// checkToken reports whether tok looks like an FCM registration token.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return fmt.Errorf("empty FCM registration token")
	case len(tok) < minTokenLen || len(tok) > maxTokenLen:
		return fmt.Errorf("an FCM registration token is %d to %d characters; this one has %d", minTokenLen, maxTokenLen, len(tok))
	}
	for i := 0; i < len(tok); i++ {
		b := tok[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-' || b == ':' || b == '.') {
			return fmt.Errorf("an FCM registration token is letters, digits and _-:.; this one has %q at %d", rune(b), i)
		}
	}
	return nil
}

// validTopic is the SDK's topic name rule.
func validTopic(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-_.~%", b) >= 0) {
			return false
		}
	}
	return true
}

// checkDataKey rejects the data keys FCM reserves.
func checkDataKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty data key")
	case k == "from" || k == "message_type" || k == "notification" || k == "collapse_key":
		return fmt.Errorf("data key %q is reserved by FCM; rename it", k)
	case strings.HasPrefix(k, "google") || strings.HasPrefix(k, "gcm"):
		return fmt.Errorf("data key %q starts with a prefix FCM reserves (google, gcm); rename it", k)
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
