package template

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// bothWays renders every text part of v with the fast path and by
// executing the template. It reports whether the fast path handled all of
// them, and fails t when the two disagree.
func bothWays(t testing.TB, v *variant, data map[string]any) (fast bool) {
	t.Helper()
	fast = true
	for i := range v.parts {
		p := &v.parts[i]
		if p.static || p.exec == nil {
			continue
		}
		if p.prog == nil {
			fast = false
			continue
		}
		got, ok := runProg(nil, p.prog, data, math.MaxInt)
		if !ok {
			fast = false
			continue
		}
		var sb strings.Builder
		err := p.exec.Execute(&sb, data)
		if err != nil {
			t.Fatalf("%s: fast path rendered %q where the template fails: %v", p.label, got, err)
		}
		if string(got) != sb.String() {
			t.Fatalf("%s: fast path %q, template %q", p.label, got, sb.String())
		}
	}
	return fast
}

func onlyVariant(t testing.TB, s *Set, name string, k Kind) *variant {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := s.byName[name].locales[""].own[k]
	require.NotNil(t, v)
	return v
}

func TestFastPathAgreesWithTemplate(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.Add("t", "", Variants{
		Push: &Push{
			Title: "{{.v}}",
			Body:  "a {{- .v -}} b {{.m.k}}{{.v}}",
			Data:  map[string]string{"x": "<{{.m.k}}>", "y": "{{.ms.k}}"},
		},
		Email: &Email{Subject: "s", HTML: `<p title="{{.v}}" class='{{.ms.k}}'>{{.m.k}} &amp; {{.v}}<!-- c --></p>` +
			`<a href="https://example.com/{{.v}}/{{.m.k}}?q={{.v}}&amp;r={{.ms.k}}#{{.v}}">x</a><img src='/i/{{.v}}'>`},
	}))
	push, email := onlyVariant(t, s, "t", KindPush), onlyVariant(t, s, "t", KindEmail)
	require.NotNil(t, email.parts[1].prog)
	values := []any{
		"", "héllo <&>", "\x00\xff\xfe'\"+<>&amp;\u2028", "a b/c?d=e&f#g%41%zz%4", "100%", "%", "~-._!$*,;:@[]()", true, false, 0, -1, math.MaxInt64, math.MinInt64, int8(-128), int16(7), int32(-9),
		uint(0), uint8(200), uint16(65535), uint32(1 << 31), uint64(math.MaxUint64),
		0.0, math.Copysign(0, -1), 1.0, 0.1, 1.5e-7, 1e20, 1e21, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64,
		float32(0.1), float32(3.4e38), float32(1e-45),
	}
	for _, x := range values {
		data := map[string]any{"v": x, "m": map[string]any{"k": x}, "ms": map[string]string{"k": "<'s'>"}}
		assert.True(t, bothWays(t, push, data), "%T %v should take the fast path", x, x)
		fastHTML := bothWays(t, email, data)
		// "1e+21": the fast path leaves a number with a '+' to html/template.
		_, isString := x.(string)
		assert.Equal(t, isString || !strings.Contains(fmt.Sprint(x), "+"), fastHTML, "%T %v: fast path in HTML", x, x)
	}
	// What the fast path leaves to the template.
	for _, x := range []any{nil, math.NaN(), math.Inf(1), float32(math.Inf(-1)), []int{1}, struct{}{}, errors.New("e")} {
		data := map[string]any{"v": x, "m": map[string]any{"k": 1}, "ms": map[string]string{"k": "s"}}
		assert.False(t, bothWays(t, push, data), "%T %v", x, x)
		assert.False(t, bothWays(t, email, data), "%T %v", x, x)
	}
}

func TestFastPathIsUsedForSimpleParts(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.Add("t", "", Variants{
		Push:  &Push{Title: "static", Body: "Hi {{.name}}", Data: map[string]string{"a": "{{.a.b}}", "s": "x"}},
		SMS:   &SMS{Body: "{{.name | printf \"%s\"}}"},
		Email: &Email{Subject: "{{.name}}", HTML: "<p>{{.name}}</p>"},
	}))
	push := onlyVariant(t, s, "t", KindPush)
	for _, p := range push.parts {
		switch p.label {
		case "title", `data["s"]`:
			assert.True(t, p.static, p.label)
		default:
			assert.NotNil(t, p.prog, p.label)
		}
	}
	assert.Nil(t, onlyVariant(t, s, "t", KindSMS).parts[0].prog, "a pipeline is executed")
	email := onlyVariant(t, s, "t", KindEmail)
	assert.NotNil(t, email.parts[0].prog)
	assert.Equal(t, []op{{text: "<p>"}, {path: []string{"name"}, esc: escHTML}, {text: "</p>"}}, email.parts[1].prog,
		"HTML text context: escaped by the fast path")

	require.NoError(t, s.Add("url", "", Variants{Email: &Email{Subject: "s", HTML: `<a href="/x/{{.id}}?q={{.q}}">{{.name}}</a>`}}))
	assert.NotNil(t, onlyVariant(t, s, "url", KindEmail).parts[1].prog, "a URL's path and query are escaped by the fast path")
	require.NoError(t, s.Add("url", "", Variants{Email: &Email{Subject: "s", HTML: `<a href="{{.url}}">{{.name}}</a>`}}))
	assert.Nil(t, onlyVariant(t, s, "url", KindEmail).parts[1].prog, "a whole URL is filtered by html/template")
}

// FuzzRender adds random template text as every part of every variant and
// renders it with random data: Add and Render must never panic, Add's
// errors are *Error, and where the fast path renders a part its output
// is exactly what text/template would print.
func FuzzRender(f *testing.F) {
	seeds := []string{
		"Hi {{.name}}", "{{.user.name}} {{.n}}", "{{if .name}}{{.name}}{{else}}-{{end}}",
		"{{.name | printf \"%q\"}}", `{{define "x"}}{{.n}}{{end}}{{template "x" .}}`, "{{template \"y\"}}",
		"<a href=\"{{.name}}\">{{.n}}</a>", "<script>var x = {{.user}}</script>", "{{", "}}{{.}}",
		"{{with $x := .user}}{{$x.name}}{{end}}", "{{.n.x}}", "{{index .user \"name\"}}", "{{len .name}}",
		"<!-- c -->{{.name}}", "{{- .name -}}", "{{/* c */}}", "{{block \"b\" .}}{{.name}}{{end}}", "",
		`<a href="/p/{{.name}}?q={{.n}}#{{.f}}" title='{{.user.name}}'>{{.f}}</a>`, `<img src=/i/{{.name}}>`,
		`<title>{{.name}}</title>`, `<p style="color: {{.name}}">`, "{{.name}}\x00+&'\"<>",
	}
	for _, s := range seeds {
		f.Add(s, "name", "Ana <&>", int64(3), 2.5, true)
	}
	f.Fuzz(func(t *testing.T, src, key, sval string, ival int64, fval float64, nested bool) {
		if strings.Contains(src, "range") {
			// {{range 1000000000}} is a valid template that runs for minutes:
			// Go templates have no step limit, and random text finds that.
			t.Skip()
		}
		s := New(Config{MaxBytes: 4096, Funcs: map[string]any{"up": strings.ToUpper}})
		err := s.Add("f", "pt", Variants{
			Push:  &Push{Title: src, Subtitle: src, Body: src, Data: map[string]string{key: src}},
			SMS:   &SMS{Body: src},
			Email: &Email{Subject: src, Text: src, HTML: src},
		})
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Add error is %T, want *Error: %v", err, err)
			}
			return
		}
		data := map[string]any{key: sval, "n": ival, "f": fval, "user": map[string]any{"name": sval, key: ival}}
		if nested {
			data["user"] = map[string]string{"name": sval}
			data[key] = nil
		}
		for _, ch := range []string{"apns", "sms", "email"} {
			d := &notify.Delivery{Template: "f", Channel: ch, Locale: "pt-BR", Data: data}
			if _, err := s.Render(context.Background(), d); err != nil {
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("Render error is %T, want *Error: %v", err, err)
				}
			}
		}
		for k := KindPush; int(k) < numKinds; k++ {
			bothWays(t, s.byName["f"].locales["pt"].own[k], data)
		}
	})
}
