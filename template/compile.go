package template

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"unicode"
)

// field is the Message field a part renders.
type field uint8

const (
	fieldTitle field = iota + 1
	fieldSubtitle
	fieldBody
	fieldData
	fieldSubject
	fieldText
	fieldHTML
)

// variant is one template's parsed content for one locale and kind.
type variant struct {
	name, locale string
	kind         Kind
	parts        []part
	nData        int // parts with field == fieldData
}

func (v *variant) err(p *part, err error) *Error {
	return &Error{Template: v.name, Locale: v.locale, Kind: v.kind, Field: p.label, Err: err}
}

// executor is a parsed text/template or html/template.
type executor interface {
	Execute(w io.Writer, data any) error
}

// part is one field of a variant.
type part struct {
	field field
	key   string // Data key (fieldData)
	label string // for errors: "title", "data[url]"

	// static parts do not depend on data: text is their output.
	static bool
	text   string
	// prog renders text parts made only of text and {{.a.b}} actions
	// without executing the template; nil when the part has anything else.
	prog []op
	exec executor
}

// run appends p's output for data to rb.
func (p *part) run(rb *renderBuf, data map[string]any) error {
	if p.prog != nil {
		start := len(rb.b)
		var ok bool
		if rb.b, ok = runProg(rb.b, p.prog, data, rb.max); ok {
			if len(rb.b) > rb.max {
				return ErrTooLarge
			}
			return nil
		}
		// Something the fast path does not handle (a missing key, a nil,
		// a type it does not print): the template decides.
		rb.b = rb.b[:start]
	}
	return p.exec.Execute(rb, data)
}

// compiler parses the variants of one Add.
type compiler struct {
	set          *Set
	name, locale string
}

func (c *compiler) newVariant(k Kind) *variant {
	return &variant{name: c.name, locale: c.locale, kind: k}
}

func (c *compiler) push(p *Push) (*variant, error) {
	v := c.newVariant(KindPush)
	if p.Title == "" && p.Subtitle == "" && p.Body == "" && len(p.Data) == 0 {
		return nil, &Error{Template: c.name, Locale: c.locale, Kind: KindPush, Err: errors.New("empty variant: set Title, Subtitle, Body or Data")}
	}
	if err := c.text(v, fieldTitle, "", "title", p.Title); err != nil {
		return nil, err
	}
	if err := c.text(v, fieldSubtitle, "", "subtitle", p.Subtitle); err != nil {
		return nil, err
	}
	if err := c.text(v, fieldBody, "", "body", p.Body); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(p.Data))
	for k := range p.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.text(v, fieldData, k, "data["+strconv.Quote(k)+"]", p.Data[k]); err != nil {
			return nil, err
		}
		v.nData++
	}
	return v, nil
}

func (c *compiler) sms(s *SMS) (*variant, error) {
	v := c.newVariant(KindSMS)
	if s.Body == "" {
		return nil, &Error{Template: c.name, Locale: c.locale, Kind: KindSMS, Field: "body", Err: errors.New("empty: an SMS needs a Body")}
	}
	if err := c.text(v, fieldBody, "", "body", s.Body); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *compiler) email(e *Email) (*variant, error) {
	v := c.newVariant(KindEmail)
	if e.Subject == "" {
		return nil, &Error{Template: c.name, Locale: c.locale, Kind: KindEmail, Field: "subject", Err: errors.New("empty: an email needs a Subject")}
	}
	if e.Text == "" && e.HTML == "" {
		return nil, &Error{Template: c.name, Locale: c.locale, Kind: KindEmail, Err: errors.New("empty body: set Text, HTML or both")}
	}
	if err := c.text(v, fieldSubject, "", "subject", e.Subject); err != nil {
		return nil, err
	}
	if err := c.text(v, fieldText, "", "text", e.Text); err != nil {
		return nil, err
	}
	if e.HTML != "" {
		p := part{field: fieldHTML, label: "html"}
		if err := c.html(&p, e.HTML); err != nil {
			return nil, v.err(&p, err)
		}
		v.parts = append(v.parts, p)
	}
	return v, nil
}

// text parses src with text/template as v's part f. An empty src adds
// nothing, except for a Data value, which is kept as an empty string.
func (c *compiler) text(v *variant, f field, key, label, src string) error {
	p := part{field: f, key: key, label: label}
	if src == "" {
		if f == fieldData {
			p.static = true
			v.parts = append(v.parts, p)
		}
		return nil
	}
	t, err := texttemplate.New(v.kind.String() + "." + label).
		Option("missingkey=error").
		Funcs(texttemplate.FuncMap(c.set.funcs)).
		Parse(src)
	if err != nil {
		return v.err(&p, err)
	}
	trees := make([]*parse.Tree, 0, 1)
	for _, x := range t.Templates() {
		if x.Tree != nil {
			trees = append(trees, x.Tree)
		}
	}
	lookup := func(name string) bool {
		x := t.Lookup(name)
		return x != nil && x.Tree != nil
	}
	if err := prepare(trees, t.Tree, lookup); err != nil {
		return v.err(&p, err)
	}
	switch root := t.Tree; {
	case root == nil:
		p.static = true
	case isStatic(root):
		p.static = true
		p.text = staticText(root)
	default:
		p.prog = compileProg(t.Tree) // fine after prepare: it only reads the root's first commands
		p.exec = t
	}
	v.parts = append(v.parts, p)
	return nil
}

// html parses src with html/template into p, and makes sure it can be
// escaped now rather than at the first render.
func (c *compiler) html(p *part, src string) error {
	t, err := htmltemplate.New("email.html").
		Option("missingkey=error").
		Funcs(htmltemplate.FuncMap(c.set.funcs)).
		Parse(src)
	if err != nil {
		return err
	}
	var trees []*parse.Tree
	for _, x := range t.Templates() {
		if x.Tree != nil {
			trees = append(trees, x.Tree)
		}
	}
	lookup := func(name string) bool {
		x := t.Lookup(name)
		return x != nil && x.Tree != nil
	}
	if err := prepare(trees, t.Tree, lookup); err != nil {
		return err
	}
	if t.Tree == nil {
		p.static = true
		return nil
	}
	if isStatic(t.Tree) {
		// html/template rewrites even plain text (it drops comments):
		// render it once, now.
		var sb strings.Builder
		if err := t.Execute(&sb, map[string]any(nil)); err != nil {
			return err
		}
		p.static, p.text = true, sb.String()
		return nil
	}
	escaped, err := escapeNow(t, c.set.funcs)
	if err != nil {
		return err
	}
	p.exec = escaped
	p.prog = compileProg(escaped.Tree)
	return nil
}

// escapeNow returns a clone of t that html/template has escaped, so a
// template it cannot escape fails at Add rather than at the first render.
// Escaping happens on the first Execute, so the clone is executed once with
// no data and with every function replaced by one that fails: nothing of
// the host's runs, and execution stops at the first action that reads data
// or calls a function. Then the clone gets its functions back.
func escapeNow(t *htmltemplate.Template, funcs map[string]any) (*htmltemplate.Template, error) {
	clone, err := t.Clone()
	if err != nil {
		return nil, err
	}
	stubs := make(htmltemplate.FuncMap, len(funcs))
	for name := range funcs {
		stubs[name] = probeStub
	}
	clone.Funcs(stubs)
	err = clone.Execute(io.Discard, map[string]any(nil))
	if herr, ok := errors.AsType[*htmltemplate.Error](err); ok {
		return nil, herr
	}
	clone.Funcs(htmltemplate.FuncMap(funcs))
	return clone, nil
}

var errProbe = errors.New("probe")

func probeStub(...any) (any, error) { return nil, errProbe }

// prepare checks the trees of one part's template set (root is the one
// the part executes), guards every action that prints a variable against
// a nil value, and makes every {{range}} iteration and every call of a
// {{define}}d template count as a step (see stepNode).
func prepare(trees []*parse.Tree, root *parse.Tree, defined func(string) bool) error {
	for _, tr := range trees {
		if err := walk(tr.Root, func(n parse.Node) error {
			switch n := n.(type) {
			case *parse.TemplateNode:
				if !defined(n.Name) {
					loc, _ := tr.ErrorContext(n)
					return fmt.Errorf("%s: calls undefined template %q", loc, n.Name)
				}
			case *parse.ActionNode:
				guard(tr, n)
			case *parse.RangeNode:
				countSteps(n.List)
			}
			return nil
		}); err != nil {
			return err
		}
		if tr != root {
			countSteps(tr.Root)
		}
	}
	return nil
}

// countSteps puts an empty text node at the start of l. Executing a text
// node writes it, even when it is empty, and every write is a step that
// renderBuf counts and where it checks the render's context. Placed first
// in a {{range}} body or a {{define}}d template, it makes an iteration or
// a call that prints nothing ({{range $n}}{{end}}, {{continue}}, a chain
// of templates calling each other twice) a step all the same; that is
// what bounds a render's running time. Output is unchanged, and the
// fast path never meets these nodes: it runs root templates made of text
// and actions only.
func countSteps(l *parse.ListNode) {
	if l == nil {
		return
	}
	if len(l.Nodes) > 0 {
		if t, ok := l.Nodes[0].(*parse.TextNode); ok && len(t.Text) == 0 {
			return // already counted: the same tree seen twice
		}
	}
	step := &parse.TextNode{NodeType: parse.NodeText, Pos: l.Pos, Text: []byte{}}
	l.Nodes = slices.Insert(l.Nodes, 0, parse.Node(step))
}

// walk calls fn for n and every node below it.
func walk(n parse.Node, fn func(parse.Node) error) error {
	var lists []*parse.ListNode
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := walk(c, fn); err != nil {
				return err
			}
		}
		return nil
	case *parse.IfNode:
		lists = []*parse.ListNode{n.List, n.ElseList}
	case *parse.RangeNode:
		lists = []*parse.ListNode{n.List, n.ElseList}
	case *parse.WithNode:
		lists = []*parse.ListNode{n.List, n.ElseList}
	}
	for _, l := range lists {
		if l != nil {
			if err := walk(l, fn); err != nil {
				return err
			}
		}
	}
	return fn(n)
}

// guardFunc is the function guard inserts; a Config.Funcs entry may not
// use the name.
const guardFunc = "_notify_value"

// guard rewrites {{.x | f}} into {{.x | _notify_value ".x" | f}}, so a nil
// value fails the render instead of printing "<no value>". Actions that
// declare variables, and those whose first command is a call, are left as
// they are.
func guard(tr *parse.Tree, a *parse.ActionNode) {
	p := a.Pipe
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 || len(p.Cmds[0].Args) != 1 {
		return
	}
	first := p.Cmds[0]
	switch first.Args[0].(type) {
	case *parse.FieldNode, *parse.ChainNode, *parse.VariableNode, *parse.DotNode:
	default:
		return
	}
	expr := first.Args[0].String()
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: first.Pos, Args: []parse.Node{
		parse.NewIdentifier(guardFunc).SetTree(tr).SetPos(first.Pos),
		&parse.StringNode{NodeType: parse.NodeString, Pos: first.Pos, Quoted: strconv.Quote(expr), Text: expr},
	}}
	p.Cmds = slices.Insert(p.Cmds, 1, cmd)
}

// guardValue is guardFunc: it passes v through unless it is nil.
func guardValue(expr string, v reflect.Value) (reflect.Value, error) {
	if !v.IsValid() {
		return v, fmt.Errorf("missing variable: %s has no value", expr)
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return v, fmt.Errorf("missing variable: %s is nil", expr)
		}
	}
	return v, nil
}

// isStatic reports whether t's root is plain text.
func isStatic(t *parse.Tree) bool {
	for _, n := range t.Root.Nodes {
		if _, ok := n.(*parse.TextNode); !ok {
			return false
		}
	}
	return true
}

func staticText(t *parse.Tree) string {
	var sb strings.Builder
	for _, n := range t.Root.Nodes {
		sb.Write(n.(*parse.TextNode).Text)
	}
	return sb.String()
}

// checkFuncs validates Config.Funcs as text/template would (it panics on
// a bad entry) and returns them with the guard added.
func checkFuncs(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in)+1)
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := in[name]
		if name == guardFunc {
			return nil, fmt.Errorf("Config.Funcs[%q]: the name is reserved", name)
		}
		if !goodName(name) {
			return nil, fmt.Errorf("Config.Funcs[%q]: not a valid identifier", name)
		}
		v := reflect.ValueOf(fn)
		if v.Kind() != reflect.Func || v.IsNil() {
			return nil, fmt.Errorf("Config.Funcs[%q]: %T is not a function", name, fn)
		}
		typ := v.Type()
		switch {
		case typ.NumOut() == 1:
		case typ.NumOut() == 2 && typ.Out(1) == reflect.TypeFor[error]():
		default:
			return nil, fmt.Errorf("Config.Funcs[%q]: a function must return one value, or a value and an error", name)
		}
		out[name] = fn
	}
	out[guardFunc] = guardValue
	return out, nil
}

func goodName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_':
		case i == 0 && !unicode.IsLetter(r):
			return false
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			return false
		}
	}
	return true
}
