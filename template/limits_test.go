package template_test

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"math"
	"strings"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
)

// renderWithin renders and fails the test, rather than hanging it, when
// Render does not return within limit.
func renderWithin(t *testing.T, limit time.Duration, ctx context.Context, s *template.Set, d *notify.Delivery) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := s.Render(ctx, d)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
		return err
	case <-time.After(limit):
		t.Fatalf("Render still running after %s", limit)
		return nil
	}
}

// endless are templates whose work is unbounded for n = 1<<62 while
// they print nothing, or next to nothing.
var endless = []struct {
	name string
	v    template.Variants
}{
	{"empty range body", template.Variants{SMS: &template.SMS{Body: "{{range .n}}{{end}}"}}},
	{"range body that prints nothing", template.Variants{SMS: &template.SMS{Body: `{{range .n}}{{if false}}x{{end}}{{$x := 1}}{{end}}`}}},
	{"continue before the output", template.Variants{SMS: &template.SMS{Body: "{{range .n}}{{continue}}x{{end}}"}}},
	{"range over the index", template.Variants{SMS: &template.SMS{Body: "{{range $i := .n}}{{range $.n}}{{end}}{{end}}"}}},
	{"range in a defined template", template.Variants{Push: &template.Push{Title: `{{define "loop"}}{{range .}}{{end}}{{end}}{{template "loop" .n}}`}}},
	{"html range", template.Variants{Email: &template.Email{Subject: "s", HTML: `<p>{{range .n}}{{end}}</p>`}}},
	{"html range in an attribute", template.Variants{Email: &template.Email{Subject: "s", HTML: `<a title="{{range .n}}{{end}}">x</a>`}}},
	{"exponential templates", template.Variants{SMS: &template.SMS{Body: fanout(60)}}},
	{"recursion over range", template.Variants{SMS: &template.SMS{Body: `{{define "r"}}{{range .}}{{template "r" .}}{{end}}{{end}}{{template "r" 62}}`}}},
}

// fanout returns a template of depth defined templates, each calling the
// next twice: 2^depth calls, no range and no output.
func fanout(depth int) string {
	var sb strings.Builder
	for i := range depth {
		fmt.Fprintf(&sb, `{{define "t%d"}}{{template "t%d"}}{{template "t%d"}}{{end}}`, i, i+1, i+1)
	}
	fmt.Fprintf(&sb, `{{define "t%d"}}{{end}}{{template "t0"}}`, depth)
	return sb.String()
}

func channelOf(v template.Variants) string {
	switch {
	case v.SMS != nil:
		return "sms"
	case v.Email != nil:
		return "email"
	}
	return "apns"
}

// TestRenderStopsAtDeadline: with no step limit to speak of, a render
// that would run for ever stops when its context's deadline passes.
func TestRenderStopsAtDeadline(t *testing.T) {
	for _, tc := range endless {
		t.Run(tc.name, func(t *testing.T) {
			s := template.New(template.Config{MaxSteps: math.MaxInt})
			require.NoError(t, s.Add("t", "", tc.v))
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			err := renderWithin(t, 10*time.Second, ctx, s, &notify.Delivery{Template: "t", Channel: channelOf(tc.v), Data: map[string]any{"n": 1 << 62}})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			var te *template.Error
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "t", te.Template)
		})
	}
}

// TestRenderStopsAtMaxSteps: without a deadline, the step limit stops
// the same renders, promptly. (A smaller limit than the default keeps the
// test quick under -race; TestDefaultMaxSteps runs the default.)
func TestRenderStopsAtMaxSteps(t *testing.T) {
	for _, tc := range endless {
		t.Run(tc.name, func(t *testing.T) {
			s := template.New(template.Config{MaxSteps: 1 << 12})
			require.NoError(t, s.Add("t", "", tc.v))
			err := renderWithin(t, 10*time.Second, context.Background(), s, &notify.Delivery{Template: "t", Channel: channelOf(tc.v), Data: map[string]any{"n": 1 << 62}})
			require.ErrorIs(t, err, template.ErrTooManySteps)
			var te *template.Error
			require.ErrorAs(t, err, &te)
		})
	}
}

// TestMaxStepsCountsIterationsAndCalls pins what a step is, so the
// default leaves real templates alone: a range of n iterations over a
// body of k writes takes about n*(k+1) steps.
func TestMaxStepsCountsIterationsAndCalls(t *testing.T) {
	s := template.New(template.Config{MaxSteps: 100})
	require.NoError(t, s.Add("list", "", template.Variants{SMS: &template.SMS{Body: "{{range .items}}{{.}},{{end}}"}}))
	require.NoError(t, s.Add("calls", "", template.Variants{SMS: &template.SMS{Body: fanout(6)}}))
	items := func(n int) []string { return strings.Split(strings.Repeat("a", n), "") }

	m, err := render(t, s, "list", "sms", "", map[string]any{"items": items(33)})
	require.NoError(t, err, "33 iterations of 3 steps fit in 100")
	assert.Equal(t, strings.Repeat("a,", 33), m.Body)
	_, err = render(t, s, "list", "sms", "", map[string]any{"items": items(34)})
	require.ErrorIs(t, err, template.ErrTooManySteps)

	_, err = render(t, s, "calls", "sms", "", nil)
	require.ErrorIs(t, err, template.ErrTooManySteps, "2^7-1 = 127 template calls, one step each")
}

// TestDefaultMaxSteps: the default stops an endless range, and lets a
// range over 20,000 items that prints each render.
func TestDefaultMaxSteps(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("t", "", endless[0].v))
	err := renderWithin(t, 30*time.Second, context.Background(), s, &notify.Delivery{Template: "t", Channel: "sms", Data: map[string]any{"n": 1 << 62}})
	require.ErrorIs(t, err, template.ErrTooManySteps)

	require.NoError(t, s.Add("list", "", template.Variants{
		SMS:   &template.SMS{Body: "{{range .items}}{{.}}{{end}}"},
		Email: &template.Email{Subject: "s", HTML: "<ul>{{range .items}}<li>{{.}}</li>{{end}}</ul>"},
	}))
	items := make([]int, 20000)
	m, err := render(t, s, "list", "sms", "", map[string]any{"items": items})
	require.NoError(t, err)
	assert.Len(t, m.Body, 20000)
	m, err = render(t, s, "list", "email", "", map[string]any{"items": items})
	require.NoError(t, err)
	assert.Equal(t, 20000, strings.Count(m.HTML, "<li>0</li>"))
}

// TestRangeOutputUnchanged: the step markers print nothing: in text and
// HTML, in range bodies and defined templates, a Set renders what
// text/template and html/template render.
func TestRangeOutputUnchanged(t *testing.T) {
	text := `{{define "item"}}[{{.}}]{{end}}{{range $i, $x := .xs}}{{if $i}}, {{end}}{{template "item" $x}}{{else}}none{{end}}|{{range 3}}{{.}}{{end}}`
	html := `{{define "li"}}<li title="{{.}}">{{.}}</li>{{end}}<ul>{{range .xs}}{{template "li" .}}{{end}}</ul>` +
		`<a href="/x?{{range .xs}}q={{.}}&{{end}}" onclick="f({{range .xs}}{{.}},{{end}})">y</a><script>var a = [{{range .xs}}{{.}},{{end}}];</script>`
	s := template.New(template.Config{})
	require.NoError(t, s.Add("r", "", template.Variants{SMS: &template.SMS{Body: text}, Email: &template.Email{Subject: "s", HTML: html}}))
	for _, xs := range [][]string{{"a", `b<\"`}, {}} {
		data := map[string]any{"xs": xs}
		var want strings.Builder
		require.NoError(t, texttemplate.Must(texttemplate.New("").Parse(text)).Execute(&want, data))
		assert.Equal(t, want.String(), mustRender(t, s, "r", "sms", "", data).Body)
		want.Reset()
		require.NoError(t, htmltemplate.Must(htmltemplate.New("").Parse(html)).Execute(&want, data))
		assert.Equal(t, want.String(), mustRender(t, s, "r", "email", "", data).HTML)
	}
}

// TestOutputOverMaxBytesIsTyped: both the template and the fast path
// fail with ErrTooLarge, wrapped in an *Error naming the part.
func TestOutputOverMaxBytesIsTyped(t *testing.T) {
	s := template.New(template.Config{MaxBytes: 1 << 10})
	require.NoError(t, s.Add("big", "", template.Variants{
		SMS:  &template.SMS{Body: "{{range .n}}x{{end}}"},         // executed
		Push: &template.Push{Title: "hi {{.x}}!", Body: "{{.x}}"}, // fast path
	}))
	for _, tc := range []struct {
		channel string
		data    map[string]any
		field   string
	}{
		{"sms", map[string]any{"n": 1 << 62}, "body"},
		{"apns", map[string]any{"x": strings.Repeat("a", 1<<20)}, "title"},
		{"apns", map[string]any{"x": strings.Repeat("a", 600)}, "body"}, // each part fits, not both
	} {
		_, err := render(t, s, "big", tc.channel, "", tc.data)
		require.ErrorIs(t, err, template.ErrTooLarge)
		var te *template.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, tc.field, te.Field)
	}
}

// TestRenderChecksContextFirst: a render whose context is already done
// fails at once, whichever way the template would have been rendered.
func TestRenderChecksContextFirst(t *testing.T) {
	s := template.New(template.Config{})
	require.NoError(t, s.Add("t", "", template.Variants{SMS: &template.SMS{Body: "static"}, Push: &template.Push{Title: "{{.x}}"}}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, ch := range []string{"sms", "apns"} {
		_, err := s.Render(ctx, &notify.Delivery{Template: "t", Channel: ch, Data: map[string]any{"x": "y"}})
		require.ErrorIs(t, err, context.Canceled, ch)
	}
	_, err := s.Render(ctx, &notify.Delivery{Template: "nope", Channel: "sms"})
	require.True(t, errors.Is(err, notify.ErrUnknownTemplate), "an unknown template is reported as such: %v", err)
}
