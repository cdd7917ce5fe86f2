package template_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/template"
)

func Example() {
	set := template.New(template.Config{})
	// The default (locale "") every locale falls back to.
	err := set.Add("order_shipped", "", template.Variants{
		Push: &template.Push{
			Title: "Order {{.order.id}} shipped",
			Body:  "Hi {{.name}}, it is on its way.",
			Data:  map[string]string{"order_id": "{{.order.id}}"},
		},
		SMS: &template.SMS{Body: "Order {{.order.id}} shipped."},
		Email: &template.Email{
			Subject: "Your order {{.order.id}}",
			Text:    "Hi {{.name}}, your order shipped.",
			HTML:    "<p>Hi {{.name}}, your order shipped.</p>",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Portuguese push only; SMS and email in "pt" fall back to the default.
	err = set.Add("order_shipped", "pt", template.Variants{
		Push: &template.Push{Title: "Pedido {{.order.id}} enviado", Body: "Oi {{.name}}, está a caminho."},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	data := map[string]any{"name": "<Ana>", "order": map[string]any{"id": "A-17"}}
	for _, d := range []notify.Delivery{
		{Template: "order_shipped", Channel: notify.ChannelAPNs, Locale: "pt-BR", Data: data},
		{Template: "order_shipped", Channel: notify.ChannelSMS, Locale: "pt-BR", Data: data},
		{Template: "order_shipped", Channel: notify.ChannelEmail, Locale: "en", Data: data},
	} {
		m, err := set.Render(ctx, &d)
		if err != nil {
			fmt.Println(err)
			return
		}
		switch d.Channel {
		case notify.ChannelAPNs:
			fmt.Printf("push:  %s / %s\n", m.Title, m.Body)
		case notify.ChannelSMS:
			fmt.Printf("sms:   %s\n", m.Body)
		case notify.ChannelEmail:
			fmt.Printf("email: %s / %s / %s\n", m.Subject, m.Text, m.HTML)
		}
	}

	// A missing variable is an error, not "<no value>".
	_, err = set.Render(ctx, &notify.Delivery{Template: "order_shipped", Channel: "sms", Data: map[string]any{}})
	fmt.Println(err)

	_, err = set.Render(ctx, &notify.Delivery{Template: "nope", Channel: "sms"})
	fmt.Println(errors.Is(err, notify.ErrUnknownTemplate))
	// Output:
	// push:  Pedido A-17 enviado / Oi <Ana>, está a caminho.
	// sms:   Order A-17 shipped.
	// email: Your order A-17 / Hi <Ana>, your order shipped. / <p>Hi &lt;Ana&gt;, your order shipped.</p>
	// template "order_shipped" (default locale) sms body: template: sms.body:1:14: executing "sms.body" at <.order.id>: map has no entry for key "order"
	// true
}

func ExampleSet_Add_brokenTemplate() {
	set := template.New(template.Config{})
	err := set.Add("welcome", "pt-BR", template.Variants{
		Push: &template.Push{Title: "Olá {{.name}", Body: "Bem-vindo"},
	})
	fmt.Println(err)
	// Output:
	// template "welcome" (locale "pt-br") push title: template: push.title:1: bad character U+007D '}'
}
