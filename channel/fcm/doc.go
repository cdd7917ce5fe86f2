// Package fcm delivers notify deliveries through Firebase Cloud Messaging
// (the HTTP v1 API), with firebase.google.com/go/v4/messaging.
//
// A [Channel] holds one messaging client for one Firebase project, shared by
// every worker of the Dispatcher. A delivery's Address is the target: a
// registration token, "/topics/<name>" for a topic or "condition:<expr>" for
// a condition. Its Message gives the notification (Title, Body) and the data
// payload (Data); everything else — Android priority, TTL, collapse key,
// channel ID, APNs and webpush overrides, ... — comes from an [Options] value
// the host puts under Notification.Options["fcm"]. Every message's data also
// carries the delivery's ID under "notify_delivery_id"
// (notify.PushDeliveryIDKey), so the app can report an open
// (Dispatcher.Track).
//
// Guarantees and limits:
//   - Validate runs, at accept time and before anything is queued, the SDK's
//     own message validation (offline: the check never reaches the
//     network) plus FCM's rules the SDK leaves to the server: token form,
//     reserved data keys, the 4096-byte payload limit.
//   - Channel implements notify.BatchSender: several deliveries go out with
//     one SendEach (at most 500 per call; FCM v1 has no true batch, so
//     that is one HTTP/2 request each, 50 at a time) and each answer is
//     classified on its own; a message the SDK rejects fails alone.
//   - Errors are classified with the SDK's helpers before anything wraps
//     them (they do not see through %w): UNREGISTERED, SENDER_ID_MISMATCH
//     and "not a valid FCM registration token" remove the token;
//     QUOTA_EXCEEDED waits max(Retry-After, Config.MinQuotaDelay (60s));
//     authentication, permission and APNs-credential errors are
//     configuration errors.
//   - The SDK itself retries 503 and network errors (up to 5 attempts
//     within a Send) unless the server's Retry-After exceeds two minutes;
//     a transport error that survives is retried by the Dispatcher and
//     marked as possibly sent.
package fcm
