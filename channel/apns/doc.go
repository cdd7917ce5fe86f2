// Package apns delivers notify deliveries to Apple devices through the Apple
// Push Notification service (APNs), with github.com/sideshow/apns2.
//
// A [Channel] holds long-lived apns2 clients for one credential — a token
// signing key (.p8, key ID, team ID) or a TLS client certificate (.p12 or
// .pem) — and shares them, with their HTTP/2 connections, between every
// worker of the Dispatcher: one connection by default, Config.Connections
// of them (each push on the least loaded) when one is not enough. The delivery's Address is the device token; its
// Message gives the alert (Title, Subtitle, Body) and custom data (Data);
// everything else an iOS team sets (topic, push type, priority, collapse ID,
// badge, sound, ...) comes from an [Options] value the host puts under
// Notification.Options["apns"]. Every payload also carries the delivery's
// ID under the top-level key "notify_delivery_id" (notify.PushDeliveryIDKey),
// so the app can report an open (Dispatcher.Track).
//
// Guarantees and limits:
//   - Validate rejects, at accept time and before anything is queued, a
//     device token that is not hex, a payload over 4096 bytes (5120 for
//     VoIP), a collapse ID over 64 bytes, unknown options and combinations
//     APNs refuses (a background push with an alert, say).
//   - Every APNs answer is classified (see the package's Error type and the
//     outcome table in docs/PROVIDERS.md): 410 Unregistered and ExpiredToken
//     remove the token only when it was registered before APNs's timestamp;
//     429 TooManyRequests retries that one delivery (that one token) after
//     Config.TooManyRequestsDelay; credential and topic errors are
//     configuration errors that keep the delivery queued.
//   - A transport error (connection lost, timeout) is retried and marked as
//     possibly sent: APNs has no idempotency key, so a retry may duplicate.
//   - The apns-id header is the delivery's ID, stable across retries, so a
//     push can be traced in Apple's delivery log.
//   - APNs has no batch API: Channel does not implement notify.BatchSender;
//     concurrency comes from the Dispatcher's workers multiplexed on HTTP/2,
//     over Config.Connections connections (default 1, at most
//     MaxConnections) sharing one JWT.
//   - The channel does not log: it returns classified errors, and the
//     Dispatcher logs and records them.
package apns
