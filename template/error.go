package template

import (
	"errors"
	"strconv"
)

// Error is a template that failed to register ([Set.Add]) or to render
// ([Set.Render]). It names where: the template, the locale (canonical,
// "" for the default), the channel kind and the field ("title",
// "data[url]", "html"). Kind and Field are empty for errors about the
// template as a whole.
type Error struct {
	Template string
	Locale   string
	Kind     Kind
	Field    string
	Err      error
}

// Error formats e as `template "name" (locale "pt-br") push title: cause`.
func (e *Error) Error() string {
	s := "template " + strconv.Quote(e.Template)
	if e.Locale == "" {
		s += " (default locale)"
	} else {
		s += " (locale " + strconv.Quote(e.Locale) + ")"
	}
	if e.Kind != 0 {
		s += " " + e.Kind.String()
		if e.Field != "" {
			s += " " + e.Field
		}
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause, a text/template or html/template error or a
// function's.
func (e *Error) Unwrap() error { return e.Err }

// Limits a render can hit. [Set.Render] returns them wrapped in an
// [*Error]; test with errors.Is. A render stopped by its context returns
// an [*Error] wrapping the context's error instead (context.Canceled or
// context.DeadlineExceeded).
var (
	// ErrTooLarge: the rendered message grew past [Config.MaxBytes].
	ErrTooLarge = errors.New("template: rendered message exceeds Config.MaxBytes")
	// ErrTooManySteps: the render made more than [Config.MaxSteps] steps,
	// as a {{range}} over a huge number or a deep fan-out of {{template}}
	// calls would.
	ErrTooManySteps = errors.New("template: render takes more than Config.MaxSteps steps")
)
