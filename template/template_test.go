package template_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
)

var _ notify.Renderer = (*template.Set)(nil)

func render(t *testing.T, s *template.Set, name, channel, locale string, data map[string]any) (notify.Message, error) {
	t.Helper()
	return s.Render(context.Background(), &notify.Delivery{Template: name, Channel: channel, Locale: locale, Data: data})
}

func mustRender(t *testing.T, s *template.Set, name, channel, locale string, data map[string]any) notify.Message {
	t.Helper()
	m, err := render(t, s, name, channel, locale, data)
	require.NoError(t, err)
	return m
}

func TestRenderEachKind(t *testing.T) {
	s := template.New(template.Config{Kinds: map[string]template.Kind{"webpush": template.KindPush, "whatsapp": template.KindSMS}})
	require.NoError(t, s.Add("order", "", template.Variants{
		Push: &template.Push{
			Title:    "Order {{.order.id}}",
			Subtitle: "for {{.name}}",
			Body:     "{{.count}} items, {{.total}} total",
			Data:     map[string]string{"order_id": "{{.order.id}}", "kind": "order", "empty": ""},
		},
		SMS:   &template.SMS{Body: "Order {{.order.id}} shipped"},
		Email: &template.Email{Subject: "Order {{.order.id}}", Text: "Hi {{.name}}", HTML: "<p>Hi {{.name}}</p>"},
	}))
	data := map[string]any{"name": "Ana", "count": 3, "total": 9.5, "order": map[string]any{"id": "A-17"}}

	wantPush := notify.Message{
		Title: "Order A-17", Subtitle: "for Ana", Body: "3 items, 9.5 total",
		Data: map[string]string{"order_id": "A-17", "kind": "order", "empty": ""},
	}
	for _, ch := range []string{"apns", "fcm", "webpush"} {
		assert.Equal(t, wantPush, mustRender(t, s, "order", ch, "", data), ch)
	}
	for _, ch := range []string{"sms", "whatsapp"} {
		assert.Equal(t, notify.Message{Body: "Order A-17 shipped"}, mustRender(t, s, "order", ch, "", data), ch)
	}
	assert.Equal(t, notify.Message{Subject: "Order A-17", Text: "Hi Ana", HTML: "<p>Hi Ana</p>"},
		mustRender(t, s, "order", "email", "", data))

	_, err := render(t, s, "order", "pigeon", "", data)
	require.ErrorIs(t, err, notify.ErrUnknownTemplate)
	assert.Contains(t, err.Error(), `"pigeon"`)
	assert.Contains(t, err.Error(), "Config.Kinds")
}

func TestLocaleFallback(t *testing.T) {
	s := template.New(template.Config{})
	add := func(locale string, v template.Variants) {
		t.Helper()
		require.NoError(t, s.Add("hi", locale, v))
	}
	push := func(title string) *template.Push { return &template.Push{Title: title} }
	sms := func(body string) *template.SMS { return &template.SMS{Body: body} }
	add("", template.Variants{Push: push("default"), SMS: sms("default"),
		Email: &template.Email{Subject: "default", Text: "default"}})
	add("pt", template.Variants{Push: push("pt"), SMS: sms("pt")})
	add("pt_BR", template.Variants{SMS: sms("pt-BR")}) // "_" and case are canonicalised
	add("es-419", template.Variants{Push: push("es-419")})

	tests := []struct {
		locale, channel, want string
	}{
		{"pt-BR", "sms", "pt-BR"},
		{"pt-br", "sms", "pt-BR"},
		{"PT_br", "sms", "pt-BR"},
		{"pt-BR", "apns", "pt"}, // pt-BR has no push: its parent's
		{"pt-BR-x-rio", "sms", "pt-BR"},
		{"pt-PT", "sms", "pt"},
		{"pt", "fcm", "pt"},
		{"pt-BR", "email", "default"}, // nobody but the default has email
		{"es-419", "apns", "es-419"},
		{"es", "apns", "default"},
		{"es-419", "sms", "default"},
		{"fr", "sms", "default"},
		{"", "sms", "default"},
		{"-", "sms", "default"},
		{"pt-", "sms", "pt"},
		{strings.Repeat("pt-", 40), "sms", "default"}, // over-long: only the default
	}
	for _, tt := range tests {
		t.Run(tt.locale+"/"+tt.channel, func(t *testing.T) {
			m := mustRender(t, s, "hi", tt.channel, tt.locale, nil)
			got := m.Title + m.Body + m.Subject
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLocaleFallbackWithoutDefault(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("hi", "fr", template.Variants{SMS: &template.SMS{Body: "salut"}}))

	assert.Equal(t, "salut", mustRender(t, s, "hi", "sms", "fr-CA", nil).Body)

	for _, tc := range []struct{ locale, channel string }{{"de", "sms"}, {"", "sms"}, {"fr", "apns"}} {
		_, err := render(t, s, "hi", tc.channel, tc.locale, nil)
		require.ErrorIs(t, err, notify.ErrUnknownTemplate, "%+v", tc)
		assert.Contains(t, err.Error(), `"hi"`)
	}
	// Adding a default later fills the gap for every locale.
	require.NoError(t, s.Add("hi", "", template.Variants{SMS: &template.SMS{Body: "hi"}}))
	assert.Equal(t, "hi", mustRender(t, s, "hi", "sms", "de", nil).Body)
	assert.Equal(t, "salut", mustRender(t, s, "hi", "sms", "fr", nil).Body)
}

func TestUnknownTemplate(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("sms-only", "", template.Variants{SMS: &template.SMS{Body: "x"}}))
	require.NoError(t, s.Add("sms-only", "pt", template.Variants{SMS: &template.SMS{Body: "y"}}))

	tests := []struct{ name, template, channel, locale, mention string }{
		{"no such name", "nope", "sms", "", `"nope"`},
		{"empty name", "", "sms", "", `""`},
		{"no variant for kind anywhere", "sms-only", "apns", "pt-BR", "no push variant"},
		{"no variant for email", "sms-only", "email", "", "no email variant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := render(t, s, tt.template, tt.channel, tt.locale, nil)
			require.ErrorIs(t, err, notify.ErrUnknownTemplate)
			assert.Contains(t, err.Error(), tt.mention)
			assert.True(t, m.IsZero())
		})
	}
}

func TestMissingVariable(t *testing.T) {
	s := template.New(template.Config{})
	add := func(name string, v template.Variants) {
		t.Helper()
		require.NoError(t, s.Add(name, "", v))
	}
	add("top", template.Variants{SMS: &template.SMS{Body: "Hi {{.name}}"}})
	add("nested", template.Variants{SMS: &template.SMS{Body: "Hi {{.user.name}}"}})
	add("piped", template.Variants{SMS: &template.SMS{Body: "Hi {{.name | printf \"%s!\"}}"}})
	add("inrange", template.Variants{SMS: &template.SMS{Body: "{{range .items}}{{.sku}} {{end}}"}})
	add("dataval", template.Variants{Push: &template.Push{Data: map[string]string{"url": "/o/{{.id}}"}}})
	add("html", template.Variants{Email: &template.Email{Subject: "s", HTML: "<b>{{.name}}</b>"}})
	add("subject", template.Variants{Email: &template.Email{Subject: "{{.name}}", Text: "t"}})

	tests := []struct {
		name, template, channel, field, mention string
		data                                    map[string]any
	}{
		{"absent key", "top", "sms", "body", "name", map[string]any{"nom": "x"}},
		{"nil data", "top", "sms", "body", "name", nil},
		{"nil value", "top", "sms", "body", "missing variable: .name", map[string]any{"name": nil}},
		{"typed nil pointer", "top", "sms", "body", "missing variable: .name is nil", map[string]any{"name": (*string)(nil)}},
		{"nil value through a pipe", "piped", "sms", "body", "missing variable: .name", map[string]any{"name": nil}},
		{"absent nested key", "nested", "sms", "body", "name", map[string]any{"user": map[string]any{"id": 1}}},
		{"absent nested key in map[string]string", "nested", "sms", "body", "name", map[string]any{"user": map[string]string{"id": "1"}}},
		{"nil parent", "nested", "sms", "body", "name", map[string]any{"user": nil}},
		{"absent parent", "nested", "sms", "body", "user", map[string]any{}},
		{"nil nested value", "nested", "sms", "body", "missing variable: .user.name", map[string]any{"user": map[string]any{"name": nil}}},
		{"absent key in range element", "inrange", "sms", "body", "sku", map[string]any{"items": []map[string]any{{"sku": "a"}, {"id": 2}}}},
		{"push data value", "dataval", "fcm", `data["url"]`, "id", map[string]any{}},
		{"html", "html", "email", "html", "missing variable: .name", map[string]any{"name": nil}},
		{"email subject", "subject", "email", "subject", "name", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := render(t, s, tt.template, tt.channel, "pt-BR", tt.data)
			require.Error(t, err)
			assert.True(t, m.IsZero())
			assert.NotErrorIs(t, err, notify.ErrUnknownTemplate)
			var te *template.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.template, te.Template)
			assert.Equal(t, "", te.Locale, "the variant used is the default's")
			assert.Equal(t, tt.field, te.Field)
			assert.Contains(t, err.Error(), tt.mention)
			assert.NotContains(t, err.Error(), "<no value>")
		})
	}

	// The same templates render when the data is complete.
	assert.Equal(t, "Hi Ana", mustRender(t, s, "nested", "sms", "", map[string]any{"user": map[string]any{"name": "Ana"}}).Body)
	assert.Equal(t, "Hi Ana", mustRender(t, s, "nested", "sms", "", map[string]any{"user": map[string]string{"name": "Ana"}}).Body)
	assert.Equal(t, "Hi Ana!", mustRender(t, s, "piped", "sms", "", map[string]any{"name": "Ana"}).Body)
	assert.Equal(t, "a b ", mustRender(t, s, "inrange", "sms", "", map[string]any{"items": []map[string]any{{"sku": "a"}, {"sku": "b"}}}).Body)
	// A value that is not nil but empty is not missing.
	assert.Equal(t, "Hi ", mustRender(t, s, "top", "sms", "", map[string]any{"name": ""}).Body)
	// A nil value may still be tested.
	require.NoError(t, s.Add("cond", "", template.Variants{SMS: &template.SMS{Body: "{{if .name}}Hi {{.name}}{{else}}Hi there{{end}}"}}))
	assert.Equal(t, "Hi there", mustRender(t, s, "cond", "sms", "", map[string]any{"name": nil}).Body)
}

func TestHTMLEscaping(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("welcome", "", template.Variants{Email: &template.Email{
		Subject: "Hi {{.name}}",
		Text:    "Hi {{.name}}, see {{.url}}",
		HTML:    `<p title="{{.name}}">Hi {{.name}}</p><a href="{{.url}}">open</a><script>var n = {{.name}};</script>`,
	}}))
	m := mustRender(t, s, "welcome", "email", "", map[string]any{
		"name": `<script>alert("x")</script> & 'co'`,
		"url":  "javascript:alert(1)",
	})
	assert.Equal(t, `Hi <script>alert("x")</script> & 'co'`, m.Subject, "subject is text, not HTML")
	assert.Equal(t, `Hi <script>alert("x")</script> & 'co', see javascript:alert(1)`, m.Text, "text is not escaped")
	assert.Contains(t, m.HTML, `<p title="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;co&#39;">`)
	assert.Contains(t, m.HTML, `Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;co&#39;</p>`)
	assert.Contains(t, m.HTML, `<a href="#ZgotmplZ">`, "an unsafe URL is neutralised")
	assert.Contains(t, m.HTML, `var n = "\u003cscript\u003ealert(`, "JS context: a string literal")
	assert.NotContains(t, m.HTML, "<script>alert")

	// Static HTML is rendered once by html/template, which drops comments.
	require.NoError(t, s.Add("static", "", template.Variants{Email: &template.Email{Subject: "s", HTML: "<p>hi<!-- secret --></p>"}}))
	assert.Equal(t, "<p>hi</p>", mustRender(t, s, "static", "email", "", nil).HTML)
}

func TestAddBrokenTemplate(t *testing.T) {
	ok := template.Variants{SMS: &template.SMS{Body: "ok"}}
	tests := []struct {
		name    string
		locale  string
		v       template.Variants
		kind    template.Kind
		field   string
		mention string
	}{
		{"push title syntax", "pt-BR", template.Variants{Push: &template.Push{Title: "Hi {{.name"}}, template.KindPush, "title", "unclosed action"},
		{"push subtitle syntax", "", template.Variants{Push: &template.Push{Title: "t", Subtitle: "{{end}}"}}, template.KindPush, "subtitle", "unexpected {{end}}"},
		{"push body unknown func", "", template.Variants{Push: &template.Push{Body: "{{shout .name}}"}}, template.KindPush, "body", `function "shout" not defined`},
		{"push data value", "", template.Variants{Push: &template.Push{Data: map[string]string{"a": "ok", "url": "{{if}}"}}}, template.KindPush, `data["url"]`, "missing value for if"},
		{"sms body", "", template.Variants{SMS: &template.SMS{Body: "{{range .x}}"}}, template.KindSMS, "body", "unexpected EOF"},
		{"email subject", "", template.Variants{Email: &template.Email{Subject: "{{.a)}}", Text: "t"}}, template.KindEmail, "subject", "unexpected right paren"},
		{"email text", "", template.Variants{Email: &template.Email{Subject: "s", Text: "{{/* x"}}, template.KindEmail, "text", "unclosed comment"},
		{"email html syntax", "", template.Variants{Email: &template.Email{Subject: "s", HTML: "<p>{{.x}</p>"}}, template.KindEmail, "html", "bad character"},
		{"undefined template", "", template.Variants{SMS: &template.SMS{Body: `{{template "footer" .}}`}}, template.KindSMS, "body", `undefined template "footer"`},
		{"undefined template in html", "", template.Variants{Email: &template.Email{Subject: "s", HTML: `<p>{{template "footer" .}}</p>`}}, template.KindEmail, "html", `undefined template "footer"`},
		{"html ends in attribute", "", template.Variants{Email: &template.Email{Subject: "s", HTML: `<a href="{{.url}}`}}, template.KindEmail, "html", "non-text context"},
		{"html branches disagree", "", template.Variants{Email: &template.Email{Subject: "s", HTML: `{{if .x}}<a href="{{else}}<b>{{end}}{{.y}}`}}, template.KindEmail, "html", "branches end in different contexts"},
		{"static html unescapable", "", template.Variants{Email: &template.Email{Subject: "s", HTML: `<a href="x`}}, template.KindEmail, "html", "non-text context"},
		{"empty sms", "", template.Variants{SMS: &template.SMS{}}, template.KindSMS, "body", "needs a Body"},
		{"email without subject", "", template.Variants{Email: &template.Email{Text: "t"}}, template.KindEmail, "subject", "needs a Subject"},
		{"email without body", "", template.Variants{Email: &template.Email{Subject: "s"}}, template.KindEmail, "", "set Text, HTML or both"},
		{"empty push", "", template.Variants{Push: &template.Push{}}, template.KindPush, "", "empty variant"},
		{"no variants", "", template.Variants{}, 0, "", "no variant"},
		{"bad locale", "pt BR", ok, 0, "", "invalid locale"},
		{"bad locale subtag", "pt--BR", ok, 0, "", "invalid locale"},
		{"locale too long", strings.Repeat("abcdefgh-", 6), ok, 0, "", "invalid locale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := template.New(template.Config{})
			err := s.Add("welcome", tt.locale, tt.v)
			require.Error(t, err)
			var te *template.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "welcome", te.Template)
			assert.Equal(t, tt.kind, te.Kind)
			assert.Equal(t, tt.field, te.Field)
			msg := err.Error()
			assert.Contains(t, msg, `template "welcome"`)
			assert.Contains(t, msg, tt.mention)
			if tt.kind != 0 {
				assert.Contains(t, msg, strings.TrimSpace(tt.kind.String()+" "+tt.field)+": ")
			}
			if tt.locale == "pt-BR" {
				assert.Equal(t, "pt-br", te.Locale)
				assert.Contains(t, msg, `locale "pt-br"`)
			}

			// Nothing was registered.
			_, err = render(t, s, "welcome", "sms", tt.locale, nil)
			assert.ErrorIs(t, err, notify.ErrUnknownTemplate)
		})
	}
}

func TestAddBrokenKeepsPrevious(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("w", "", template.Variants{SMS: &template.SMS{Body: "v1"}}))
	require.Error(t, s.Add("w", "", template.Variants{SMS: &template.SMS{Body: "{{"}}))
	assert.Equal(t, "v1", mustRender(t, s, "w", "sms", "", nil).Body)
}

func TestAddReplaces(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("w", "", template.Variants{SMS: &template.SMS{Body: "default"}}))
	require.NoError(t, s.Add("w", "pt", template.Variants{SMS: &template.SMS{Body: "v1"}, Push: &template.Push{Title: "p1"}}))
	require.NoError(t, s.Add("w", "PT", template.Variants{SMS: &template.SMS{Body: "v2"}}))
	assert.Equal(t, "v2", mustRender(t, s, "w", "sms", "pt-BR", nil).Body)
	// The replacement has no push variant, and the default has none either.
	_, err := render(t, s, "w", "apns", "pt", nil)
	assert.ErrorIs(t, err, notify.ErrUnknownTemplate)
}

func TestConfigFuncs(t *testing.T) {
	s := template.New(template.Config{Funcs: map[string]any{
		"upper": strings.ToUpper,
		"fail":  func(string) (string, error) { return "", errors.New("no luck") },
	}})
	require.NoError(t, s.Add("f", "", template.Variants{
		SMS:   &template.SMS{Body: "{{upper .name}}"},
		Email: &template.Email{Subject: "{{.name | upper}}", HTML: "<b>{{upper .name}}</b>"},
		Push:  &template.Push{Body: "{{fail .name}}"},
	}))
	data := map[string]any{"name": "a<b"}
	assert.Equal(t, "A<B", mustRender(t, s, "f", "sms", "", data).Body)
	m := mustRender(t, s, "f", "email", "", data)
	assert.Equal(t, "A<B", m.Subject)
	assert.Equal(t, "<b>A&lt;B</b>", m.HTML)
	_, err := render(t, s, "f", "apns", "", data)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no luck")

	bad := []struct {
		name    string
		funcs   map[string]any
		mention string
	}{
		{"not a function", map[string]any{"x": 3}, `Config.Funcs["x"]: int is not a function`},
		{"nil function", map[string]any{"x": (func() string)(nil)}, "is not a function"},
		{"no result", map[string]any{"x": func() {}}, "must return one value"},
		{"second result not error", map[string]any{"x": func() (int, int) { return 0, 0 }}, "must return one value"},
		{"bad name", map[string]any{"a-b": strings.ToUpper}, "not a valid identifier"},
		{"reserved name", map[string]any{"_notify_value": strings.ToUpper}, "reserved"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s := template.New(template.Config{Funcs: tt.funcs})
			err := s.Add("x", "", template.Variants{SMS: &template.SMS{Body: "x"}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.mention)
		})
	}
}

func TestFuncsAreNotCalledAtAdd(t *testing.T) {
	var calls int
	var mu sync.Mutex
	s := template.New(template.Config{Funcs: map[string]any{"count": func() string {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return "n"
	}}})
	require.NoError(t, s.Add("c", "", template.Variants{Email: &template.Email{Subject: "{{count}}", Text: "{{count}}", HTML: "<p>{{count}}</p>"}}))
	assert.Zero(t, calls, "Add must not run the host's functions")
	mustRender(t, s, "c", "email", "", nil)
	assert.Equal(t, 3, calls)
}

func TestMaxBytes(t *testing.T) {
	s := template.New(template.Config{MaxBytes: 64})
	require.NoError(t, s.Add("big", "", template.Variants{
		SMS:   &template.SMS{Body: "{{.x}}"},
		Email: &template.Email{Subject: "{{range .n}}xxxxxxxxxx{{end}}", HTML: "<p>{{.x}}</p>"},
	}))
	_, err := render(t, s, "big", "sms", "", map[string]any{"x": strings.Repeat("a", 65)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MaxBytes")
	_, err = render(t, s, "big", "email", "", map[string]any{"n": 7, "x": "y"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MaxBytes")
	assert.Equal(t, strings.Repeat("a", 64), mustRender(t, s, "big", "sms", "", map[string]any{"x": strings.Repeat("a", 64)}).Body)
}

func TestValueFormatting(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("v", "", template.Variants{SMS: &template.SMS{Body: "{{.v}}"}}))
	type named string
	for _, v := range []any{
		"s", true, 42, int8(-8), int64(-1 << 62), uint(7), uint8(255), uint64(1 << 63),
		1.0, 0.1, 1e21, 1e-7, 123456789.0, float32(0.1), math.Copysign(0, -1), 3.5e300,
		named("n"), []int{1, 2}, map[string]int{"a": 1}, struct{ A int }{1},
	} {
		m := mustRender(t, s, "v", "sms", "", map[string]any{"v": v})
		assert.Equal(t, fmt.Sprint(v), m.Body, "%T %v", v, v)
	}
}

// TestConcurrentAddRender renders while templates are replaced: every
// render sees one whole version, never the title of one and the body of
// another. Run with -race.
func TestConcurrentAddRender(t *testing.T) {
	s := template.New(template.Config{})
	version := func(i int) template.Variants {
		return template.Variants{Push: &template.Push{
			Title: fmt.Sprintf("v%d {{.n}}", i),
			Body:  fmt.Sprintf("v%d", i),
			Data:  map[string]string{"v": fmt.Sprintf("v%d", i)},
		}}
	}
	require.NoError(t, s.Add("t", "", version(0)))

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			d := &notify.Delivery{Template: "t", Channel: "apns", Locale: "pt-BR", Data: map[string]any{"n": 1}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				m, err := s.Render(context.Background(), d)
				if err != nil {
					errs <- err
					return
				}
				if m.Title != m.Body+" 1" || m.Data["v"] != m.Body {
					errs <- fmt.Errorf("torn render: %+v", m)
					return
				}
			}
		})
	}
	for i := 1; i <= 200; i++ {
		require.NoError(t, s.Add("t", "", version(i)))
		require.NoError(t, s.Add("t", fmt.Sprintf("l%d", i), version(i)))
		require.NoError(t, s.Add(fmt.Sprintf("other%d", i), "", version(i)))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, "v200", mustRender(t, s, "t", "apns", "", map[string]any{"n": 1}).Body)
}
