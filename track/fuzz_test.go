package track

import (
	"strings"
	"testing"
)

func fuzzSigner(t testing.TB) *Signer {
	s, err := New(Config{BaseURL: "https://t.example.com", Keys: [][]byte{[]byte("key-a-0123456789abcdef0123456789"), []byte("key-b-0123456789abcdef0123456789")}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzVerify feeds the link parser arbitrary paths: it must not panic, and
// whatever it accepts must be exactly a link the Signer makes.
func FuzzVerify(f *testing.F) {
	s := fuzzSigner(f)
	const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
	click, _ := s.ClickLink(id, "https://shop.example.com/orders?id=1")
	httpClick, _ := s.ClickLink("delivery-42", "http://shop.example.com/")
	open, _ := s.OpenLink(id)
	marker, _ := s.Click("https://shop.example.com/")
	for _, l := range []string{click, httpClick, open, marker, s.Open()} {
		f.Add(strings.TrimPrefix(l, s.base))
	}
	f.Add("/t/c/")
	f.Add("/t/c/AAAA")
	f.Add("/t/o/" + strings.Repeat("A", maxTokenChars+1))
	f.Fuzz(func(t *testing.T, path string) {
		var kind byte
		switch {
		case strings.HasPrefix(path, ClickPath):
			kind = kindClick
		case strings.HasPrefix(path, OpenPath):
			kind = kindOpen
		default:
			return
		}
		l, err := s.verify(kind, path[len(ClickPath):])
		if err != nil {
			return
		}
		var again string
		if kind == kindClick {
			again, err = s.ClickLink(l.deliveryID, l.target)
		} else {
			again, err = s.OpenLink(l.deliveryID)
		}
		if err != nil {
			t.Fatalf("verified %q as %+v, which the Signer cannot sign: %v", path, l, err)
		}
		if again != s.base+path {
			t.Fatalf("verified %q as %+v, which the Signer signs as %q", path, l, again)
		}
	})
}

// FuzzResolve feeds Resolve arbitrary text: it must not panic, and it must
// change nothing but the markers the Signer made.
func FuzzResolve(f *testing.F) {
	s := fuzzSigner(f)
	marker, _ := s.Click("https://shop.example.com/")
	f.Add("see " + marker + " and " + s.Open() + ".")
	f.Add("https://t.example.com/t/c/")
	f.Add("https://t.example.com/t/c/https://t.example.com/t/o/AAAA")
	f.Fuzz(func(t *testing.T, text string) {
		const id = "0190a6d2-7c3e-7abc-8def-0123456789ab"
		out := s.Resolve(id, text)
		if strings.Count(text, s.base+"/t/") == 0 && out != text {
			t.Fatalf("Resolve changed text without a marker: %q -> %q", text, out)
		}
		// Resolving again changes nothing: links are not markers.
		if again := s.Resolve(id, out); again != out {
			t.Fatalf("Resolve is not idempotent: %q -> %q -> %q", text, out, again)
		}
	})
}

// FuzzParseDetail: ParseDetail must not panic, and what it reads must
// print back as it was.
func FuzzParseDetail(f *testing.F) {
	for _, s := range []string{"", "https://a.example/x", "repeat hits=3 https://a.example/x", "prefetch", "prefetch repeat hits=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDetail(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDetail(%q) = %+v, which prints as %q", s, d, d.String())
		}
	})
}
