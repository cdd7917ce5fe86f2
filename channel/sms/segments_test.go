package sms_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/gonotify/notify/channel/sms"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		segments int
		encoding string
	}{
		{"empty", "", 0, sms.EncodingGSM7},
		{"one char", "a", 1, sms.EncodingGSM7},
		{"160 GSM", strings.Repeat("a", 160), 1, sms.EncodingGSM7},
		{"161 GSM", strings.Repeat("a", 161), 2, sms.EncodingGSM7},
		{"306 GSM", strings.Repeat("a", 306), 2, sms.EncodingGSM7},
		{"307 GSM", strings.Repeat("a", 307), 3, sms.EncodingGSM7},
		{"one non-GSM accent makes UCS-2", "Ça coûte 5€ à Zürich", 1, sms.EncodingUCS2}, // û is not GSM-7
		{"GSM national chars", strings.Repeat("äöüñÄÖÜÑ", 20), 1, sms.EncodingGSM7},
		{"extension chars count 2", strings.Repeat("€", 80), 1, sms.EncodingGSM7},
		{"81 euros is 162 septets", strings.Repeat("€", 81), 2, sms.EncodingGSM7},
		{"extension pair not split", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 10), 2, sms.EncodingGSM7},
		{"escape at segment edge", strings.Repeat("a", 152) + "{" + strings.Repeat("a", 152) + "}", 3, sms.EncodingGSM7},
		{"brackets braces pipe", `[]{}|^~\`, 1, sms.EncodingGSM7},
		{"form feed is extension", strings.Repeat("\f", 81), 2, sms.EncodingGSM7},
		{"newlines are GSM", "line1\nline2\r\n", 1, sms.EncodingGSM7},
		{"70 UCS-2", strings.Repeat("ж", 70), 1, sms.EncodingUCS2},
		{"71 UCS-2", strings.Repeat("ж", 71), 2, sms.EncodingUCS2},
		{"134 UCS-2", strings.Repeat("ж", 134), 2, sms.EncodingUCS2},
		{"135 UCS-2", strings.Repeat("ж", 135), 3, sms.EncodingUCS2},
		{"one non-GSM char switches all", strings.Repeat("a", 100) + "ж", 2, sms.EncodingUCS2},
		{"emoji is two units", strings.Repeat("😀", 35), 1, sms.EncodingUCS2},
		{"36 emoji", strings.Repeat("😀", 36), 2, sms.EncodingUCS2},
		{"surrogate pair not split", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 10), 2, sms.EncodingUCS2},
		{"smart quote is UCS-2", "it’s", 1, sms.EncodingUCS2},
		{"backtick is not GSM", "`", 1, sms.EncodingUCS2},
		{"1600 GSM", strings.Repeat("a", 1600), 11, sms.EncodingGSM7},
		{"1600 UCS-2", strings.Repeat("ж", 1600), 24, sms.EncodingUCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, enc := sms.Segments(tt.body)
			assert.Equal(t, tt.segments, n)
			assert.Equal(t, tt.encoding, enc)
		})
	}
}

// Reference tables, written out independently of the package's.
var (
	refBasic = []rune("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
	refExt   = []rune("\f^{}\\[~]|€")
)

func refCost(r rune) int {
	for _, b := range refBasic {
		if r == b {
			return 1
		}
	}
	for _, e := range refExt {
		if r == e {
			return 2
		}
	}
	return 0
}

// refSplit splits body into the segments a carrier sends, as lists of
// per-character unit costs, by building them one at a time.
func refSplit(body string) (segs [][]int, enc string) {
	var costs []int
	enc = sms.EncodingGSM7
	for _, r := range body {
		if refCost(r) == 0 {
			enc = sms.EncodingUCS2
		}
	}
	total := 0
	for _, r := range body {
		c := refCost(r)
		if enc == sms.EncodingUCS2 {
			c = len(utf16.Encode([]rune{r}))
		}
		costs = append(costs, c)
		total += c
	}
	single, multi := 160, 153
	if enc == sms.EncodingUCS2 {
		single, multi = 70, 67
	}
	if len(costs) == 0 {
		return nil, enc
	}
	if total <= single {
		return [][]int{costs}, enc
	}
	cur, used := []int{}, 0
	for _, c := range costs {
		if used+c > multi {
			segs = append(segs, cur)
			cur, used = []int{}, 0
		}
		cur = append(cur, c)
		used += c
	}
	return append(segs, cur), enc
}

func FuzzSegments(f *testing.F) {
	for _, s := range []string{"", "hello", strings.Repeat("€", 81), strings.Repeat("a", 152) + "[", "😀ж", "\xff\xfe", strings.Repeat("ж", 135)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		n, enc := sms.Segments(body)
		segs, refEnc := refSplit(body)
		if enc != refEnc {
			t.Fatalf("Segments(%q) encoding %s, reference %s", body, enc, refEnc)
		}
		if n != len(segs) {
			t.Fatalf("Segments(%q) = %d, reference %d", body, n, len(segs))
		}
		if body != "" && n < 1 {
			t.Fatalf("Segments(%q) = %d for a non-empty body", body, n)
		}
		// Appending a character never makes a message cheaper.
		if more, _ := sms.Segments(body + "a"); more < n {
			t.Fatalf("Segments(%q+\"a\") = %d < %d", body, more, n)
		}
		if more, _ := sms.Segments(body + "ж"); more < n {
			t.Fatalf("Segments(%q+\"ж\") = %d < %d", body, more, n)
		}
		if utf8.RuneCountInString(body) <= 153 && enc == sms.EncodingGSM7 && !strings.ContainsAny(body, string(refExt)) && n > 1 {
			t.Fatalf("Segments(%q) = %d for at most 153 plain GSM characters", body, n)
		}
	})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func FuzzValidPhone(f *testing.F) {
	for _, s := range []string{"+14155550100", "+0123456789", "14155550100", "+1415555010a", "+", "+1234567", "+123456", "+123456789012345", "+1234567890123456", "+١٢٣٤٥٦٧٨"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := sms.ValidPhone(s)
		if want := e164.MatchString(s); got != want {
			t.Fatalf("ValidPhone(%q) = %v, E.164 pattern says %v", s, got, want)
		}
		if got && (len(s) < 8 || len(s) > 16) {
			t.Fatalf("ValidPhone(%q) accepted %d bytes", s, len(s))
		}
	})
}

func BenchmarkSegments(b *testing.B) {
	for _, bb := range []struct{ name, body string }{
		{"GSM-160", strings.Repeat("a", 160)},
		{"GSM-1600", strings.Repeat("Hello [world] ", 114)},
		{"UCS2-1600", strings.Repeat("Привет😀 ", 177)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sms.Segments(bb.body)
			}
		})
	}
}
