package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gonotify/notify"
)

// console is a Channel that prints what the provider would receive instead
// of calling it. A script can make chosen sends fail.
type console struct {
	name string
	out  io.Writer
	mu   *sync.Mutex // shared by every console, so lines do not interleave
	seq  atomic.Int64
	// fail, when set, decides the outcome of a send before it is printed.
	fail func(d *notify.Delivery) error
}

func (c *console) Name() string { return c.name }

func (c *console) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	if err := ctx.Err(); err != nil {
		return notify.Result{}, notify.Uncertain(err)
	}
	if c.fail != nil {
		if err := c.fail(d); err != nil {
			c.printf("  %-5s ✗ attempt %d to %s: %v\n", c.name, d.Attempt, short(d.Address), err)
			return notify.Result{}, err
		}
	}
	c.printf("  %-5s → %s\n", c.name, c.wire(d))
	return notify.Result{ProviderID: fmt.Sprintf("%s-%d", c.name, c.seq.Add(1))}, nil
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// wire renders the request the provider would get, abridged.
func (c *console) wire(d *notify.Delivery) string {
	m := d.Message
	switch c.name {
	case notify.ChannelAPNs:
		body, _ := json.Marshal(map[string]any{"aps": map[string]any{"alert": map[string]string{"title": m.Title, "body": m.Body}}})
		return fmt.Sprintf("POST /3/device/%s apns-push-type: alert %s", short(d.Address), body)
	case notify.ChannelFCM:
		body, _ := json.Marshal(map[string]any{"message": map[string]any{"token": short(d.Address),
			"notification": map[string]string{"title": m.Title, "body": m.Body}}})
		return "POST /v1/projects/demo/messages:send " + string(body)
	case notify.ChannelSMS:
		form := url.Values{"To": {d.Address}, "From": {"+15005550006"}, "Body": {m.Body}}
		return "POST /2010-04-01/Accounts/AC…/Messages.json " + form.Encode()
	case notify.ChannelEmail:
		return fmt.Sprintf("SendEmail to=%s subject=%q text=%q", d.Address, m.Subject, firstLine(m.Text))
	}
	return d.Address
}

func short(s string) string {
	if len(s) > 12 {
		return s[:8] + "…"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + "…"
	}
	return s
}
