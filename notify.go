package notify

import (
	"encoding/json"
	"time"
)

// Names of the built-in channels. A channel's name is also the suffix of its
// queue's name (see [Config.QueuePrefix]).
const (
	ChannelAPNs  = "apns"
	ChannelFCM   = "fcm"
	ChannelSMS   = "sms"
	ChannelEmail = "email"
)

// Priority tells a channel how urgently the provider should deliver.
type Priority int

// Priorities. The zero value is PriorityNormal.
const (
	PriorityNormal Priority = iota
	PriorityHigh
	PriorityLow
)

// Notification is what the host asks to send: one event for one user (or for
// explicit addresses), on one or more channels.
type Notification struct {
	// EventID identifies the business event. Two Sends with the same EventID
	// within the dedup window (Config.DedupTTL) produce one set of
	// deliveries, when the Dispatcher has a Deduper (without one, EventID is
	// carried but not de-duplicated); the second returns the first's
	// receipt marked Duplicate. When empty, Send generates one and
	// returns it in the Receipt; de-duplication then cannot apply.
	EventID string `json:"event_id,omitempty"`
	// UserID names the recipient whose contacts and preferences the Store
	// holds. It may be empty when To lists explicit addresses.
	UserID string `json:"user_id,omitempty"`
	// Category groups notifications for opt-out and rate limiting
	// ("security", "marketing", "chat"). Empty means "default".
	Category string `json:"category,omitempty"`

	// Template names the template the Renderer renders per channel and locale
	// with Data. Exactly one of Template and Content is set.
	Template string         `json:"template,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	// Content is pre-rendered content used on every channel instead of a template.
	Content *Message `json:"content,omitempty"`

	// Channels restricts the notification to these channels. Empty means every
	// channel the Dispatcher has for which the user has an address.
	Channels []string `json:"channels,omitempty"`
	// To lists explicit addresses, delivered in addition to the user's contacts.
	To []Address `json:"to,omitempty"`

	Priority Priority `json:"priority,omitempty"`
	// Critical notifications (a password reset, a fraud alert) bypass opt-out.
	// They are still limited by their category's Limit; Config.UserLimit
	// counts them but never holds them back. They never bypass the consent
	// an opt-in category asks for: Send refuses a critical notification in
	// an opt-in category (CategoryPolicy.OptIn).
	Critical bool `json:"critical,omitempty"`
	// SendAt schedules the notification; zero means now.
	SendAt time.Time `json:"send_at,omitzero"`
	// TTL bounds how long after SendAt (or now) the notification is still worth
	// delivering; ExpiresAt sets the same bound as an instant. When both are
	// set the earlier wins. Expired deliveries are recorded as expired, not sent.
	TTL       time.Duration `json:"ttl,omitempty"`
	ExpiresAt time.Time     `json:"expires_at,omitzero"`

	// Metadata is carried to every delivery and to the log untouched.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Options carries channel-specific settings keyed by channel name (for
	// example an apns.Options under "apns"). Each value must marshal to JSON;
	// the channel receives its own as Delivery.Options.
	Options map[string]any `json:"options,omitempty"`
}

// Address is one explicit destination on one channel: a device token, an
// E.164 phone number or an email address.
type Address struct {
	Channel string `json:"channel"`
	Value   string `json:"value"`
}

// Contact is what the Store knows about how to reach a user.
type Contact struct {
	UserID  string   `json:"user_id"`
	Devices []Device `json:"devices,omitempty"`
	Phone   string   `json:"phone,omitempty"` // E.164
	Email   string   `json:"email,omitempty"`
	// Locale is a BCP 47 tag ("pt-BR"); templates fall back to "pt", then default.
	Locale string `json:"locale,omitempty"`
	// TimeZone is the user's IANA time zone name ("Europe/Lisbon"), by
	// whose wall clock QuietHours are read. Empty, or a name this machine
	// does not know: Config.DefaultTimeZone.
	TimeZone string `json:"time_zone,omitempty"`
	// QuietHours is the user's daily window during which deliveries that
	// are not Critical wait for its end (they are logged deferred, reason
	// ReasonQuietHours). Nil: the category's CategoryPolicy.QuietHours;
	// empty (&QuietHours{}, "none" in JSON): none, whatever the category.
	QuietHours *QuietHours `json:"quiet_hours,omitempty"`
}

// Device is one push registration. A token has one owner: a Store that
// is a DeviceRegistry moves a token another user holds to the user who
// registers (or puts) it.
type Device struct {
	// Platform names the push channel that reaches the device: "apns" or "fcm".
	Platform string `json:"platform"`
	Token    string `json:"token"`
	// App names the app the token was issued to: the APNs topic (the
	// bundle ID) or the FCM app (the Android package), as the app reported
	// it. It is stored for the host; the channels send with the topic or
	// project they are configured with.
	App string `json:"app,omitempty"`
	// Locale is the device's BCP 47 language tag ("pt-BR"), as the app
	// reported it. It is stored for the host; Send renders in the
	// contact's Locale.
	Locale string `json:"locale,omitempty"`
	// RegisteredAt is when the app last registered the token. An APNs 410
	// removes the token only if it was registered before the 410's timestamp.
	RegisteredAt time.Time `json:"registered_at,omitzero"`
	// LastSeen is when the app last registered or refreshed the token;
	// DeviceRegistry.PruneDevices removes the devices not seen since a
	// given time. Zero: unknown (then RegisteredAt counts).
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Message is content rendered for one channel. Push uses Title, Subtitle,
// Body and Data; SMS uses Body; email uses Subject, Text and HTML.
// Deliveries of one notification on one channel share one rendered Message,
// Data map included: channels must treat it as read-only.
type Message struct {
	Title    string            `json:"title,omitempty"`
	Subtitle string            `json:"subtitle,omitempty"`
	Body     string            `json:"body,omitempty"`
	Data     map[string]string `json:"data,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	Text     string            `json:"text,omitempty"`
	HTML     string            `json:"html,omitempty"`
}

// IsZero reports whether m holds no content at all.
func (m *Message) IsZero() bool {
	return m.Title == "" && m.Subtitle == "" && m.Body == "" && len(m.Data) == 0 &&
		m.Subject == "" && m.Text == "" && m.HTML == ""
}

// size is the number of content bytes in m.
func (m *Message) size() int {
	n := len(m.Title) + len(m.Subtitle) + len(m.Body) + len(m.Subject) + len(m.Text) + len(m.HTML)
	for k, v := range m.Data {
		n += len(k) + len(v)
	}
	return n
}

// Delivery is one notification on one channel to one address: the unit that
// is queued, sent, retried and logged. Channels receive it fully rendered.
type Delivery struct {
	ID             string `json:"id"`
	NotificationID string `json:"notification_id"`
	EventID        string `json:"event_id,omitempty"`
	UserID         string `json:"user_id,omitempty"`
	Category       string `json:"category"`
	Channel        string `json:"channel"`
	Address        string `json:"address"`
	// AddressRegisteredAt is the device's registration time, when known.
	AddressRegisteredAt time.Time `json:"address_registered_at,omitzero"`
	Locale              string    `json:"locale,omitempty"`
	// TimeZone is the user's IANA time zone name, as the contact had it at
	// accept time.
	TimeZone string `json:"time_zone,omitempty"`
	// QuietHours is the window, in TimeZone (or Config.DefaultTimeZone),
	// during which the delivery waits rather than being sent: the
	// contact's QuietHours or else its category's, as at accept time. Nil
	// for a Critical delivery, or when neither sets a window.
	QuietHours *QuietHours `json:"quiet_hours,omitempty"`

	Template string         `json:"template,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	// Message is the rendered content. Send renders it at accept time, so a
	// template that does not fit its data fails the Send, not the delivery.
	Message Message `json:"message"`

	Priority  Priority          `json:"priority,omitempty"`
	Critical  bool              `json:"critical,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	SendAt    time.Time         `json:"send_at,omitzero"`
	ExpiresAt time.Time         `json:"expires_at,omitzero"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Options   json.RawMessage   `json:"options,omitempty"`
	// Trace is the W3C trace context ("traceparent", "tracestate") of the
	// Send that queued the delivery, when Config.TracerProvider is set.
	Trace map[string]string `json:"trace,omitempty"`

	// Units is what the provider will bill for the delivery when it is more
	// than one (SMS segments). A channel's Validator sets it at accept time;
	// Send reports it in the Receipt.
	Units int `json:"units,omitempty"`

	// Recheck asks the worker to read the delivery's log before sending,
	// even on the first receipt: the job was enqueued again by a retried
	// Send that could not tell whether the first Enqueue had stored it.
	Recheck bool `json:"recheck,omitempty"`

	// Attempt is the 1-based number of this send attempt, set by the
	// Dispatcher before Channel.Send. It is not stored.
	Attempt int `json:"-"`
}

// Expired reports whether d is past its expiry at now.
func (d *Delivery) Expired(now time.Time) bool {
	return !d.ExpiresAt.IsZero() && !now.Before(d.ExpiresAt)
}

// Receipt is what Send returns: the notification's ID and what became of each
// channel and address.
type Receipt struct {
	NotificationID string `json:"notification_id"`
	EventID        string `json:"event_id"`
	// Duplicate is set when the event ID was already claimed: nothing new was
	// queued and Deliveries describes the original notification (it may be
	// empty while the original Send is still in progress).
	Duplicate  bool          `json:"duplicate,omitempty"`
	Deliveries []DeliveryRef `json:"deliveries,omitempty"`
	// Skipped lists channels that got no delivery, with the reason.
	Skipped []Skip `json:"skipped,omitempty"`
}

// DeliveryRef names one delivery in a Receipt.
type DeliveryRef struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Address string `json:"address"`
	Status  Status `json:"status"`
	// Units is the provider's billing units for the delivery when the
	// channel counts them at accept time (SMS segments); zero means one.
	Units int `json:"units,omitempty"`
}

// Skip records a channel that got no delivery at accept time.
type Skip struct {
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
}

// Reasons recorded with skipped deliveries.
const (
	ReasonOptedOut  = "opted_out"
	ReasonNoAddress = "no_address"
	ReasonExpired   = "expired"
	ReasonDelivered = "already_delivered"
	ReasonRateLimit = "rate_limited"
	// ReasonUserLimit: over Config.UserLimit, the user's limit across
	// categories, under OverLimitDrop.
	ReasonUserLimit = "user_rate_limited"
	// ReasonQuietHours: a deferred delivery waits for the end of its
	// user's quiet hours (Contact.QuietHours, CategoryPolicy.QuietHours).
	ReasonQuietHours = "quiet_hours"
	// ReasonInvalidAddress: an address from the Store that the channel
	// rejects (say, a phone number without its country code). The other
	// channels still deliver; fix the contact.
	ReasonInvalidAddress = "invalid_address"
	// ReasonNotOptedIn: the category is opt-in (CategoryPolicy.OptIn)
	// and the user has not allowed it on the channel.
	ReasonNotOptedIn = "not_opted_in"
)

// Result is what a Channel reports for a send the provider accepted.
type Result struct {
	// ProviderID is the provider's identifier for the message (apns-id, FCM
	// message name, Twilio SID, SES message ID).
	ProviderID string
	// Units is what the provider bills for the message, when it is more than
	// one (SMS segments). Zero means one.
	Units int
}
