// Package track makes signed tracking links for email and SMS, and an open
// pixel for email HTML, and serves them: an http.Handler verifies a link's
// signature, records the click or open through the Dispatcher, and
// redirects to the link's target (or answers the pixel).
//
// # Setup
//
//	s, err := track.New(track.Config{BaseURL: "https://t.example.com", Keys: [][]byte{key}})
//	tmpl := template.New(template.Config{Funcs: s.Funcs()})
//	d, err := notify.New(notify.Config{
//		Renderer: tmpl,
//		Channels: []notify.Channel{s.Wrap(emailChannel), s.Wrap(smsChannel)},
//		...
//	})
//	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: d})
//	mux.Handle("/t/", h)
//	...
//	srv.Shutdown(ctx)
//	h.Close(ctx) // writes the hits still held
//
// and in the templates:
//
//	HTML: <a href="{{trackClick "https://shop.example.com/orders"}}">Your orders</a> {{trackPixel}}
//	SMS:  Your order shipped: {{trackClick .url}}
//
// # Links name the delivery: markers
//
// A link must name the delivery it was sent in, but a template is
// rendered once per channel when the notification is accepted, before
// each address's delivery has an ID, and its output is shared by every
// delivery of the notification on that channel. So the template functions
// do not make links: they make markers, URLs shaped like the final link
// and as long as it, signed (as markers, under a domain of their own) but
// naming no delivery. The channel returned by [Signer.Wrap] turns each
// marker into the delivery's link:
//
//   - when the Dispatcher validates a delivery at accept time, on a copy
//     handed to the channel's own Validator, so that what it checks and
//     counts (the SMS segments of Delivery.Units, shown in the Receipt) is
//     the message as it will be sent. A marker is exactly as long as the
//     link it becomes, so Config.MaxMessageBytes sees the right size too;
//   - when the worker sends the delivery, on a copy handed to the channel.
//
// The queued message keeps its markers. Markers are recognized by their
// MAC: text that looks like one in a template's data, written by someone
// without the key, is left alone, and is not a link the Handler accepts.
// This needs no change to the notify package: rendering stays once per
// channel, and the delivery ID is put in where it is known. What it
// costs: the resolution runs twice per delivery (a scan of the message for
// the base URL; nothing more when there is no marker), a wrapped channel
// hides its optional interfaces other than Validator and BatchSender, and
// a marker must appear as the template function wrote it (see
// [Signer.Funcs]).
//
// # Link format and keys
//
// A link is BaseURL + "/t/c/" + token (click) or BaseURL + "/t/o/" + token
// (open). The token is base64url of a version byte, the delivery ID (16
// bytes for the Dispatcher's UUIDs), the target URL for a click (without
// "https://", which a flag stands for), and a 96-bit HMAC-SHA256 over all
// of it and the kind. A click link's target is in the link, so the Handler
// needs no storage to redirect, and it redirects only where a valid MAC
// says: a forged, truncated or altered link, or a link whose kind was
// changed, gets 404. Keys are given as [][]byte: the first signs, all
// verify, each MAC compared in constant time; see Config.Keys for
// rotation. The target is limited to MaxTargetBytes, and the Handler reads
// no more of a path than the longest link.
//
// A link grows with its target: about 4/3 of the target's length plus 40
// characters plus BaseURL. For SMS, keep BaseURL and targets short.
//
// # Recording: async, coalesced, retried
//
// The Handler answers at once and records in the background, so a slow or
// failing store does not slow the redirect (see README.md in this
// directory for the figures). Each verified hit goes into a record keyed
// by (delivery, kind, target, prefetch mark). The first hit of a key is
// written at once; hits arriving while it waits join it; later hits are
// gathered into one record per key written after HandlerConfig.Coalesce.
// A record is one notify.Dispatcher.Feedback call: Engagement
// StatusClicked or StatusOpened, At the time of its first hit (unique to
// the microsecond within the Handler), Detail as described under
// [Detail]. Ten thousand clicks of one link at once become a handful of
// events whose Hits add up to 10,000, not 10,000 events (each of which
// Feedback would check against a growing log).
//
// Counting is left to reports: a delivery's clicks (opens) are the sum of
// Hits over its clicked (opened) events, and unique clicks (opens) the
// number of deliveries with at least one; [ParseDetail] reads Detail, and
// reads Amazon SES's own click and open events too (their reason is the
// bare link, or empty), so the two add up alike. Dispatcher.Track's
// once-per-delivery events (no reason, no time) are not used here.
//
// A write that fails is retried with exponential backoff, with the same
// report each time: when a write in fact succeeded but its answer was
// lost, the retry finds the report in the log and records nothing. A
// record whose delivery the log does not hold (pruned; ErrNotFound) is
// dropped. Records are bounded by HandlerConfig.MaxPending (a key with
// many hits holds at most two: one being written, one gathering); a hit
// that needs a record past the bound is answered and not recorded, and
// counted in Stats.Dropped.
//
// What is not guaranteed: records live in the process's memory until
// written. [Handler.Close] (after the HTTP server's Shutdown) writes them
// all and waits; what it cannot write before its context ends is logged
// at error level, one line per record, and lost, and Close says how many.
// A crash, or an exit without Close, loses every record not yet written:
// the first hit of a key is usually written within milliseconds, the
// repeats of the last Coalesce period are not. With the store down, the
// records of the whole outage wait in memory (up to MaxPending), and are
// lost if the process ends before the store comes back.
//
// # Repeats and prefetches
//
// Bots fetch links too: mail scanners and link checkers follow every
// click link when a message arrives, image proxies and privacy features
// fetch the pixel. Their hits are recorded, not refused (the Handler
// cannot tell them all apart, and a recipient behind a proxy is a real
// one), but marked "prefetch" when the request is a HEAD, has no
// User-Agent, names a known agent (HandlerConfig.PrefetchAgents), or
// carries a prefetch header (Purpose, Sec-Purpose, X-Purpose, X-Moz). A
// prefetch never makes a later hit by the recipient a repeat: the mark is
// part of the key. A record is marked "repeat" when the Handler had
// already queued a record of its key (it remembers HandlerConfig.
// Remembered keys); that knowledge is this process's, so with several
// processes, or after a restart, a repeat may go unmarked: count unique
// hits by delivery, not by the mark.
//
// # Amazon SES
//
// SES's own open and click tracking keeps working beside this package:
// its events reach email.EventHandler and are recorded by Feedback with
// SES's timestamp, apart from this package's records. With both on, an
// email has two pixels and SES rewrites these links into its own redirect
// to them: each open or click is then recorded twice (SES's click names
// this package's link as its URL; this package's names the target). Turn
// one of them off for a message, or count only one source in reports.
package track
