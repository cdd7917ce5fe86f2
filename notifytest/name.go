package notifytest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// UniqueName returns a name for a queue or key prefix that is unique to t and
// to this run: t.Name() with every character other than ASCII letters,
// digits, '-' and '_' replaced by '-', cut to its last 48 characters, with
// "nt-" before it and 8 random hex digits after it. The result has at most
// 64 characters and is valid as an SQS queue name, a Redis key and a
// PostgreSQL text value.
func UniqueName(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 48 {
		name = name[len(name)-48:]
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	return "nt-" + name + "-" + hex.EncodeToString(suffix[:])
}
