// Package email is the notify channel for email through Amazon SES v2
// (github.com/aws/aws-sdk-go-v2/service/sesv2, SendEmail with simple
// content: subject, text and HTML bodies, custom headers).
//
// Guarantees:
//   - Recipient addresses are normalized on the way in
//     (Channel.NormalizeAddress, a notify.AddressNormalizer, which
//     Dispatcher.PutContact, device registration and Send all call; the
//     function [NormalizeAddress] for hosts): a bare address as net/mail
//     parses it (a display name is refused), the part before the @ kept as
//     it is (case and +tags), the domain lower-cased, an internationalized
//     domain converted to ASCII (punycode, as SES requires: "Bücher.example"
//     is stored as "xn--bcher-kva.example"), a trailing dot removed; at most
//     254 bytes. Stored, de-duplicated and sent in that form.
//   - Validate rejects at accept time what SES would reject: addresses that
//     net/mail cannot parse, no sender, no subject or body, invalid or
//     reserved custom headers, bad unsubscribe targets, a message over
//     40 MB encoded.
//   - Every message carries the message tags notification_id, delivery_id
//     and category (sanitized to SES's charset), so configuration-set
//     events (bounce, complaint, open, click) can be matched back to the
//     delivery: an [EventHandler] on the SNS subscription of the
//     configuration set's event destination verifies each message's
//     signature and records the events through Dispatcher.Feedback (a
//     permanent bounce removes the address, a complaint stores an opt-out).
//     It refuses messages older than EventHandlerConfig.MaxMessageAge
//     (default 1h) and bounds its fetches of SNS signing certificates (a
//     failure is remembered for a minute; at most 5 fetches a minute).
//   - Bulk mail can carry List-Unsubscribe and List-Unsubscribe-Post
//     (one-click, RFC 8058), per notification (Options) or per delivery
//     (Config.Unsubscribe).
//   - The Dispatcher's retry policy is the only one: every call makes one
//     attempt, and the SDK's shared retry token bucket is disabled, so
//     concurrent sends never fail with "retry quota exceeded"
//     (aws-sdk-go-v2 #1665).
//   - Every failure is classified (see Channel.Send); throttling is retried,
//     sandbox and account problems are configuration errors.
//
// Limits:
//   - No SMTPUTF8: an address with non-ASCII characters before the @, or a
//     quoted local part, is refused. Addresses are compared as normalized:
//     "Ann@example.com" and "ann@example.com" are two recipients (most
//     mail servers treat them alike, but RFC 5321 lets them differ).
//   - A contact written through Store.PutContact directly keeps the form it
//     was written in; Send normalizes it as it reads it, but a bounce
//     removes the address only when it was stored as sent.
//   - SES has no idempotency key: after a 5xx or a transport failure once
//     the request was written the email may have gone out, and a retry may
//     send it twice (the outcome is marked MaybeSent).
//   - One recipient per delivery; no attachments; no SES templates (the
//     notify Renderer renders).
//   - EventHandler takes SES events from SNS over HTTP(S) only, not from
//     EventBridge or an SQS subscription.
package email
