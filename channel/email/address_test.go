package email_test

import (
	"errors"
	"log/slog"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

func TestNormalizeAddress(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		in, want string // want empty: refused
		because  string // a part of the refusal's text
	}{
		{"ann@example.com", "ann@example.com", ""},
		{"  ann@example.com\t", "ann@example.com", ""},
		{"ann@EXAMPLE.Com", "ann@example.com", ""},
		{"Ann.Lee@Example.COM", "Ann.Lee@example.com", ""}, // the local part is kept as it is
		{"ann+news@example.com", "ann+news@example.com", ""},
		{"Ann+News@Mail.Example.co.uk", "Ann+News@mail.example.co.uk", ""},
		{"o'neil_&-x=y@example.org", "o'neil_&-x=y@example.org", ""},
		{"ann@example.com.", "ann@example.com", ""}, // the absolute form
		{"ann@EXAMPLE.COM.", "ann@example.com", ""},
		{"ann@bücher.example", "ann@xn--bcher-kva.example", ""},
		{"ann@BÜCHER.Example", "ann@xn--bcher-kva.example", ""},
		{"ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example", ""},
		{"ann@XN--BCHER-KVA.example", "ann@xn--bcher-kva.example", ""},
		{"ann@例え.テスト", "ann@xn--r8jz45g.xn--zckzah", ""},
		{"ann@faß.de", "ann@xn--fa-hia.de", ""}, // non-transitional: ß is kept, not "ss"
		{"ann@пример.рф", "ann@xn--e1afmkfd.xn--p1ai", ""},
		{"ann@ｅｘａｍｐｌｅ.com", "ann@example.com", ""}, // full-width letters mapped
		{"ann@example.com。", "", "domain"},         // an ideographic full stop is not a trailing dot we drop
		{"Ann <ann@example.com>", "", "display name"},
		{"<ann@example.com>", "", "bare address"},
		{"ann@example.com (Ann)", "", "display name"},
		{`"ann lee"@example.com`, "", "quoted"},
		{"ann@example.com, bob@example.com", "", "not an email address"},
		{"ann@example.com..", "", ""},
		{"ann@.example.com", "", ""},
		{"ann@example..com", "", ""},
		{"ann.@example.com", "", ""},
		{"ann@", "", ""},
		{"@example.com", "", ""},
		{"ann", "", "no @"},
		{"ann@localhost", "", "no dot"},
		{"ann@192.168.0.1", "", "IP address"},
		{"ann@[192.168.0.1]", "", "IP address"},
		{"ann@exa_mple.com", "", "not a valid domain"},
		{"ann@-example.com", "", "not a valid domain"},
		{"ann@" + strings.Repeat("a", 64) + ".com", "", "not a valid domain"}, // a label over 63 bytes
		{"zoë@example.com", "", "non-ASCII"},
		{"ann\r\nBcc: x@example.com", "", "line break"},
		{"", "", "empty"},
		{"   ", "", "empty"},
		{"\xff@example.com", "", "UTF-8"},
		{strings.Repeat("a", 65) + "@example.com", "", "at most 64"},
		{long + "@" + strings.Repeat(long+".", 3) + "com", "", "at most 254"},
		{strings.Repeat("a", 2000), "", "bytes long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := email.NormalizeAddress(tc.in)
			if tc.want == "" {
				require.Error(t, err, "accepted as %q", got)
				assert.ErrorIs(t, err, email.ErrInvalidAddress)
				assert.Contains(t, err.Error(), tc.because)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := email.NormalizeAddress(got)
			require.NoError(t, err)
			assert.Equal(t, got, again, "idempotent")
		})
	}
}

// TestDispatcherNormalizesEmail checks the Channel through a Dispatcher:
// PutContact stores the normal form and refuses a display name naming
// "Email"; Send normalizes To and refuses a bad one naming it, and two
// forms of one address are one delivery.
func TestDispatcherNormalizesEmail(t *testing.T) {
	ch := newChannel(t, "http://127.0.0.1:1", email.Config{From: "Acme <a@acme.example>"})
	store := smem.New(smem.Config{})
	queue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = queue.Close() })
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{ch}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx := t.Context()

	require.NoError(t, d.PutContact(ctx, notify.Contact{UserID: "ann", Email: "Ann+News@Bücher.Example."}))
	c, err := store.Contact(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, "Ann+News@xn--bcher-kva.example", c.Email)

	err = d.PutContact(ctx, notify.Contact{UserID: "bob", Email: "Bob <bob@example.com>"})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Email", ve.Field)
	assert.ErrorIs(t, err, email.ErrInvalidAddress)
	_, err = store.Contact(ctx, "bob")
	require.ErrorIs(t, err, notify.ErrNotFound)

	msg := &notify.Message{Subject: "Hi", Text: "Hello"}
	_, err = d.Send(ctx, notify.Notification{To: []notify.Address{
		{Channel: notify.ChannelEmail, Value: "x@example.com"}, {Channel: notify.ChannelEmail, Value: "x@localhost"},
	}, Content: msg})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "To[1].Value", ve.Field)

	r, err := d.Send(ctx, notify.Notification{UserID: "ann",
		To: []notify.Address{{Channel: notify.ChannelEmail, Value: "Ann+News@BÜCHER.example"}}, Content: msg})
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 1, "the stored address and its other form are one")
	assert.Equal(t, "Ann+News@xn--bcher-kva.example", r.Deliveries[0].Address)
}

// FuzzNormalizeAddress feeds arbitrary text to NormalizeAddress: it must
// never panic, and what it returns must be its own normal form, a bare
// ASCII address net/mail reads back unchanged, with a lower-case domain,
// within MaxAddressBytes, and one Validate accepts.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"ann@example.com", "Ann+News@Example.COM.", "ann@bücher.example", "ann@xn--bcher-kva.example",
		"ann@例え.テスト", "ann@faß.de", "Ann <ann@example.com>", `"a b"@example.com`, "ann@[1.2.3.4]", "ann@example.com。",
		"ann@ｅｘａｍｐｌｅ.com", "a@b.c\r\nBcc: x@y.z", "ann@xn--a.com", "ann@a.b.", "ann@.", "@", "a@b@c.de", "ann@ex\u200dample.com",
		"ann@ЕXAMPLE.com", "ann@example.com (x)", "ann@1.2.3.4", "ann@a--b.com", "ann@xn--ss-e0a.de"} {
		f.Add(s)
	}
	ch, err := email.New(newSES("http://127.0.0.1:1"), email.Config{From: "Acme <a@acme.example>"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := email.NormalizeAddress(s)
		if err != nil {
			if !errors.Is(err, email.ErrInvalidAddress) {
				t.Fatalf("NormalizeAddress(%q): an error of no known kind: %v", s, err)
			}
			return
		}
		again, err := email.NormalizeAddress(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeAddress(%q) = %q, but NormalizeAddress(%q) = %q, %v", s, got, got, again, err)
		}
		if len(got) > email.MaxAddressBytes {
			t.Fatalf("NormalizeAddress(%q) = %q: %d bytes", s, got, len(got))
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= 0x80 || got[i] < 0x21 {
				t.Fatalf("NormalizeAddress(%q) = %q: not printable ASCII", s, got)
			}
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Name != "" || a.Address != got {
			t.Fatalf("NormalizeAddress(%q) = %q, which net/mail reads as %+v, %v", s, got, a, err)
		}
		domain := got[strings.LastIndexByte(got, '@')+1:]
		if domain != strings.ToLower(domain) {
			t.Fatalf("NormalizeAddress(%q) = %q: the domain is not lower case", s, got)
		}
		if err := ch.Validate(delivery(got)); err != nil {
			t.Fatalf("NormalizeAddress(%q) = %q, which Validate refuses: %v", s, got, err)
		}
	})
}
