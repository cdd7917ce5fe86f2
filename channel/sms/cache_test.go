package sms_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/channel/sms"
)

// answer is one NormalizeAddress answer in a comparable form: the number,
// or the refusal's text and kind.
type answer struct {
	e164, err       string
	invalid, refuse bool
}

func answerOf(e164 string, err error) answer {
	a := answer{e164: e164}
	if err != nil {
		a.err = err.Error()
		a.invalid = errors.Is(err, sms.ErrInvalidPhone)
		a.refuse = errors.Is(err, sms.ErrNumberType)
	}
	return a
}

func normalizeAnswer(ch *sms.Channel, in string) answer {
	return answerOf(ch.NormalizeAddress(in))
}

// phoneConfigs are the number rules the cache tests run under: every
// default region of the tables, with landlines refused, allowed, and
// more types refused.
func phoneConfigs() map[string]sms.Config {
	configs := map[string]sms.Config{}
	for _, region := range []string{"", "US", "GB", "DE", "BR", "IN"} {
		base := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: region}
		configs[region+" default"] = base
		landlines := base
		landlines.AllowLandlines = true
		configs[region+" landlines"] = landlines
		strict := base
		strict.RejectTypes = []sms.NumberType{sms.TollFree, sms.Mobile}
		configs[region+" strict"] = strict
	}
	return configs
}

// phoneInputs are the inputs of the table tests, and more.
func phoneInputs() []string {
	var ins []string
	for _, tc := range parseCases {
		ins = append(ins, tc.in)
	}
	for _, tc := range typeCases {
		ins = append(ins, tc.in)
	}
	return append(ins, "+447400123456", "+442079460000", "+18003569377", "+14155550100", "+1 (415) 555-0100", "0")
}

func newWithCache(t testing.TB, cfg sms.Config, size int) *sms.Channel {
	t.Helper()
	cfg.NormalizeCache = size
	ch, err := sms.New(cfg)
	require.NoError(t, err)
	return ch
}

// TestNormalizeAddressCached checks that a Channel with the cache (the
// default one, and one of 3 entries, which drops answers all the time)
// answers exactly as one without it: same number, same refusal text, same
// kind, for every input of the table tests asked twice, and for the E.164
// forms it returns (which it remembers unasked).
func TestNormalizeAddressCached(t *testing.T) {
	for name, cfg := range phoneConfigs() {
		t.Run(name, func(t *testing.T) {
			plain := newWithCache(t, cfg, -1)
			cached := []*sms.Channel{newWithCache(t, cfg, 0), newWithCache(t, cfg, 3)}
			for round := range 2 {
				for _, in := range phoneInputs() {
					want := normalizeAnswer(plain, in)
					for i, ch := range cached {
						assert.Equal(t, want, normalizeAnswer(ch, in), "round %d, cache %d: %q", round, i, in)
						if want.e164 != "" {
							assert.Equal(t, normalizeAnswer(plain, want.e164), normalizeAnswer(ch, want.e164),
								"round %d, cache %d: %q, the E.164 form of %q", round, i, want.e164, in)
						}
					}
				}
			}
		})
	}
}

// TestNormalizeAddressRemembers checks that the cache is used: an answer
// given before, accepted or refused, and the E.164 form of an accepted
// national number, come back without a parse (which allocates).
func TestNormalizeAddressRemembers(t *testing.T) {
	ch := newWithCache(t, sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "GB"}, 0)
	plain := newWithCache(t, sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "GB"}, -1)
	for _, in := range []string{"+447400123456", "020 7946 0000", "07700 900123"} {
		_, _ = ch.NormalizeAddress(in)
		assert.Zero(t, testing.AllocsPerRun(20, func() { _, _ = ch.NormalizeAddress(in) }), "%q is parsed again", in)
		assert.NotZero(t, testing.AllocsPerRun(2, func() { _, _ = plain.NormalizeAddress(in) }), "%q without the cache", in)
	}
	_, err := ch.NormalizeAddress("07400 123457")
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(20, func() { _, _ = ch.NormalizeAddress("+447400123457") }),
		"the E.164 form of a number accepted in national form is remembered")
}

// TestNormalizeAddressConcurrently asks many goroutines for the same and
// different numbers at once, through the default cache and one of 4
// entries (dropping answers as they come), under the race detector; every
// answer is the uncached one.
func TestNormalizeAddressConcurrently(t *testing.T) {
	cfg := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "GB"}
	plain := newWithCache(t, cfg, -1)
	ins := phoneInputs()
	for i := range 40 {
		ins = append(ins, fmt.Sprintf("+447400%06d", i), fmt.Sprintf("07400 %06d", i))
	}
	want := map[string]answer{}
	for _, in := range ins {
		want[in] = normalizeAnswer(plain, in)
	}
	for _, size := range []int{0, 4} {
		ch := newWithCache(t, cfg, size)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for r := range 3 {
					for i := range ins {
						in := ins[(i*(g+1)+r)%len(ins)]
						if got := normalizeAnswer(ch, in); got != want[in] {
							t.Errorf("cache %d: NormalizeAddress(%q) = %+v, want %+v", size, in, got, want[in])
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
}
