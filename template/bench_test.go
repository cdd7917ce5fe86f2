package template_test

import (
	"context"
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
)

// BenchmarkRender renders one delivery per iteration, per channel kind.
// The pipeline budget is 40 allocations per delivery end to end; push and
// SMS must stay a small part of it.
func BenchmarkRender(b *testing.B) {
	s := template.New(template.Config{})
	err := s.Add("order", "", template.Variants{
		Push: &template.Push{
			Title: "Order {{.order.id}} shipped",
			Body:  "Hi {{.name}}, your {{.count}} items are on their way.",
			Data:  map[string]string{"order_id": "{{.order.id}}", "screen": "orders"},
		},
		SMS: &template.SMS{Body: "Hi {{.name}}, order {{.order.id}} shipped."},
		Email: &template.Email{
			Subject: "Order {{.order.id}} shipped",
			Text:    "Hi {{.name}},\n\nyour {{.count}} items are on their way.",
			HTML:    `<p>Hi {{.name}},</p><p>your {{.count}} items are on <a href="https://example.com/o/{{.order.id}}">their way</a>.</p>`,
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Add("static", "", template.Variants{Push: &template.Push{Title: "New message", Body: "Open the app to read it."}}); err != nil {
		b.Fatal(err)
	}
	if err := s.Add("order", "pt", template.Variants{SMS: &template.SMS{Body: "Oi {{.name}}, pedido {{.order.id}} enviado."}}); err != nil {
		b.Fatal(err)
	}
	// A pipeline the fast path does not handle: text/template executes it.
	if err := s.Add("executed", "", template.Variants{SMS: &template.SMS{Body: `Hi {{.name | printf "%s"}}, order {{index .order "id"}} shipped.`}}); err != nil {
		b.Fatal(err)
	}
	data := map[string]any{"name": "Ana", "count": 3, "order": map[string]any{"id": "A-1017"}}
	cases := []struct {
		name string
		d    notify.Delivery
	}{
		{"push", notify.Delivery{Template: "order", Channel: "apns", Locale: "en-US", Data: data}},
		{"push-static", notify.Delivery{Template: "static", Channel: "fcm", Data: data}},
		{"sms-fallback", notify.Delivery{Template: "order", Channel: "sms", Locale: "pt-BR", Data: data}},
		{"email", notify.Delivery{Template: "order", Channel: "email", Locale: "en", Data: data}},
		{"sms-executed", notify.Delivery{Template: "executed", Channel: "sms", Data: data}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Render(ctx, &c.d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("push-parallel", func(b *testing.B) {
		d := cases[0].d
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if _, err := s.Render(ctx, &d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
