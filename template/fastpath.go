package template

import (
	"bytes"
	"strconv"
	"text/template/parse"
)

// The fast path renders the common part, text with {{.a.b}} values, without
// executing the template. It earns its keep on the whole pipeline: with it
// off, the root package's BenchmarkDispatcher (an SMS template with one
// value, a no-op channel) makes 36 allocations per delivery instead of 26
// and delivers about 15% fewer per second on 2 cores, and BenchmarkRender's
// push, SMS and email renders take 10 to 25 times longer. Before removing
// it, measure both again.

// op is one step of a fast-path program: literal text, or the value at a
// path in the data ({{.a.b}}), escaped as esc says.
type op struct {
	text string
	path []string // nil for text
	esc  escMode
}

// escMode is how the fast path escapes a value in an HTML template.
type escMode uint8

const (
	escNone    escMode = iota // text/template
	escHTML                   // text or a quoted attribute value
	escURL                    // a query or fragment part of a quoted URL attribute
	escURLNorm                // a path part of a quoted URL attribute
)

// Pipelines html/template's escaper gives {{.a.b}} in the contexts the fast
// path handles, after the guard. For the plain values the fast path
// prints, these escapers do what appendEscaped does. Should a Go release
// rename them, the fast path is simply not used there.
var escPipelines = []struct {
	funcs []string
	mode  escMode
}{
	{[]string{"_html_template_htmlescaper"}, escHTML},
	{[]string{"_html_template_attrescaper"}, escHTML},
	{[]string{"_html_template_urlescaper", "_html_template_attrescaper"}, escURL},
	{[]string{"_html_template_urlnormalizer", "_html_template_attrescaper"}, escURLNorm},
}

// compileProg returns a program equivalent to t when its root is made of
// text and {{.a.b}} actions only (guarded, and in an HTML template escaped
// for text or a quoted attribute), nil otherwise.
func compileProg(t *parse.Tree) []op {
	prog := make([]op, 0, len(t.Root.Nodes))
	for _, n := range t.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			prog = append(prog, op{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) == 0 {
				return nil
			}
			o := op{path: f.Ident}
			rest := p.Cmds[1:]
			if len(rest) > 0 && isGuard(rest[0]) {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				o.esc = escNone
				for _, e := range escPipelines {
					if isCalls(rest, e.funcs) {
						o.esc = e.mode
						break
					}
				}
				if o.esc == escNone {
					return nil
				}
			}
			prog = append(prog, o)
		default:
			return nil
		}
	}
	return prog
}

func isGuard(c *parse.CommandNode) bool {
	if len(c.Args) != 2 {
		return false
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == guardFunc
}

// isCalls reports whether cmds calls exactly names, without arguments.
func isCalls(cmds []*parse.CommandNode, names []string) bool {
	if len(cmds) != len(names) {
		return false
	}
	for i, c := range cmds {
		if len(c.Args) != 1 {
			return false
		}
		if id, ok := c.Args[0].(*parse.IdentifierNode); !ok || id.Ident != names[i] {
			return false
		}
	}
	return true
}

// runProg appends prog's output for data to b. It reports false, with b
// in an unspecified state, when it meets anything text/template might
// print differently or fail on: the caller then executes the template.
//
// It stops early, reporting true, once b is longer than limit: the caller
// then fails the render with ErrTooLarge as the template would. Its work
// is one pass over prog and the values it prints, with no loops, so it
// needs no step count or context check of its own.
func runProg(b []byte, prog []op, data map[string]any, limit int) ([]byte, bool) {
	for i := range prog {
		o := &prog[i]
		if o.path == nil {
			b = append(b, o.text...)
		} else {
			var ok bool
			if b, ok = appendPath(b, data, o.path, o.esc); !ok {
				return b, false
			}
		}
		if len(b) > limit {
			return b, true
		}
	}
	return b, true
}

func appendPath(b []byte, m map[string]any, path []string, esc escMode) ([]byte, bool) {
	for i, k := range path {
		v, ok := m[k]
		if !ok {
			return b, false
		}
		if i == len(path)-1 {
			if s, ok := v.(string); ok {
				return appendEscaped(b, s, esc), true
			}
			start := len(b)
			b, ok = appendValue(b, v)
			if esc != escNone && ok && bytes.IndexByte(b[start:], '+') >= 0 {
				return b, false // "1e+21": rare enough for the template
			}
			return b, ok
		}
		switch x := v.(type) {
		case map[string]any:
			m = x
		case map[string]string:
			if i != len(path)-2 {
				return b, false
			}
			s, ok := x[path[i+1]]
			if !ok {
				return b, false
			}
			return appendEscaped(b, s, esc), true
		default:
			return b, false
		}
	}
	return b, false
}

// appendEscaped appends s escaped as html/template's escapers escape a
// plain string in the context esc names (see escPipelines).
//
// escURL and escURLNorm first percent-encode what processURLOnto encodes
// (lowercase hex; escURLNorm keeps reserved characters and valid %XX
// escapes), then, like escHTML, apply attrescaper/htmlescaper's
// htmlReplacementTable: NUL becomes U+FFFD and " & ' + < > become character
// references. Every other byte, invalid UTF-8 included, is copied.
func appendEscaped(b []byte, s string, esc escMode) []byte {
	switch esc {
	case escNone:
		return append(b, s...)
	case escHTML:
		return appendHTMLEscaped(b, s)
	}
	norm := esc == escURLNorm
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '!', '#', '$', '&', '*', '+', ',', '/', ':', ';', '=', '?', '@', '[', ']':
			if norm {
				continue
			}
		case '-', '.', '_', '~':
			continue
		case '%':
			if norm && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				continue
			}
		default:
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				continue
			}
		}
		b = appendHTMLEscaped(b, s[last:i])
		b = append(b, '%', lowerHex[c>>4], lowerHex[c&15])
		last = i + 1
	}
	return appendHTMLEscaped(b, s[last:])
}

const lowerHex = "0123456789abcdef"

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func appendHTMLEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, r...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

// appendValue appends v as text/template prints it (fmt's %v), for the
// types whose printing it knows; it reports false for any other.
func appendValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return append(b, x...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int8:
		return strconv.AppendInt(b, int64(x), 10), true
	case int16:
		return strconv.AppendInt(b, int64(x), 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(b, x, 10), true
	case float64:
		if x != x || x > maxFinite || x < -maxFinite {
			return b, false
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), true
	case float32:
		f := float64(x)
		if f != f || f > maxFinite || f < -maxFinite {
			return b, false
		}
		return strconv.AppendFloat(b, f, 'g', -1, 32), true
	}
	return b, false
}

const maxFinite = 1.7976931348623157e308
