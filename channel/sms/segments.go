package sms

import "unicode/utf8"

// Encodings reported by Segments.
const (
	// EncodingGSM7 is the GSM 03.38 7-bit default alphabet with its
	// extension table: 160 septets in a single-segment message, 153 per
	// segment of a concatenated one.
	EncodingGSM7 = "GSM-7"
	// EncodingUCS2 is used as soon as the body holds one character outside
	// GSM-7: 70 UTF-16 code units in a single segment, 67 per segment of a
	// concatenated one.
	EncodingUCS2 = "UCS-2"
)

// Segment sizes, in septets (GSM-7) or UTF-16 code units (UCS-2).
const (
	gsmSingle  = 160
	gsmMulti   = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// MaxChars is the longest body Twilio accepts, in characters (error 21617
// beyond it). Validate rejects longer bodies at accept time.
const MaxChars = 1600

// gsmBasic is the GSM 03.38 default alphabet, each character one septet.
// The escape character (0x1B) is left out: it is not a character a body can
// carry on its own.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension is the GSM 03.38 extension table: each character costs two
// septets (escape + code) and carriers never split the pair across segments.
const gsmExtension = "\f^{}\\[~]|€"

// gsmCost returns how many septets r takes in GSM-7, or 0 when r is not in
// the GSM-7 alphabet.
func gsmCost(r rune) int {
	if r < 0x80 {
		return int(asciiCost[r])
	}
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å', 'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ',
		'Σ', 'Θ', 'Ξ', 'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿', 'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}

// asciiCost is gsmCost for ASCII, built from the two tables above.
var asciiCost = func() (t [0x80]uint8) {
	for _, r := range gsmBasic {
		if r < 0x80 {
			t[r] = 1
		}
	}
	for _, r := range gsmExtension {
		if r < 0x80 {
			t[r] = 2
		}
	}
	return t
}()

// Segments returns how many SMS segments body is sent as, and the encoding
// carriers use for it: GSM-7 when every character is in the GSM 03.38
// alphabet (extension characters such as € [ ] { } count two septets),
// otherwise UCS-2, where a character outside the Basic Multilingual Plane
// (most emoji) counts two code units. A message that fits one segment (160
// septets or 70 code units) is one segment; longer ones are split into
// segments of 153 septets or 67 code units, never splitting an escape pair
// or a surrogate pair, exactly as Twilio bills them. An empty body is zero
// segments. Invalid UTF-8 is counted as U+FFFD. Segments is a pure function,
// safe for concurrent use.
func Segments(body string) (segments int, encoding string) {
	if body == "" {
		return 0, EncodingGSM7
	}
	septets, gsm := 0, true
	for _, r := range body {
		c := gsmCost(r)
		if c == 0 {
			gsm = false
			break
		}
		septets += c
	}
	if gsm {
		if septets <= gsmSingle {
			return 1, EncodingGSM7
		}
		return pack(body, gsmMulti, func(r rune) int { return gsmCost(r) }), EncodingGSM7
	}
	units := 0
	for _, r := range body {
		units += utf16Len(r)
	}
	if units <= ucs2Single {
		return 1, EncodingUCS2
	}
	return pack(body, ucs2Multi, utf16Len), EncodingUCS2
}

// pack counts the segments of size per needed for body when no character's
// units may straddle two segments.
func pack(body string, per int, cost func(rune) int) int {
	n, used := 1, 0
	for _, r := range body {
		c := cost(r)
		if used+c > per {
			n++
			used = 0
		}
		used += c
	}
	return n
}

func utf16Len(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// ValidPhone reports whether s is an E.164 number: a '+', a non-zero
// digit, then 6 to 14 more digits (7 to 15 digits in all), nothing else.
func ValidPhone(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
