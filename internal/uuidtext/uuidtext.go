// Package uuidtext reads a UUID written in its canonical form (lowercase
// hexadecimal, hyphenated 8-4-4-4-12), the form its String gives back
// exactly, without allocating: for packages that keep a UUID as 16 bytes
// only when the string can be rebuilt from them.
package uuidtext

// Parse returns the 16 bytes of s when s is a UUID in canonical form, and
// false otherwise (upper-case digits included).
func Parse(s string) ([16]byte, bool) {
	var id [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	// Where each byte's two digits start.
	at := [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}
	for i, x := range at {
		hi, ok1 := lowerHex(s[x])
		lo, ok2 := lowerHex(s[x+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		id[i] = hi<<4 | lo
	}
	return id, true
}

// lowerHex is the value of the lowercase hexadecimal digit c.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
