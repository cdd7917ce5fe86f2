package track

import (
	"context"

	"github.com/gonotify/notify"
)

// Wrap returns ch turning the markers in each delivery's message into the
// delivery's signed links (see Resolve), in every text field and Data
// value:
//
//   - at accept time, Validate resolves a copy of the delivery and hands it
//     to ch's own Validator, if ch has one, so that the checks and the
//     counting of units (SMS segments) see the message as it will be
//     sent; the units it counts are kept on the delivery. The message that
//     is queued keeps its markers (deliveries of one notification on one
//     channel share it).
//   - at send time, Send (and SendBatch, when ch is a notify.BatchSender)
//     hands ch a copy of each delivery with its links resolved, signed
//     with the first key of Config.Keys at that time.
//
// A marker of a Dispatcher's delivery (whose ID is a UUID) is exactly as
// long as the link it becomes, so the size a Dispatcher checks against
// Config.MaxMessageBytes does not change either.
//
// The returned Channel does not implement notify.Unwrapper: a
// capability found through it would bypass the resolution. It implements
// notify.Validator and notify.AddressNormalizer (answering as ch's, found
// with notify.As, or accepting every address unchanged when ch has none),
// and notify.BatchSender when ch does, and no other optional interface of
// ch.
func (s *Signer) Wrap(ch notify.Channel) notify.Channel {
	c := &channel{ch: ch, s: s}
	c.v, _ = notify.As[notify.Validator](ch)
	c.n, _ = notify.As[notify.AddressNormalizer](ch)
	if bs, ok := notify.As[notify.BatchSender](ch); ok {
		return &batchChannel{channel: c, bs: bs}
	}
	return c
}

// channel is the Channel Wrap returns.
type channel struct {
	ch notify.Channel
	v  notify.Validator         // ch's, or nil
	n  notify.AddressNormalizer // ch's, or nil
	s  *Signer
}

var (
	_ notify.Validator         = (*channel)(nil)
	_ notify.AddressNormalizer = (*channel)(nil)
)

// NormalizeAddress answers as the wrapped channel's AddressNormalizer,
// when it has one, so wrapping a channel does not change which addresses
// PutContact and Send accept or how they are stored; without one it
// returns address unchanged.
func (c *channel) NormalizeAddress(address string) (string, error) {
	if c.n == nil {
		return address, nil
	}
	return c.n.NormalizeAddress(address)
}

// Name returns the wrapped channel's name.
func (c *channel) Name() string { return c.ch.Name() }

// Send sends a copy of d whose markers are resolved.
func (c *channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	return c.ch.Send(ctx, c.resolved(d))
}

// Validate validates a copy of d whose markers are resolved with the
// wrapped channel's Validator, if it has one, and keeps the Units it sets.
func (c *channel) Validate(d *notify.Delivery) error {
	if c.v == nil {
		return nil
	}
	r := c.resolved(d)
	err := c.v.Validate(r)
	if r != d {
		d.Units = r.Units
	}
	return err
}

// resolved returns d, or a copy of d with its markers resolved when it has
// any.
func (c *channel) resolved(d *notify.Delivery) *notify.Delivery {
	m, changed := c.s.resolveMessage(d.ID, &d.Message)
	if !changed {
		return d
	}
	cp := *d
	cp.Message = m
	return &cp
}

// batchChannel is the Channel Wrap returns for a BatchSender.
type batchChannel struct {
	*channel
	bs notify.BatchSender
}

var _ notify.BatchSender = (*batchChannel)(nil)

// SendBatch sends copies of ds whose markers are resolved.
func (c *batchChannel) SendBatch(ctx context.Context, ds []*notify.Delivery) ([]notify.Result, []error) {
	out := make([]*notify.Delivery, len(ds))
	for i, d := range ds {
		out[i] = c.resolved(d)
	}
	return c.bs.SendBatch(ctx, out)
}

// resolveMessage returns m with its markers resolved for deliveryID, and
// whether any was. m is not changed (its Data map is shared by the
// deliveries of one notification on one channel).
func (s *Signer) resolveMessage(deliveryID string, m *notify.Message) (notify.Message, bool) {
	out := *m
	changed := false
	for _, f := range []*string{&out.Title, &out.Subtitle, &out.Body, &out.Subject, &out.Text, &out.HTML} {
		if r, ok := s.resolve(deliveryID, *f); ok {
			*f, changed = r, true
		}
	}
	var data map[string]string
	for k, v := range m.Data {
		if r, ok := s.resolve(deliveryID, v); ok {
			if data == nil {
				data = make(map[string]string, len(m.Data))
				for k2, v2 := range m.Data {
					data[k2] = v2
				}
			}
			data[k] = r
		}
	}
	if data != nil {
		out.Data, changed = data, true
	}
	return out, changed
}
