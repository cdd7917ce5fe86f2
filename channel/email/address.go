package email

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxAddressBytes bounds a recipient address in its normal form: RFC 5321
// allows a path of 256 octets, angle brackets included. The part before
// the @ may be at most 64 bytes of it.
const MaxAddressBytes = 254

// maxAddressInput bounds what NormalizeAddress reads before it gives up: a
// Unicode domain may be longer than its ASCII form, but not by this much.
const maxAddressInput = 1024

// ErrInvalidAddress is wrapped by every error of NormalizeAddress; test
// with errors.Is. The error's text says what is wrong and what to do.
var ErrInvalidAddress = errors.New("email: invalid address")

// addressError is a refusal: its text is the reason alone.
type addressError struct{ reason string }

func (e *addressError) Error() string { return e.reason }
func (e *addressError) Unwrap() error { return ErrInvalidAddress }

func invalidAddress(format string, args ...any) error {
	return &addressError{reason: fmt.Sprintf(format, args...)}
}

// domains converts domains to ASCII as a resolver looks them up (UTS #46
// non-transitional processing, the mapping of RFC 5895: case folded,
// width and compatibility forms mapped), checking each label (hyphens,
// joiners, the Bidi rule of RFC 5893) and the DNS lengths. A Profile is
// immutable and safe for concurrent use.
var domains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(),
	idna.VerifyDNSLength(true), idna.CheckHyphens(true), idna.CheckJoiners(true))

// NormalizeAddress returns s, one recipient email address, in the form
// the Channel stores, de-duplicates on and sends to:
//
//   - a bare address (an RFC 5322 addr-spec as net/mail parses it):
//     a display name ("Ann <ann@example.com>"), angle brackets, comments,
//     a group or a list are refused; spaces around it are dropped;
//   - the part before the @ kept as it is (case, dots, +tags: SES and
//     most providers treat "Ann+news" and "ann+news" alike, but RFC 5321
//     lets a mail server tell them apart, so they are not merged); it must
//     be ASCII, at most 64 bytes, and a dot-atom (a quoted local part is
//     refused): SES does not support SMTPUTF8;
//   - the domain lower-cased and, when it is internationalized, converted
//     to its ASCII (punycode) form as DNS looks it up ("Bücher.Example" is
//     "xn--bcher-kva.example"), which is what SES requires; a trailing dot
//     (the absolute form "example.com.") is removed; a domain must have at
//     least two labels and a TLD that is not all digits (an IP address,
//     bracketed or not, is refused);
//   - at most MaxAddressBytes bytes in all.
//
// Errors wrap ErrInvalidAddress. NormalizeAddress(x) is its own normal
// form for every x it accepts. It is safe for concurrent use.
func NormalizeAddress(s string) (string, error) {
	switch {
	case len(s) > maxAddressInput:
		return "", invalidAddress("not an email address: %d bytes long; at most %d", len(s), MaxAddressBytes)
	case !utf8.ValidString(s):
		return "", invalidAddress("not an email address: not valid UTF-8")
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", invalidAddress("%q is not an email address: it holds a line break or a NUL byte", s)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalidAddress("empty email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", invalidAddress("%q is not an email address: no @", s)
	}
	local, domain := s[:at], s[at+1:]
	if strings.HasSuffix(domain, ".") && !strings.HasSuffix(domain, "..") {
		domain = domain[:len(domain)-1] // the absolute form names the same domain
	}
	a, err := mail.ParseAddress(local + "@" + domain)
	switch {
	case err != nil:
		return "", invalidAddress("%q is not an email address: %s", s, strings.TrimPrefix(err.Error(), "mail: "))
	case a.Name != "":
		return "", invalidAddress("%q has a display name or a comment: give the bare address (%s)", s, a.Address)
	case a.Address != local+"@"+domain:
		if strings.HasPrefix(local, `"`) {
			return "", invalidAddress("%q has a quoted local part, which this channel does not send to", s)
		}
		return "", invalidAddress("%q is not a bare address: give it without angle brackets, comments or spaces (%s)", s, a.Address)
	case len(local) > 64:
		return "", invalidAddress("%q: the part before the @ is %d bytes; at most 64", s, len(local))
	}
	for i := 0; i < len(local); i++ {
		if local[i] >= utf8.RuneSelf {
			return "", invalidAddress("%q has non-ASCII characters before the @, which SES cannot send to (it does not support SMTPUTF8)", s)
		}
	}
	if strings.HasPrefix(domain, "[") {
		return "", invalidAddress("%q names an IP address, not a domain", s)
	}
	ascii, err := domains.ToASCII(domain)
	if err != nil {
		return "", invalidAddress("%q: %q is not a valid domain name (%v)", s, domain, err)
	}
	dot := strings.LastIndexByte(ascii, '.')
	if dot <= 0 || dot == len(ascii)-1 {
		return "", invalidAddress("%q: the domain %q has no dot; give a full domain (example.com)", s, ascii)
	}
	if allDigits(ascii[dot+1:]) {
		return "", invalidAddress("%q: the domain %q is an IP address or ends in a numeric label; give a domain name", s, ascii)
	}
	out := local + "@" + ascii
	if len(out) > MaxAddressBytes {
		return "", invalidAddress("%q is %d bytes long; at most %d", s, len(out), MaxAddressBytes)
	}
	// The ASCII form must be its own normal form, and an address net/mail
	// reads back as it is: a guard against a corner of either library.
	if again, err := domains.ToASCII(ascii); err != nil || again != ascii {
		return "", invalidAddress("%q: the domain %q does not convert to a stable ASCII form", s, domain)
	}
	if b, err := mail.ParseAddress(out); err != nil || b.Name != "" || b.Address != out {
		return "", invalidAddress("%q is not an email address once normalized (%s)", s, out)
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// NormalizeAddress returns address in the normal form NormalizeAddress
// (the function) gives: a bare address, its domain in lower-case ASCII.
// It implements notify.AddressNormalizer: PutContact, device registration
// and Send all pass email addresses through it, so "Ann@Example.COM " is
// stored, de-duplicated and sent as "Ann@example.com".
func (c *Channel) NormalizeAddress(address string) (string, error) {
	return NormalizeAddress(address)
}
