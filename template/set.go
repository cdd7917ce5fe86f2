package template

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/gonotify/notify"
)

// Kind is the kind of channel a variant is written for.
type Kind uint8

// Kinds of channel. Built-in channel names map to them as follows:
// "apns" and "fcm" to KindPush, "sms" to KindSMS, "email" to KindEmail;
// [Config.Kinds] maps others.
const (
	KindPush Kind = iota + 1
	KindSMS
	KindEmail

	numKinds = int(KindEmail) + 1
)

// String returns "push", "sms" or "email".
func (k Kind) String() string {
	switch k {
	case KindPush:
		return "push"
	case KindSMS:
		return "sms"
	case KindEmail:
		return "email"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// DefaultMaxBytes is the default for [Config.MaxBytes].
const DefaultMaxBytes = 1 << 20

// DefaultMaxSteps is the default for [Config.MaxSteps].
const DefaultMaxSteps = 1 << 20

// Config configures a [Set]. The zero value is ready to use.
type Config struct {
	// Funcs are functions templates may call, as in text/template's
	// FuncMap: each value is a function returning one value, or a value and
	// an error. They are available in every part, text and HTML alike, and
	// must be safe for concurrent use. An invalid entry (not a function, a
	// bad signature, a name that is not an identifier) makes every
	// [Set.Add] fail with an error naming it.
	Funcs map[string]any
	// Kinds maps further channel names to the variant they render, and may
	// override the built-in mapping ("apns", "fcm": push; "sms": SMS;
	// "email": email). A channel with no kind has no variant: Render
	// returns an error wrapping [notify.ErrUnknownTemplate].
	Kinds map[string]Kind
	// MaxBytes bounds the content of one rendered message, all parts
	// together; rendering past it fails with [ErrTooLarge]. Default
	// DefaultMaxBytes (1 MiB).
	MaxBytes int
	// MaxSteps bounds the work of rendering one message, all parts
	// together: each piece of text and each printed action written, each
	// iteration of a {{range}} and each call of a {{template}} is a step.
	// Rendering past it fails with [ErrTooManySteps]. A template's steps
	// do not depend on how long the data's strings are, only on how many
	// items its ranges go over. Default DefaultMaxSteps (1,048,576 steps:
	// at most about 0.1 to 1 s of work, depending on how much of the
	// template runs between two writes).
	MaxSteps int
}

// Push is the push notification variant (APNs, FCM). Every field is a
// text/template; Data's values are templates too, its keys are literal.
// At least one field must be set.
type Push struct {
	Title    string
	Subtitle string
	Body     string
	Data     map[string]string
}

// SMS is the text message variant. Body is a text/template and is required.
type SMS struct {
	Body string
}

// Email is the email variant. Subject (required) and Text are rendered with
// text/template, HTML with html/template, which escapes data for the
// context it appears in. At least one of Text and HTML must be set.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Variants holds one template's content for one locale, a variant per kind
// of channel. Nil variants are absent: deliveries on that kind of channel
// fall back to the parent locale's variant.
type Variants struct {
	Push  *Push
	SMS   *SMS
	Email *Email
}

// Set is a collection of named templates. Create one with [New], register
// templates with [Set.Add] at start-up, and give it to the Dispatcher as
// its [notify.Renderer]. A Set is safe for concurrent use.
type Set struct {
	kinds    map[string]Kind
	funcs    map[string]any
	funcsErr error
	maxBytes int
	maxSteps int

	mu     sync.RWMutex
	byName map[string]*named // entries are immutable once published

	bufs sync.Pool // *renderBuf
}

// named is every locale of one template. It is replaced, never changed.
type named struct {
	locales map[string]*entry // canonical locale ("" = default) -> entry
}

// entry is one template in one locale.
type entry struct {
	own      [numKinds]*variant // as added
	resolved [numKinds]*variant // after fallback through the parent locales
}

// New returns an empty Set configured by cfg.
func New(cfg Config) *Set {
	s := &Set{
		kinds: map[string]Kind{
			notify.ChannelAPNs:  KindPush,
			notify.ChannelFCM:   KindPush,
			notify.ChannelSMS:   KindSMS,
			notify.ChannelEmail: KindEmail,
		},
		maxBytes: cfg.MaxBytes,
		maxSteps: cfg.MaxSteps,
		byName:   make(map[string]*named),
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.maxSteps <= 0 {
		s.maxSteps = DefaultMaxSteps
	}
	for ch, k := range cfg.Kinds {
		s.kinds[ch] = k
	}
	s.funcs, s.funcsErr = checkFuncs(cfg.Funcs)
	s.bufs.New = func() any { return new(renderBuf) }
	return s
}

// Add parses v and registers it as template name in locale, replacing
// whatever that name and locale held before (its variants are all
// replaced: a kind v leaves nil is absent afterwards). Locale "" is the
// default every locale falls back to; other locales are BCP 47-like tags
// ("pt-BR", "pt_br", "es-419"), compared case-insensitively.
//
// Add returns an [*Error] naming the template, locale, kind and field
// when a part does not parse, calls an unknown function or template, or
// (HTML) cannot be escaped; nothing is registered then. It is safe to call
// while other goroutines Render.
func (s *Set) Add(name, locale string, v Variants) error {
	if s.funcsErr != nil {
		return fmt.Errorf("template: add %q: %w", name, s.funcsErr)
	}
	if name == "" {
		return fmt.Errorf("template: add: empty template name")
	}
	loc, err := canonLocale(locale)
	if err != nil {
		return &Error{Template: name, Locale: locale, Err: err}
	}
	if v.Push == nil && v.SMS == nil && v.Email == nil {
		return &Error{Template: name, Locale: loc, Err: fmt.Errorf("no variant: set at least one of Push, SMS and Email")}
	}
	e := &entry{}
	c := compiler{set: s, name: name, locale: loc}
	if v.Push != nil {
		if e.own[KindPush], err = c.push(v.Push); err != nil {
			return err
		}
	}
	if v.SMS != nil {
		if e.own[KindSMS], err = c.sms(v.SMS); err != nil {
			return err
		}
	}
	if v.Email != nil {
		if e.own[KindEmail], err = c.email(v.Email); err != nil {
			return err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	n := &named{locales: make(map[string]*entry)}
	if old := s.byName[name]; old != nil {
		for l, oe := range old.locales {
			n.locales[l] = &entry{own: oe.own}
		}
	}
	n.locales[loc] = e
	for l, le := range n.locales {
		for k := range numKinds {
			le.resolved[k] = n.resolve(l, Kind(k))
		}
	}
	s.byName[name] = n
	return nil
}

// resolve returns the variant of kind k that a delivery in locale loc
// uses: loc's own, else its parent's, up to the default.
func (n *named) resolve(loc string, k Kind) *variant {
	for {
		if e := n.locales[loc]; e != nil && e.own[k] != nil {
			return e.own[k]
		}
		if loc == "" {
			return nil
		}
		loc = parentLocale(loc)
	}
}

// Render renders d.Template for d.Channel's kind in d.Locale (falling back
// to the parent locales, then the default) with d.Data as dot. It
// implements [notify.Renderer].
//
// When the template, or a variant for the channel's kind in every locale
// of the fallback chain, is missing, the error wraps
// [notify.ErrUnknownTemplate]. A data error (a missing key or nil value, a
// function's error, a message over [Config.MaxBytes] or a render over
// [Config.MaxSteps]) is an [*Error]; the same data will fail again, so the
// delivery should not be retried.
//
// Render does no I/O. It stops when ctx is done, returning an [*Error]
// that wraps ctx.Err() (not a data error: a retry may succeed). ctx is
// checked once the template is found, then every 1,024 steps and every
// 4 KiB of output; see [Config.MaxSteps] for what a step is, and the
// package documentation for what these bounds leave out.
//
// Render allocates one string for all the
// message's templated parts and, for push with Data, the map; a part with
// no actions costs nothing, and parts made of text and {{.a.b}} actions
// (in HTML: in text, quoted attributes and URL paths and queries) are
// rendered without executing the template, with the same output.
func (s *Set) Render(ctx context.Context, d *notify.Delivery) (notify.Message, error) {
	kind, ok := s.kinds[d.Channel]
	if !ok || kind == 0 || int(kind) >= numKinds {
		return notify.Message{}, fmt.Errorf("template %q: channel %q has no template kind (set template.Config.Kinds): %w",
			d.Template, d.Channel, notify.ErrUnknownTemplate)
	}
	s.mu.RLock()
	n := s.byName[d.Template]
	s.mu.RUnlock()
	if n == nil {
		return notify.Message{}, fmt.Errorf("template %q: %w", d.Template, notify.ErrUnknownTemplate)
	}
	v := n.lookup(d.Locale, kind)
	if v == nil {
		return notify.Message{}, fmt.Errorf("template %q has no %s variant for locale %q or its fallbacks (%s): %w",
			d.Template, kind, d.Locale, n.describe(kind), notify.ErrUnknownTemplate)
	}
	if err := ctx.Err(); err != nil {
		return notify.Message{}, &Error{Template: v.name, Locale: v.locale, Kind: v.kind, Err: err}
	}
	return s.render(ctx, v, d.Data)
}

// lookup finds the variant of kind k for a delivery in locale tag, trying
// tag, its parents and the default. It does not allocate.
func (n *named) lookup(tag string, k Kind) *variant {
	var arr [maxLocale]byte
	buf := arr[:0]
	if len(tag) <= len(arr) {
		for i := 0; i < len(tag); i++ {
			c := tag[i]
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '_':
				c = '-'
			}
			buf = append(buf, c)
		}
	}
	// An over-long tag is no locale: only the default applies.
	for {
		if e := n.locales[string(buf)]; e != nil {
			return e.resolved[k]
		}
		if len(buf) == 0 {
			return nil
		}
		i := len(buf) - 1
		for i > 0 && buf[i] != '-' {
			i--
		}
		buf = buf[:i]
	}
}

// describe lists the locales that have a variant of kind k, for errors.
func (n *named) describe(k Kind) string {
	var have []string
	for l, e := range n.locales {
		if e.own[k] != nil {
			if l == "" {
				l = "default"
			}
			have = append(have, l)
		}
	}
	if len(have) == 0 {
		return "no locale has one"
	}
	sort.Strings(have)
	return "it has " + strings.Join(have, ", ")
}

// renderBuf is a pooled output buffer; it is the io.Writer templates
// execute into, and it enforces a render's limits: it stops a render that
// grows past max bytes or steps, or whose context is done.
//
// Every step of a template is a write: text/template writes each text
// node, even an empty one, and each printed action, and prepare puts an
// empty text node at the start of every {{range}} body and every
// {{define}}d template, so an iteration or a call that prints nothing
// still comes through here.
type renderBuf struct {
	b    []byte
	offs []int
	max  int

	ctx   context.Context
	steps int // left before ErrTooManySteps
	check int // len(b) from which ctx is checked again
}

// checkSteps and checkBytes are how often renderBuf checks its context:
// every so many steps, and every so many bytes of output.
const (
	checkSteps = 1 << 10
	checkBytes = 4 << 10
)

// reset prepares r for a render in ctx.
func (r *renderBuf) reset(ctx context.Context, maxBytes, maxSteps int) {
	r.b, r.offs, r.max = r.b[:0], r.offs[:0], maxBytes
	r.ctx, r.steps, r.check = ctx, maxSteps, checkBytes
}

// step accounts for a write of n bytes.
func (r *renderBuf) step(n int) error {
	if len(r.b)+n > r.max {
		return ErrTooLarge
	}
	r.steps--
	if r.steps < 0 {
		return ErrTooManySteps
	}
	if r.steps%checkSteps == 0 || len(r.b)+n >= r.check {
		r.check = len(r.b) + n + checkBytes
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderBuf) Write(p []byte) (int, error) {
	if err := r.step(len(p)); err != nil {
		return 0, err
	}
	r.b = append(r.b, p...)
	return len(p), nil
}

// WriteString lets text/template write text without a conversion.
func (r *renderBuf) WriteString(p string) (int, error) {
	if err := r.step(len(p)); err != nil {
		return 0, err
	}
	r.b = append(r.b, p...)
	return len(p), nil
}

var _ io.StringWriter = (*renderBuf)(nil)

// maxPooled is the largest buffer returned to the pool.
const maxPooled = 64 << 10

// render executes v's parts into one buffer and slices the message's
// fields out of one string: one allocation for all dynamic parts, none for
// static ones, plus the Data map for push.
func (s *Set) render(ctx context.Context, v *variant, data map[string]any) (notify.Message, error) {
	rb := s.bufs.Get().(*renderBuf)
	rb.reset(ctx, s.maxBytes, s.maxSteps)
	defer func() {
		rb.ctx = nil
		if cap(rb.b) <= maxPooled {
			s.bufs.Put(rb)
		}
	}()
	for i := range v.parts {
		p := &v.parts[i]
		start := len(rb.b)
		if p.static {
			rb.offs = append(rb.offs, start, start)
			continue
		}
		if err := p.run(rb, data); err != nil {
			return notify.Message{}, v.err(p, err)
		}
		rb.offs = append(rb.offs, start, len(rb.b))
	}
	out := string(rb.b)
	var m notify.Message
	if v.nData > 0 {
		m.Data = make(map[string]string, v.nData)
	}
	for i := range v.parts {
		p := &v.parts[i]
		val := p.text
		if !p.static {
			val = out[rb.offs[2*i]:rb.offs[2*i+1]]
		}
		switch p.field {
		case fieldTitle:
			m.Title = val
		case fieldSubtitle:
			m.Subtitle = val
		case fieldBody:
			m.Body = val
		case fieldData:
			m.Data[p.key] = val
		case fieldSubject:
			m.Subject = val
		case fieldText:
			m.Text = val
		case fieldHTML:
			m.HTML = val
		}
	}
	return m, nil
}
