package sms_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/sms"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// parseCases are ParsePhone's table: inputs, default regions and what
// comes out. TestNormalizeAddressCached reads them too.
var parseCases = []struct {
	in, region string
	e164       string // empty: refused with ErrInvalidPhone
	typ        sms.NumberType
	home       string // the number's region
}{
	// International forms, whatever the default region.
	{"+14155550100", "", "+14155550100", sms.FixedLineOrMobile, "US"},
	{"+1 (415) 555-0100", "GB", "+14155550100", sms.FixedLineOrMobile, "US"},
	{"tel:+1-650-253-0000", "", "+16502530000", sms.FixedLineOrMobile, "US"},
	{"+44 (0)20 7946 0000", "", "+442079460000", sms.FixedLine, "GB"},
	{"00 44 20 7946 0000", "DE", "+442079460000", sms.FixedLine, "GB"},  // German international prefix
	{"011 44 20 7946 0000", "US", "+442079460000", sms.FixedLine, "GB"}, // North American one
	{"+33 6 12 34 56 78", "", "+33612345678", sms.Mobile, "FR"},
	// National forms with a default region.
	{"(415) 555-0100", "US", "+14155550100", sms.FixedLineOrMobile, "US"},
	{"415.555.0100", "us", "+14155550100", sms.FixedLineOrMobile, "US"},
	{"1-800-FLOWERS", "US", "+18003569377", sms.TollFree, "US"},
	{"020 7946 0000", "GB", "+442079460000", sms.FixedLine, "GB"},
	{"07400 123456", "GB", "+447400123456", sms.Mobile, "GB"},
	{"0800 123 4567", "GB", "+448001234567", sms.TollFree, "GB"},
	{"030 1234567", "DE", "+49301234567", sms.FixedLine, "DE"},
	{"0151 12345678", "DE", "+4915112345678", sms.Mobile, "DE"},
	{"(11) 91234-5678", "BR", "+5511912345678", sms.Mobile, "BR"},
	{"(11) 3123-4567", "BR", "+551131234567", sms.FixedLine, "BR"},
	{"98765 43210", "IN", "+919876543210", sms.Mobile, "IN"},
	{"011 2345 6789", "IN", "+911123456789", sms.FixedLine, "IN"},
	// Refused.
	{"(415) 555-0100", "", "", 0, ""},                            // national, no region to read it in
	{"020 7946 0000", "", "", 0, ""},                             // likewise
	{"+999 123 4567", "", "", 0, ""},                             // no such country code
	{"+1 555 123 4567", "", "", 0, ""},                           // area code 555 is not allocated
	{"07700 900123", "GB", "", 0, ""},                            // Ofcom's drama range: never allocated
	{"+44 20 7946", "", "", 0, ""},                               // impossible: too short for GB
	{"+44 20 7946 0000 0000", "", "", 0, ""},                     // impossible: too long
	{"+4915112345678901234", "", "", 0, ""},                      // too long for any number
	{"+44 7400 123456 ext. 12", "", "", 0, ""},                   // SMS cannot reach an extension
	{"call me", "US", "", 0, ""},                                 // not a number
	{"", "US", "", 0, ""},                                        //
	{"   ", "US", "", 0, ""},                                     //
	{"+", "", "", 0, ""},                                         //
	{"\xff\xfe", "", "", 0, ""},                                  // not UTF-8
	{"+1 415 555 0100" + strings.Repeat(" ", 60), "", "", 0, ""}, // over MaxPhoneInput
}

func TestParsePhone(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.region+" "+tc.in, func(t *testing.T) {
			p, err := sms.ParsePhone(tc.in, tc.region)
			if tc.e164 == "" {
				require.Error(t, err, "accepted as %+v", p)
				assert.ErrorIs(t, err, sms.ErrInvalidPhone)
				assert.NotContains(t, err.Error(), "sms: invalid phone number", "the text is the reason alone")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, sms.Phone{E164: tc.e164, Type: tc.typ, Region: tc.home}, p)
			again, err := sms.ParsePhone(p.E164, "")
			require.NoError(t, err, "the E.164 form parses on its own")
			assert.Equal(t, p, again)
			assert.True(t, sms.ValidPhone(p.E164), "what ParsePhone returns passes Validate's E.164 check")
		})
	}
}

func TestParsePhoneReasons(t *testing.T) {
	for in, want := range map[string]string{
		"(415) 555-0100":          "has no country code: write it in international form",
		"+44 20 7946":             "too short",
		"+1 555 123 4567":         "not a valid number",
		"+44 7400 123456 ext. 12": "extension",
	} {
		_, err := sms.ParsePhone(in, "")
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
	}
	_, err := sms.ParsePhone("+14155550100", "XX")
	require.Error(t, err)
	assert.NotErrorIs(t, err, sms.ErrInvalidPhone, "a bad region is the caller's setting, not the number")
	assert.Contains(t, err.Error(), "ISO 3166-1")
}

// typeCases are TestNormalizeAddressNumberTypes's table: which of three
// GB channels accepts each input.
var typeCases = []struct {
	in                    string
	def, landline, strict bool // accepted by each channel
}{
	{"07400 123456", true, true, true},       // GB mobile
	{"020 7946 0000", false, true, false},    // GB landline
	{"+49 30 1234567", false, true, false},   // DE landline
	{"+91 11 2345 6789", false, true, false}, // IN landline
	{"+55 11 3123-4567", false, true, false}, // BR landline
	{"+1 415 555 0100", true, true, true},    // US: fixed line or mobile, always accepted
	{"0800 123 4567", true, true, false},     // GB toll free
	{"(415) 555-0100", false, false, false},  // read as a GB number: invalid
}

func TestNormalizeAddressNumberTypes(t *testing.T) {
	f := newFakeTwilio(t)
	def := newChannel(t, f, func(c *sms.Config) { c.DefaultRegion = "GB" })
	landlines := newChannel(t, f, func(c *sms.Config) { c.DefaultRegion = "GB"; c.AllowLandlines = true })
	strict := newChannel(t, f, func(c *sms.Config) { c.DefaultRegion = "GB"; c.RejectTypes = []sms.NumberType{sms.TollFree} })
	for _, tc := range typeCases {
		for _, c := range []struct {
			ch   *sms.Channel
			want bool
		}{{def, tc.def}, {landlines, tc.landline}, {strict, tc.strict}} {
			got, err := c.ch.NormalizeAddress(tc.in)
			if !c.want {
				assert.Error(t, err, "%q accepted as %q", tc.in, got)
				continue
			}
			if assert.NoError(t, err, tc.in) {
				assert.True(t, sms.ValidPhone(got), got)
				again, err := c.ch.NormalizeAddress(got)
				assert.NoError(t, err)
				assert.Equal(t, got, again, "idempotent")
			}
		}
	}
	_, err := def.NormalizeAddress("020 7946 0000")
	require.ErrorIs(t, err, sms.ErrNumberType)
	assert.NotErrorIs(t, err, sms.ErrInvalidPhone)
	assert.Contains(t, err.Error(), "landline")
	assert.Contains(t, err.Error(), "AllowLandlines")
	_, err = strict.NormalizeAddress("0800 123 4567")
	require.ErrorIs(t, err, sms.ErrNumberType)
	assert.Contains(t, err.Error(), "toll-free")
	_, err = def.NormalizeAddress("07700 900123")
	require.ErrorIs(t, err, sms.ErrInvalidPhone)
}

func TestNewChecksPhoneSettings(t *testing.T) {
	base := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	cfg := base
	cfg.DefaultRegion = "Britain"
	_, err := sms.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.DefaultRegion")
	cfg = base
	cfg.RejectTypes = []sms.NumberType{sms.Voicemail + 1}
	_, err = sms.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.RejectTypes[0]")
}

func TestNumberTypeString(t *testing.T) {
	assert.Equal(t, "fixed_line_or_mobile", sms.FixedLineOrMobile.String())
	assert.Equal(t, "unknown", sms.UnknownType.String())
	assert.Equal(t, "NumberType(99)", sms.NumberType(99).String())
}

// TestDispatcherNormalizesPhones checks the Channel through a Dispatcher:
// PutContact stores E.164 and refuses a landline naming "Phone", Send
// refuses one in To naming it, and two forms of one number are one
// delivery.
func TestDispatcherNormalizesPhones(t *testing.T) {
	f := newFakeTwilio(t)
	d, store := newDispatcher(t, newChannel(t, f, func(c *sms.Config) { c.DefaultRegion = "US" }))
	ctx := t.Context()

	require.NoError(t, d.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "(415) 555-0100"}))
	c, err := store.Contact(ctx, "ana")
	require.NoError(t, err)
	assert.Equal(t, "+14155550100", c.Phone)

	err = d.PutContact(ctx, notify.Contact{UserID: "bob", Phone: "+44 20 7946 0000"})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Phone", ve.Field)
	assert.ErrorIs(t, err, sms.ErrNumberType)
	assert.Contains(t, ve.Reason, "landline")

	_, err = d.Send(ctx, notify.Notification{
		To:      []notify.Address{{Channel: notify.ChannelSMS, Value: "415-555-0100"}, {Channel: notify.ChannelSMS, Value: "+44 20 7946 0000"}},
		Content: &notify.Message{Body: "x"},
	})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "To[1].Value", ve.Field)

	r, err := d.Send(ctx, notify.Notification{
		UserID:  "ana",
		To:      []notify.Address{{Channel: notify.ChannelSMS, Value: "1 (415) 555-0100"}},
		Content: &notify.Message{Body: "x"},
	})
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 1, "the stored number and its national form are one")
	assert.Equal(t, "+14155550100", r.Deliveries[0].Address)
}

func TestParsePhoneConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				p, err := sms.ParsePhone([]string{"020 7946 0000", "(11) 91234-5678"}[i%2], []string{"GB", "BR"}[i%2])
				if err != nil || p.E164 == "" {
					t.Errorf("ParsePhone: %v %+v", err, p)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzNormalizeAddress feeds arbitrary text to NormalizeAddress: it must
// never panic, what it returns must pass Validate's E.164 check, parse
// back to itself (normalize(normalize(x)) == normalize(x)) and carry a
// type the channel accepts. Its answers, asked twice, are those of a
// Channel without the cache (Config.NormalizeCache), and so are those for
// the E.164 form.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"+14155550100", "(415) 555-0100", "020 7946 0000", "+44 (0)20 7946 0000", "07400 123456",
		"0151 12345678", "(11) 91234-5678", "98765 43210", "1-800-FLOWERS", "tel:+1-650-253-0000", "011 44 20 7946 0000",
		"+44 7400 123456 ext. 12", "+", "", "++1", "+0", "0", "+١٢٣٤٥٦٧٨٩٠", "+1 415 555 0100 x", "\x00"} {
		f.Add(s)
	}
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "US"})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "US", NormalizeCache: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := normalizeAnswer(plain, s)
		for range 2 {
			if got := normalizeAnswer(ch, s); got != want {
				t.Fatalf("NormalizeAddress(%q) = %+v with the cache, %+v without", s, got, want)
			}
		}
		if want.e164 != "" {
			if got, want := normalizeAnswer(ch, want.e164), normalizeAnswer(plain, want.e164); got != want {
				t.Fatalf("NormalizeAddress(%q) = %+v with the cache, %+v without", s, got, want)
			}
		}
		got, err := ch.NormalizeAddress(s)
		if err != nil {
			if !errors.Is(err, sms.ErrInvalidPhone) && !errors.Is(err, sms.ErrNumberType) {
				t.Fatalf("NormalizeAddress(%q): an error of no known kind: %v", s, err)
			}
			return
		}
		if !sms.ValidPhone(got) {
			t.Fatalf("NormalizeAddress(%q) = %q, not E.164", s, got)
		}
		again, err := ch.NormalizeAddress(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeAddress(%q) = %q, but NormalizeAddress(%q) = %q, %v", s, got, got, again, err)
		}
		p, err := sms.ParsePhone(got, "")
		if err != nil || p.E164 != got || p.Type == sms.FixedLine {
			t.Fatalf("ParsePhone(%q) = %+v, %v", got, p, err)
		}
	})
}

// newDispatcher is a Dispatcher on the memory backends with ch as its only
// channel, and its Store.
func newDispatcher(t *testing.T, ch notify.Channel) (*notify.Dispatcher, *smem.Store) {
	t.Helper()
	store := smem.New(smem.Config{})
	queue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = queue.Close() })
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{ch}})
	require.NoError(t, err)
	return d, store
}
