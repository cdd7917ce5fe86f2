package track_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/template"
	"github.com/gonotify/notify/track"
)

func Example() {
	s, err := track.New(track.Config{
		BaseURL: "https://t.example.com",
		Keys:    [][]byte{[]byte("a 32-byte random key, not this!!")},
	})
	if err != nil {
		panic(err)
	}
	// Templates call trackClick, trackOpen and trackPixel...
	tmpl := template.New(template.Config{Funcs: s.Funcs()})
	if err := tmpl.Add("shipped", "", template.Variants{
		SMS: &template.SMS{Body: "Your order shipped: {{trackClick .url}}"},
	}); err != nil {
		panic(err)
	}
	// ...which render markers, naming no delivery yet.
	del := notify.Delivery{ID: "0190a6d2-7c3e-7abc-8def-0123456789ab", Channel: notify.ChannelSMS, Address: "+15005550006",
		Template: "shipped", Data: map[string]any{"url": "https://shop.example.com/orders/1017"}}
	if del.Message, err = tmpl.Render(context.Background(), &del); err != nil {
		panic(err)
	}
	// The wrapped channel sends the delivery's own link. (Give the
	// wrapped channels to notify.Config.Channels.)
	sms := notifytest.NewChannel(notify.ChannelSMS)
	if _, err := s.Wrap(sms).Send(context.Background(), &del); err != nil {
		panic(err)
	}
	body := sms.Sent()[0].Message.Body
	link := body[strings.Index(body, "https://t.example.com"):]
	fmt.Println(len(body) == len(del.Message.Body))

	// The Handler redirects to the target and records the click (here to
	// a fake; give it the *notify.Dispatcher).
	rec := &notifytest.FeedbackRecorder{}
	h, err := track.NewHandler(track.HandlerConfig{Signer: s, Recorder: rec})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	h.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Location"))
	if err := h.Close(context.Background()); err != nil { // on shutdown: writes what is held
		panic(err)
	}
	fb := rec.Reports()[0]
	fmt.Println(fb.DeliveryID, fb.Engagement, fb.Detail)
	// Output:
	// true
	// 302 https://shop.example.com/orders/1017
	// 0190a6d2-7c3e-7abc-8def-0123456789ab clicked https://shop.example.com/orders/1017
}
