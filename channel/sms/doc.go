// Package sms is the notify channel for SMS through Twilio's Messages API,
// built on github.com/twilio/twilio-go.
//
// Guarantees:
//   - Phone numbers are normalized on the way in (Channel.NormalizeAddress,
//     a notify.AddressNormalizer, which Dispatcher.PutContact, device
//     registration and Send all call): parsed with libphonenumber's
//     metadata (github.com/nyaruka/phonenumbers), national forms read in
//     Config.DefaultRegion, numbers that cannot exist (impossible length,
//     unallocated range, unknown country code) or carry an extension
//     refused, and stored, de-duplicated and sent in E.164. A landline
//     cannot receive SMS, so a fixed-line number is refused unless
//     Config.AllowLandlines; a number that may be either
//     (FixedLineOrMobile, all of North America) is accepted;
//     Config.RejectTypes refuses more types. [ParsePhone] gives hosts the
//     same parse, with the number's type and region. A Channel remembers
//     its answers for the last inputs (Config.NormalizeCache, 8192 by
//     default), so the stored numbers Send normalizes again cost a map
//     look-up, not a parse.
//   - Validate rejects at accept time what Twilio would reject: a recipient
//     that is not E.164, an empty body, a body over 1600 characters, bad
//     options, no sender.
//   - Send honours its context: twilio-go builds requests without one and
//     with a fixed timeout, so every send gets its own http.Client whose
//     RoundTripper carries the context (cancellation, deadline) and records
//     that request's HTTP status and Retry-After; nothing is shared between
//     concurrent sends.
//   - Every failure is classified (see Channel.Send): 21610 is an opt-out
//     the Dispatcher stores, dead numbers are invalid recipients, throttling
//     and 5xx are retried (Retry-After honoured), credential and account
//     problems are configuration errors.
//   - Result.Units is the message's segment count, what Twilio bills.
//
// Limits:
//   - A number's type comes from its range, not from the network: a number
//     ported from a landline to a mobile network is still refused as a
//     landline (set AllowLandlines, or let Twilio's error 21614 report
//     the ones that truly are), and a mobile range reassigned to fixed
//     lines is accepted. The metadata is the one of the phonenumbers
//     version this module requires; new ranges need an upgrade.
//   - A contact written through Store.PutContact directly, not through
//     the Dispatcher, keeps the form it was written in; Send normalizes it
//     as it reads it, but a dead-number report removes the address only
//     when it was stored as sent (E.164).
//   - Twilio has no idempotency key: after a 5xx or a transport failure
//     once the request was written the message may have gone out, and a
//     retry may send it twice (the outcome is marked MaybeSent).
//   - Segments counts as carriers do without Twilio's Smart Encoding (which
//     may turn some Unicode punctuation into GSM-7 and so cost less).
//   - Delivery receipts: with Config.StatusCallback set, Twilio posts each
//     message's status changes there, and a [StatusHandler] mounted at that
//     URL verifies their signature and records the final ones through
//     Dispatcher.Feedback (delivered; undelivered, with a dead number
//     removed or a STOP stored). Twilio signs the URL it calls, so the
//     handler needs that URL as StatusHandlerConfig.PublicURL; it trusts
//     the request's Host and X-Forwarded-* headers instead only when told
//     to (TrustForwardedHeaders).
package sms
