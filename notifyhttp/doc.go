// Package notifyhttp is notify's HTTP API as an http.Handler: send, status,
// cancel, replay, contacts and preferences under /v1, authenticated by signed
// requests (appKey and appSecret), with RFC 9457 problem details for every
// error; and Client, a Go client that signs, retries safely and returns the
// library's typed errors. cmd/notifyd serves it. The OpenAPI document is
// openapi.yaml (served at /v1/openapi.yaml); README.md lists the endpoints.
//
// # Signed requests
//
// Every /v1 request carries
//
//	Authorization: NOTIFY-HMAC-SHA256 key=<appKey>, ts=<unix seconds>, nonce=<nonce>, sig=<hex>
//
// where sig is the lowercase hex HMAC-SHA256, keyed with the appSecret, of
// the string to sign: six lines joined by "\n" (see StringToSign): the
// method, the path as sent, the canonical query (pairs sorted, empty
// without one), ts, nonce, and the lowercase hex SHA-256 of the body. The
// server refuses (401) a missing or malformed header, an unknown key, a
// wrong signature, a ts more than 5 minutes from its clock either way, a
// signature already seen (a replay: use a fresh nonce for every request
// and every retry), and a secret rotated out; 403 a revoked key or one
// without the endpoint's scope; 429 a key over its Limit.
//
// A worked example, which anyone can recompute in a shell: key
// nk_example, secret nsk_example_secret_do_not_use, ts 1700000000, nonce
// 0123456789abcdef0123456789abcdef, and the body
//
//	{"event_id":"order-1042-shipped","user_id":"ana","template":"shipped"}
//
// sent as POST /v1/notifications. The body's SHA-256 is
//
//	b986157342b1eae2938c885050beefc67bb96561a1a07ff11ab7d626e45b79d5
//
// and the signature
//
//	printf '%s\n%s\n%s\n%s\n%s\n%s' POST /v1/notifications '' 1700000000 \
//	  0123456789abcdef0123456789abcdef \
//	  b986157342b1eae2938c885050beefc67bb96561a1a07ff11ab7d626e45b79d5 |
//	  openssl dgst -sha256 -hmac nsk_example_secret_do_not_use
//	  => d2c166d742f0875e485c2310e0159503211d98c9f283a3af7c2678dfc65a3c6f
//
// so the header is
//
//	Authorization: NOTIFY-HMAC-SHA256 key=nk_example, ts=1700000000, nonce=0123456789abcdef0123456789abcdef, sig=d2c166d742f0875e485c2310e0159503211d98c9f283a3af7c2678dfc65a3c6f
//
// # Errors
//
// Every error is application/problem+json with type, title, status,
// detail, instance and request_id, and field for a 400 or 422 that can
// name one (a JSON path such as "to[0].value"). 400: malformed JSON, wrong
// types, unknown fields, invalid UTF-8, data after the value. 413: a body
// over Config.MaxBodyBytes. 422: validation (*notify.ValidationError). 404:
// unknown IDs. 409: notify.ErrInProgress (retry the same request) or a
// replay of a delivery that is not dead. 501: the backends cannot do it
// (cancel on an SQS queue; errors.ErrUnsupported). 503: a backend failed;
// retry the same request, with the same event_id. A 500 comes only from a
// bug (a recovered panic). Internal error text is never answered: it is logged
// with the request ID.
package notifyhttp
