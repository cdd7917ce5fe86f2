// Package console is the operator's web page for a notify Dispatcher: an
// http.Handler a host mounts behind its own authentication, and that
// notifyd serves behind its admin keys.
//
// Its pages:
//
//   - Queues: every channel's ready, delayed, in-flight and dead jobs and
//     the age of its oldest ready job (Dispatcher.Stats), refreshed in place
//     every few seconds, and a chart per channel of the last hour's
//     deliveries, sent and failed, by five minutes (Dispatcher.Report).
//   - Dead letters: a channel's dead deliveries with their reason and
//     attempts (Dispatcher.Dead), one inspected with its payload redacted,
//     and a replay of one or of every one a filter selects
//     (Dispatcher.Replay, Dispatcher.ReplayDead) after a confirmation page.
//   - Find: a notification's deliveries by notification ID
//     (Dispatcher.Status), event ID (Dispatcher.StatusByEvent) or user ID
//     (Dispatcher.UserDeliveries), and a delivery's whole event history.
//   - Engagement: Dispatcher.Report as a table and a chart.
//
// What it guarantees:
//
//   - No action on GET: the only state change, replay, is a POST that
//     carries a CSRF token (an HMAC of a random cookie, SameSite=Strict,
//     HttpOnly, Secure on TLS) and passes net/http's cross-origin check.
//     Config.ReadOnly removes it altogether.
//   - Output goes through html/template; addresses are masked everywhere
//     (device tokens cut to their ends, phone numbers and e-mail addresses
//     partly hidden), and data, metadata and options fields whose names
//     look secret (token, secret, password, key, auth, signature...) are
//     shown as [redacted], as are such query parameters of links.
//   - A backend that fails (the database is down) gives the page with an
//     error banner and a 503 status, never a bare 500.
//   - Everything it serves is embedded (no CDN, no build step): one
//     stylesheet and one small script, which only refreshes the queues.
//     Pages send a Content-Security-Policy that allows nothing else.
//
// It needs a Dispatcher whose backends list dead jobs (notify.DeadLister),
// report (notify.Reporter), list a user's deliveries (notify.UserLog) and
// say who holds an event ID (notify.ClaimHolder); a page whose capability
// is missing says so in its banner and the others keep working.
package console
