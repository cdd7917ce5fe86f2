package uuidtext

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestParse(t *testing.T) {
	u := uuid.Must(uuid.NewV7())
	got, ok := Parse(u.String())
	if !ok || got != [16]byte(u) {
		t.Fatalf("Parse(%q) = %x, %v; want %x, true", u.String(), got, ok, u)
	}
	s := u.String()
	for _, bad := range []string{
		"", s[:35], s + "0", strings.ToUpper(s), strings.Replace(s, "-", "x", 1),
		"{" + s[1:], s[:35] + "g", strings.ReplaceAll(s, "-", ""),
	} {
		if _, ok := Parse(bad); ok && bad != s {
			t.Errorf("Parse(%q) accepted a non-canonical UUID", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(uuid.Must(uuid.NewV7()).String())
	f.Add("00000000-0000-0000-0000-00000000000G")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := Parse(s)
		if ok && uuid.UUID(id).String() != s {
			t.Fatalf("Parse(%q) accepted it, but it reads back as %q", s, uuid.UUID(id).String())
		}
		if !ok {
			if u, err := uuid.Parse(s); err == nil && u.String() == s {
				t.Fatalf("Parse(%q) refused a canonical UUID", s)
			}
		}
	})
}
