// Package template renders notifications from named, per-locale templates,
// with one variant per kind of channel: push (title, subtitle, body, data),
// SMS (body) and email (subject, text, HTML). A [*Set] implements
// [notify.Renderer].
//
//	set := template.New(template.Config{})
//	err := set.Add("welcome", "", template.Variants{
//		Push:  &template.Push{Title: "Welcome, {{.name}}", Body: "Tap to start."},
//		SMS:   &template.SMS{Body: "Welcome, {{.name}}!"},
//		Email: &template.Email{Subject: "Welcome", HTML: "<p>Hello {{.name}}</p>"},
//	})
//	dispatcher, err := notify.New(notify.Config{Renderer: set, ...})
//
// Templates use Go's template syntax with the delivery's Data map as dot:
// {{.name}}, {{.order.id}}. Email HTML is rendered with html/template, so
// data is escaped for the context it lands in; every other part with
// text/template.
//
// Guarantees:
//   - A template is parsed and checked when it is added: a syntax error, an
//     unknown function, a call of an undefined template or an HTML part
//     html/template cannot escape makes [Set.Add] fail with an [*Error]
//     naming the template, the locale, the channel kind and the field.
//   - A missing variable is an error, never "<no value>": a key absent from
//     the data (at any depth, as with missingkey=error) and a key whose value
//     is nil both fail the render.
//   - Locale fallback: a delivery in "pt-BR" uses the "pt-BR" variant, else
//     "pt", else the template's default (added with locale ""). Tags are
//     case-insensitive and "_" is read as "-". Fallback is per channel kind:
//     a "pt-BR" template with only an SMS variant falls back to "pt" for push.
//   - A [*Set] is safe for concurrent use: Render may run while Add replaces
//     or adds templates; each Render sees a template either before or after
//     an Add, never half of it.
//
// Limits:
//   - Parts are independent templates: a {{define}} in one part is not
//     visible from another. There are no shared layouts.
//   - Dot is the data map alone; the locale and the channel are not exposed
//     to templates (register per-locale variants instead).
//   - A render is bounded three ways: its output by [Config.MaxBytes]
//     ([ErrTooLarge]), its steps by [Config.MaxSteps] ([ErrTooManySteps])
//     and its time by the context given to [Set.Render], checked every
//     1,024 steps and every 4 KiB of output (the error wraps ctx.Err()).
//     A step is a write of text or of an action's output, an iteration of
//     a {{range}} or a call of a {{define}}d template, so {{range .n}}{{end}}
//     with n = 1<<62 stops after MaxSteps iterations, or sooner at the
//     deadline. Between two steps a template does at most one pass over
//     the nodes of one range body or defined template that print nothing,
//     so a step costs from tens of nanoseconds to a few microseconds, and
//     the default MaxSteps is about 0.1 to 1 s of work.
//   - What these bounds do not cover: a function from [Config.Funcs] or a
//     method of a value in the data runs to completion once called (it is
//     the host's code), and so does an iterator it returns between two
//     values it yields (each value is a range iteration, a step); a range
//     over a channel in the data waits as long as the channel does. Data
//     that reached Render through notify.Dispatcher.Send holds no
//     functions or channels: Send requires Data to marshal to JSON.
//   - A part that renders empty (an SMS body made of a false {{if}}) is not
//     an error here; channels' Validators check what their provider needs.
//   - Functions in [Config.Funcs] may be called during rendering from many
//     goroutines at once, and must be safe for that.
package template
