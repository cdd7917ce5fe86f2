package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// consoleChannel stands in for a provider: it writes what the provider
// would receive, one JSON line per delivery, and reports it sent. It lets
// a fresh notifyd be tried, and tested, without credentials.
type consoleChannel struct {
	name string
	out  *consoleOut
}

// consoleOut is where console channels write: a writer shared by every
// console channel (one line per Write, under a lock), or the log.
type consoleOut struct {
	mu  sync.Mutex
	w   io.Writer    // nil: log
	log *slog.Logger // used when w is nil
}

// consoleLine is one line of console output.
type consoleLine struct {
	Time           time.Time `json:"time"`
	Channel        string    `json:"channel"`
	DeliveryID     string    `json:"delivery_id"`
	NotificationID string    `json:"notification_id"`
	Attempt        int       `json:"attempt"`
	// Provider is what the provider's API would have been given.
	Provider any `json:"provider"`
}

var _ notify.Channel = (*consoleChannel)(nil)

// Name is the channel's name.
func (c *consoleChannel) Name() string { return c.name }

// Send writes d as its provider would receive it.
func (c *consoleChannel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	if err := ctx.Err(); err != nil {
		return notify.Result{}, notify.Retryable(err, 0)
	}
	line := consoleLine{
		Time: time.Now().UTC(), Channel: c.name, DeliveryID: d.ID, NotificationID: d.NotificationID,
		Attempt: d.Attempt, Provider: providerPayload(c.name, d),
	}
	if err := c.out.write(ctx, &line); err != nil {
		return notify.Result{}, notify.Retryable(fmt.Errorf("console channel: write: %w", err), 0)
	}
	return notify.Result{ProviderID: "console-" + d.ID}, nil
}

// write writes one line.
func (o *consoleOut) write(ctx context.Context, line *consoleLine) error {
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	if o.w == nil {
		o.log.InfoContext(ctx, "console channel", slog.String("channel", line.Channel), slog.Any("delivery", json.RawMessage(b)))
		return nil
	}
	b = append(b, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err = o.w.Write(b)
	return err
}

// providerPayload is, roughly, the request body the channel's provider
// would get for d: the APNs payload, the FCM v1 message, the Twilio
// Messages form, the SES v2 SendEmail input.
func providerPayload(channel string, d *notify.Delivery) any {
	m := d.Message
	var opts any
	if len(d.Options) > 0 {
		opts = d.Options
	}
	switch channel {
	case notify.ChannelAPNs:
		payload := map[string]any{"aps": map[string]any{"alert": map[string]string{
			"title": m.Title, "subtitle": m.Subtitle, "body": m.Body}}}
		for k, v := range m.Data {
			payload[k] = v
		}
		return map[string]any{"device_token": d.Address, "payload": payload, "options": opts}
	case notify.ChannelFCM:
		return map[string]any{"message": map[string]any{
			"token": d.Address, "notification": map[string]string{"title": m.Title, "body": m.Body},
			"data": m.Data}, "options": opts}
	case notify.ChannelSMS:
		body := m.Body
		if body == "" {
			body = m.Text
		}
		return map[string]any{"To": d.Address, "Body": body, "options": opts}
	case notify.ChannelEmail:
		subject := m.Subject
		if subject == "" {
			subject = m.Title
		}
		text := m.Text
		if text == "" {
			text = m.Body
		}
		return map[string]any{
			"Destination": map[string]any{"ToAddresses": []string{d.Address}},
			"Content": map[string]any{"Simple": map[string]any{
				"Subject": map[string]string{"Data": subject},
				"Body":    map[string]any{"Text": map[string]string{"Data": text}, "Html": map[string]string{"Data": m.HTML}},
			}},
			"options": opts,
		}
	}
	return map[string]any{"address": d.Address, "message": m, "options": opts}
}
