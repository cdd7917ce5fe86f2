package sms

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify/channel/internal/retryafter"
)

// maxErrorBody bounds how much of an error response is kept.
const maxErrorBody = 64 << 10

// call is one Send's view of the HTTP exchange. twilio-go builds its
// requests with context.Background() and reads no response headers, so the
// channel gives every send its own http.Client whose RoundTripper is a call:
// it carries the send's context into the request (cancellation and
// deadline work) and records the status and Retry-After of the response.
// A call belongs to one Send; only wrote is touched by another goroutine
// (the transport's writer), hence atomic.
type call struct {
	ctx     context.Context
	base    http.RoundTripper
	rewrite *url.URL // scheme and host to send to instead of Twilio's; nil: none

	wrote      atomic.Bool // the request was written to a connection
	status     int
	retryAfter time.Duration
	body       []byte // the error response's body, at most maxErrorBody
}

// RoundTrip sends req under the call's context.
func (c *call) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := httptrace.WithClientTrace(c.ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { c.wrote.Store(true) },
	})
	r := req.Clone(ctx)
	if c.rewrite != nil {
		r.URL.Scheme, r.URL.Host = c.rewrite.Scheme, c.rewrite.Host
		r.Host = ""
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	c.status = resp.StatusCode
	c.retryAfter = retryafter.Parse(resp.Header.Get("Retry-After"), time.Now())
	if resp.StatusCode >= 400 {
		// twilio-go decodes error bodies without closing them; read the
		// body here (bounded) so the connection goes back to the pool and
		// a non-JSON page can be described.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		c.body = body
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// noRedirect makes the client return a redirect response as it is, as
// twilio-go's own default client does.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
