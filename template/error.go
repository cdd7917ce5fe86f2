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

// errTooLarge stops a render past Config.MaxBytes.
var errTooLarge = errors.New("rendered message exceeds Config.MaxBytes")
