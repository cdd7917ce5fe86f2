// Package unsubscribe makes signed one-click unsubscribe links (RFC 8058)
// for email and serves them: a POST to a link opts its user out of its
// category on its channel through the Dispatcher's SetPreference.
//
// # Setup
//
//	s, err := unsubscribe.New(unsubscribe.Config{BaseURL: "https://u.example.com", Keys: [][]byte{key}})
//	emailCh, err := email.New(api, email.Config{From: ..., Unsubscribe: s.Unsubscribe})
//	d, err := notify.New(notify.Config{Channels: []notify.Channel{emailCh}, ...})
//	mux.Handle(unsubscribe.Path, unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: s, Preferences: d}))
//
// Every bulk email then carries
//
//	List-Unsubscribe: <https://u.example.com/u/TOKEN>
//	List-Unsubscribe-Post: List-Unsubscribe=One-Click
//
// and a mail client's one-click POST to the link (body
// "List-Unsubscribe=One-Click") opts the user out of the delivery's
// category on email: SetPreference(user, category, "email", false). A GET
// of the link (a person who opens it in a browser, or a mail scanner that
// follows every link) changes nothing: it answers a page with a button
// that makes the same POST.
//
// # Links and keys
//
// A link is BaseURL + Path + token. The token is base64url of a version
// byte, the signing key's ID, an optional expiry, the user ID, the
// category and the channel, and a 128-bit HMAC-SHA256 over all of it. The
// link needs no storage: what it opts out of is in it, and only a link
// signed by one of Config.Keys is obeyed. A forged, altered or truncated
// link, or one whose key was removed, gets 404 with no detail, and its
// MAC is compared in constant time. A key's ID is derived from the key
// (two bytes of a hash of it), so keys can be rotated as in the track
// package: put the new key first (it signs) and keep the old ones after
// it (they verify) for as long as mail they signed may be read.
//
// Config.TTL bounds how long a link works, counted from the delivery's
// creation, so that accept-time validation and the send write the same
// header; zero (the default) makes links that work until their key is
// removed, which suits mail read months later.
//
// # Limits
//
//   - User IDs, categories and channels of at most 255 bytes
//     (notify.Dispatcher.SetPreference's limit); a delivery with a longer
//     one gets no link.
//   - The Handler reads at most MaxBodyBytes of a POST and at most
//     MaxTokenChars of a path.
//   - Critical deliveries, deliveries without a user and (when
//     Config.Categories is set) deliveries of other categories get no
//     link: transactional mail carries no List-Unsubscribe.
package unsubscribe
