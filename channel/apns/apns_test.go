package apns_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/apns/apnstest"
	"github.com/google/uuid"
	"github.com/sideshow/apns2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	keyID  = "ABC123DEFG"
	teamID = "DEF123GHIJ"
	topic  = "com.example.app"
)

// tok returns a well-formed 64-hex-digit device token ending in n.
func tok(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("a", 64-len(s)) + s
}

// tokenSetup starts a local APNs that verifies JWTs from a fresh key and a
// Channel that signs with it.
func tokenSetup(t testing.TB, h func(*apnstest.Request) apnstest.Reply, mod ...func(*apns.Config)) (*apns.Channel, *apnstest.Server) {
	t.Helper()
	p8, pub, err := apnstest.NewAuthKey()
	require.NoError(t, err)
	_, bench := t.(*testing.B)
	srv := apnstest.NewServer(apnstest.Config{Key: pub, KeyID: keyID, TeamID: teamID, Handler: h, NoRecord: bench})
	t.Cleanup(srv.Close)
	cfg := apns.Config{AuthKey: p8, KeyID: keyID, TeamID: teamID, Host: srv.URL, RootCAs: srv.RootCAs(), Topic: topic}
	for _, m := range mod {
		m(&cfg)
	}
	ch, err := apns.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ch.Close() })
	return ch, srv
}

func delivery(t testing.TB, address string, opts any) *notify.Delivery {
	t.Helper()
	d := &notify.Delivery{
		ID: uuid.Must(uuid.NewV7()).String(), NotificationID: "n1", Channel: "apns", Address: address,
		Category: "chat", CreatedAt: time.Now(),
		Message: notify.Message{Title: "Hello", Subtitle: "from notify", Body: "You have a message", Data: map[string]string{"thread": "42"}},
	}
	if opts != nil {
		b, err := json.Marshal(opts)
		require.NoError(t, err)
		d.Options = b
	}
	return d
}

func TestSendTokenAuthWireFormat(t *testing.T) {
	ch, srv := tokenSetup(t, nil)
	badge := 3
	d := delivery(t, tok(1), apns.Options{
		CollapseID: "chat-42", ThreadID: "thread-42", Badge: &badge, Sound: "ping.aiff", Category: "REPLY",
		MutableContent: true, InterruptionLevel: "time-sensitive", TitleLocKey: "T_KEY", TitleLocArgs: []string{"Ann"},
		Custom: map[string]any{"deep": map[string]any{"link": "app://chat/42"}},
	})
	d.Priority = notify.PriorityHigh
	d.ExpiresAt = time.Unix(1900000000, 0)

	res, err := ch.Send(context.Background(), d)
	require.NoError(t, err)
	assert.Equal(t, d.ID, res.ProviderID, "ProviderID is the apns-id, which is the delivery ID")

	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "HTTP/2.0", r.Proto)
	assert.Equal(t, tok(1), r.Token)
	assert.Equal(t, topic, r.Header.Get("apns-topic"))
	assert.Equal(t, "alert", r.Header.Get("apns-push-type"))
	assert.Equal(t, d.ID, r.Header.Get("apns-id"))
	assert.Equal(t, "10", r.Header.Get("apns-priority"))
	assert.Equal(t, "1900000000", r.Header.Get("apns-expiration"))
	assert.Equal(t, "chat-42", r.Header.Get("apns-collapse-id"))
	assert.Equal(t, "application/json; charset=utf-8", r.Header.Get("content-type"))

	// The JWT: ES256 signed by our key (the server verified the signature), kid, iss, fresh iat.
	assert.Equal(t, "ES256", r.JWTHeader["alg"])
	assert.Equal(t, keyID, r.JWTHeader["kid"])
	assert.Equal(t, teamID, r.JWTClaims["iss"])
	iat, _ := r.JWTClaims["iat"].(float64)
	assert.WithinDuration(t, time.Now(), time.Unix(int64(iat), 0), time.Minute)

	want := `{
		"aps": {
			"alert": {"title": "Hello", "subtitle": "from notify", "body": "You have a message",
			          "title-loc-key": "T_KEY", "title-loc-args": ["Ann"]},
			"badge": 3, "sound": "ping.aiff", "thread-id": "thread-42", "category": "REPLY",
			"mutable-content": 1, "interruption-level": "time-sensitive"
		},
		"thread": "42",
		"notify_delivery_id": "` + d.ID + `",
		"deep": {"link": "app://chat/42"}
	}`
	assert.JSONEq(t, want, string(r.Body))
}

func TestProviderTokenIsReused(t *testing.T) {
	ch, srv := tokenSetup(t, nil)
	for i := range 3 {
		_, err := ch.Send(context.Background(), delivery(t, tok(i), nil))
		require.NoError(t, err)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	first := reqs[0].Header.Get("authorization")
	assert.True(t, strings.HasPrefix(first, "bearer "))
	for _, r := range reqs[1:] {
		assert.Equal(t, first, r.Header.Get("authorization"), "one JWT per key, not one per push (APNs answers TooManyProviderTokenUpdates)")
	}
}

func TestSendHeadersByPushType(t *testing.T) {
	ch, srv := tokenSetup(t, nil)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	cases := []struct {
		name                  string
		opts                  *apns.Options
		prio                  notify.Priority
		msg                   *notify.Message
		wantTopic, wantType   string
		wantPrio, wantExpires string
		wantAps               string
	}{
		{name: "normal priority leaves the header out", wantTopic: topic, wantType: "alert",
			wantAps: `{"alert":{"title":"Hello","subtitle":"from notify","body":"You have a message"}}`},
		{name: "low priority is 5", prio: notify.PriorityLow, wantTopic: topic, wantType: "alert", wantPrio: "5",
			wantAps: `{"alert":{"title":"Hello","subtitle":"from notify","body":"You have a message"}}`},
		{name: "background is priority 5 and content-available", opts: &apns.Options{PushType: "background"},
			msg: &notify.Message{Data: map[string]string{"sync": "1"}}, prio: notify.PriorityHigh,
			wantTopic: topic, wantType: "background", wantPrio: "5", wantAps: `{"content-available":1}`},
		{name: "voip topic suffix", opts: &apns.Options{PushType: "voip", Priority: 10, Expiration: exp},
			wantTopic: topic + ".voip", wantType: "voip", wantPrio: "10", wantExpires: strconv.FormatInt(exp.Unix(), 10),
			wantAps: `{"alert":{"title":"Hello","subtitle":"from notify","body":"You have a message"}}`},
		{name: "topic override keeps an explicit suffix", opts: &apns.Options{PushType: "voip", Topic: "com.other.voip"},
			wantTopic: "com.other.voip", wantType: "voip",
			wantAps: `{"alert":{"title":"Hello","subtitle":"from notify","body":"You have a message"}}`},
		{name: "live activity", opts: &apns.Options{PushType: "liveactivity", Event: "update", Timestamp: 1700000000,
			ContentState: map[string]any{"score": 2}},
			wantTopic: topic + ".push-type.liveactivity", wantType: "liveactivity",
			wantAps: `{"alert":{"title":"Hello","subtitle":"from notify","body":"You have a message"},"event":"update","timestamp":1700000000,"content-state":{"score":2}}`},
		{name: "localized keys only, critical sound", opts: &apns.Options{LocKey: "MSG", LocArgs: []string{"a"}, Sound: "alarm", SoundCritical: true, SoundVolume: 0.5},
			msg: &notify.Message{}, wantTopic: topic, wantType: "alert",
			wantAps: `{"alert":{"loc-key":"MSG","loc-args":["a"]},"sound":{"critical":1,"name":"alarm","volume":0.5}}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			var opts any
			if tc.opts != nil {
				opts = tc.opts
			}
			d := delivery(t, tok(i), opts)
			d.Priority = tc.prio
			if tc.msg != nil {
				d.Message = *tc.msg
			}
			require.NoError(t, ch.Validate(d))
			_, err := ch.Send(context.Background(), d)
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			h := reqs[0].Header
			assert.Equal(t, tc.wantTopic, h.Get("apns-topic"))
			assert.Equal(t, tc.wantType, h.Get("apns-push-type"))
			assert.Equal(t, tc.wantPrio, h.Get("apns-priority"))
			assert.Equal(t, tc.wantExpires, h.Get("apns-expiration"))
			assert.Empty(t, h.Get("apns-collapse-id"))
			got, err := json.Marshal(reqs[0].Payload["aps"])
			require.NoError(t, err)
			assert.JSONEq(t, tc.wantAps, string(got))
		})
	}
}

func TestCertificateAuth(t *testing.T) {
	cas, cert, pemBytes, err := apnstest.NewClientCertificate("Apple Push Services: com.example.app")
	require.NoError(t, err)
	srv := apnstest.NewServer(apnstest.Config{ClientCAs: cas})
	t.Cleanup(srv.Close)

	pemFile := filepath.Join(t.TempDir(), "push.pem")
	require.NoError(t, os.WriteFile(pemFile, pemBytes, 0o600))
	for name, cfg := range map[string]apns.Config{
		"in memory": {Certificate: &cert},
		"pem file":  {CertificateFile: pemFile},
	} {
		t.Run(name, func(t *testing.T) {
			srv.Reset()
			cfg.Host, cfg.RootCAs, cfg.Topic = srv.URL, srv.RootCAs(), topic
			ch, err := apns.New(cfg)
			require.NoError(t, err)
			defer ch.Close()
			_, err = ch.Send(context.Background(), delivery(t, tok(1), nil))
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, "Apple Push Services: com.example.app", reqs[0].ClientCert)
			assert.Empty(t, reqs[0].Header.Get("authorization"), "certificate auth sends no JWT")
		})
	}

	t.Run("a client without the certificate cannot connect", func(t *testing.T) {
		p8, _, err := apnstest.NewAuthKey()
		require.NoError(t, err)
		ch, err := apns.New(apns.Config{AuthKey: p8, KeyID: keyID, TeamID: teamID, Host: srv.URL, RootCAs: srv.RootCAs(), Topic: topic})
		require.NoError(t, err)
		defer ch.Close()
		_, err = ch.Send(context.Background(), delivery(t, tok(1), nil))
		require.Error(t, err)
		oe := notify.Classify(err)
		assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
		assert.True(t, oe.MaybeSent, "a transport error may have reached APNs")
	})
}

func TestOneConnectionForConcurrentSends(t *testing.T) {
	ch, srv := tokenSetup(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			_, err := ch.Send(context.Background(), delivery(t, tok(i), nil))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, srv.Requests(), 50)
	assert.Equal(t, 1, srv.Connections(), "every push shares one HTTP/2 connection")
}

// TestSeveralConnections checks that Config.Connections opens that many
// HTTP/2 connections and that pushes really travel on each of them, both
// one at a time (idle connections take turns) and concurrently (the least
// loaded one is picked).
func TestSeveralConnections(t *testing.T) {
	const conns = 4
	t.Run("sequential", func(t *testing.T) {
		ch, srv := tokenSetup(t, nil, func(c *apns.Config) { c.Connections = conns })
		for i := range 4 * conns {
			_, err := ch.Send(context.Background(), delivery(t, tok(i), nil))
			require.NoError(t, err)
		}
		assert.Equal(t, []int{4, 4, 4, 4}, srv.RequestsPerConnection(), "idle connections take turns")
	})
	t.Run("concurrent", func(t *testing.T) {
		// The server holds every push until all senders are in flight, so
		// the picker sees loaded connections and must spread the load.
		const senders = 8 * conns
		var arrived sync.WaitGroup
		arrived.Add(senders)
		release := make(chan struct{})
		var once sync.Once
		ch, srv := tokenSetup(t, func(*apnstest.Request) apnstest.Reply {
			arrived.Done()
			<-release
			return apnstest.Reply{}
		}, func(c *apns.Config) { c.Connections = conns })
		go func() { arrived.Wait(); once.Do(func() { close(release) }) }()
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for i := range senders {
			wg.Go(func() {
				_, err := ch.Send(context.Background(), delivery(t, tok(i), nil))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		per := srv.RequestsPerConnection()
		require.Len(t, per, conns, "one HTTP/2 connection per configured connection")
		for i, n := range per {
			// The least-loaded pick gives each connection its share, give
			// or take the races between senders reading the counts.
			assert.GreaterOrEqual(t, n, senders/conns/2, "connection %d carried %d of %d pushes: %v", i, n, senders, per)
		}
	})
}

// TestOutcomes drives every APNs row of docs/PROVIDERS.md's outcome table through
// the local server: a real HTTP/2 status and APNs error body, read by apns2.
func TestOutcomes(t *testing.T) {
	gone := time.Now().Add(-time.Hour).Truncate(time.Second) // apns2 keeps whole seconds
	const delay429 = 7 * time.Minute
	type row struct {
		reply     apnstest.Reply
		want      notify.Outcome
		after     time.Duration
		at        time.Time
		maybeSent bool
	}
	rows := map[string]row{
		// retryable
		"transport error":                 {reply: apnstest.Reply{Drop: true}, want: notify.OutcomeRetry, maybeSent: true},
		"non-JSON 502 body":               {reply: apnstest.Reply{Status: 502, RawBody: "<html>bad gateway</html>"}, want: notify.OutcomeRetry, maybeSent: true},
		"429 TooManyRequests":             {reply: apnstest.Reply{Status: 429, Reason: apns2.ReasonTooManyRequests}, want: notify.OutcomeRetry, after: delay429},
		"500 InternalServerError":         {reply: apnstest.Reply{Status: 500, Reason: apns2.ReasonInternalServerError}, want: notify.OutcomeRetry},
		"503 ServiceUnavailable":          {reply: apnstest.Reply{Status: 503, Reason: apns2.ReasonServiceUnavailable}, want: notify.OutcomeRetry},
		"503 Shutdown":                    {reply: apnstest.Reply{Status: 503, Reason: apns2.ReasonShutdown}, want: notify.OutcomeRetry},
		"400 IdleTimeout":                 {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonIdleTimeout}, want: notify.OutcomeRetry},
		"500 unknown reason":              {reply: apnstest.Reply{Status: 500, Reason: "Whatever"}, want: notify.OutcomeRetry},
		"429 unknown reason":              {reply: apnstest.Reply{Status: 429, Reason: "Whatever"}, want: notify.OutcomeRetry, after: delay429},
		"413 PayloadTooLarge":             {reply: apnstest.Reply{Status: 413, Reason: apns2.ReasonPayloadTooLarge}, want: notify.OutcomePermanent},
		"400 BadCollapseId":               {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadCollapseID}, want: notify.OutcomePermanent},
		"400 BadExpirationDate":           {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadExpirationDate}, want: notify.OutcomePermanent},
		"400 BadMessageId":                {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadMessageID}, want: notify.OutcomePermanent},
		"400 BadPriority":                 {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadPriority}, want: notify.OutcomePermanent},
		"400 DuplicateHeaders":            {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonDuplicateHeaders}, want: notify.OutcomePermanent},
		"400 InvalidPushType":             {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonInvalidPushType}, want: notify.OutcomePermanent},
		"400 MissingDeviceToken":          {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonMissingDeviceToken}, want: notify.OutcomePermanent},
		"400 PayloadEmpty":                {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonPayloadEmpty}, want: notify.OutcomePermanent},
		"404 BadPath":                     {reply: apnstest.Reply{Status: 404, Reason: apns2.ReasonBadPath}, want: notify.OutcomePermanent},
		"405 MethodNotAllowed":            {reply: apnstest.Reply{Status: 405, Reason: apns2.ReasonMethodNotAllowed}, want: notify.OutcomePermanent},
		"400 unknown reason":              {reply: apnstest.Reply{Status: 400, Reason: "Whatever"}, want: notify.OutcomePermanent},
		"410 Unregistered":                {reply: apnstest.Reply{Status: 410, Reason: apns2.ReasonUnregistered, Timestamp: gone}, want: notify.OutcomeInvalidRecipient, at: gone},
		"410 ExpiredToken":                {reply: apnstest.Reply{Status: 410, Reason: apns2.ReasonExpiredToken, Timestamp: gone}, want: notify.OutcomeInvalidRecipient, at: gone},
		"400 BadDeviceToken":              {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadDeviceToken}, want: notify.OutcomeInvalidRecipient},
		"400 DeviceTokenNotForTopic":      {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonDeviceTokenNotForTopic}, want: notify.OutcomeInvalidRecipient},
		"403 BadCertificate":              {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonBadCertificate}, want: notify.OutcomeConfig},
		"403 BadCertificateEnvironment":   {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonBadCertificateEnvironment}, want: notify.OutcomeConfig},
		"403 Forbidden":                   {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonForbidden}, want: notify.OutcomeConfig},
		"403 InvalidProviderToken":        {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonInvalidProviderToken}, want: notify.OutcomeConfig},
		"403 MissingProviderToken":        {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonMissingProviderToken}, want: notify.OutcomeConfig},
		"403 ExpiredProviderToken":        {reply: apnstest.Reply{Status: 403, Reason: apns2.ReasonExpiredProviderToken}, want: notify.OutcomeConfig},
		"400 BadTopic":                    {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonBadTopic}, want: notify.OutcomeConfig},
		"400 MissingTopic":                {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonMissingTopic}, want: notify.OutcomeConfig},
		"400 TopicDisallowed":             {reply: apnstest.Reply{Status: 400, Reason: apns2.ReasonTopicDisallowed}, want: notify.OutcomeConfig},
		"429 TooManyProviderTokenUpdates": {reply: apnstest.Reply{Status: 429, Reason: apns2.ReasonTooManyProviderTokenUpdates}, want: notify.OutcomeConfig},
		"403 unknown reason":              {reply: apnstest.Reply{Status: 403, Reason: "Whatever"}, want: notify.OutcomeConfig},
	}
	var mu sync.Mutex
	replies := map[string]apnstest.Reply{}
	ch, _ := tokenSetup(t, func(r *apnstest.Request) apnstest.Reply {
		mu.Lock()
		defer mu.Unlock()
		return replies[r.Token]
	}, func(c *apns.Config) { c.TooManyRequestsDelay = delay429 })

	i := 0
	for name, tc := range rows {
		i++
		token := tok(i)
		mu.Lock()
		replies[token] = tc.reply
		mu.Unlock()
		t.Run(name, func(t *testing.T) {
			_, err := ch.Send(context.Background(), delivery(t, token, nil))
			require.Error(t, err)
			var oe *notify.OutcomeError
			require.ErrorAs(t, err, &oe, "every error is classified")
			assert.Equal(t, tc.want, oe.Outcome, "outcome of %v", err)
			assert.Equal(t, tc.after, oe.RetryAfter)
			assert.Equal(t, tc.maybeSent, oe.MaybeSent)
			if !tc.at.IsZero() {
				assert.True(t, tc.at.Equal(oe.At), "410 carries APNs's timestamp: got %v want %v", oe.At, tc.at)
			}
			if tc.reply.Reason != "" {
				var ae *apns.Error
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.reply.Status, ae.StatusCode)
				assert.Equal(t, tc.reply.Reason, ae.Reason)
			}
			assert.NotContains(t, err.Error(), token, "the device token stays out of errors")
		})
	}

	t.Run("410 without timestamp is bounded by now", func(t *testing.T) {
		mu.Lock()
		replies[tok(999)] = apnstest.Reply{Status: 410, Reason: apns2.ReasonUnregistered}
		mu.Unlock()
		before := time.Now()
		_, err := ch.Send(context.Background(), delivery(t, tok(999), nil))
		oe := notify.Classify(err)
		assert.Equal(t, notify.OutcomeInvalidRecipient, oe.Outcome)
		assert.False(t, oe.At.Before(before))
	})
}

// TestServerRejectsForeignKey: a JWT signed by another key is refused by the
// server's own check and comes back as a configuration error.
func TestServerRejectsForeignKey(t *testing.T) {
	other, _, err := apnstest.NewAuthKey()
	require.NoError(t, err)
	ch, srv := tokenSetup(t, nil, func(c *apns.Config) { c.AuthKey = other })
	_, err = ch.Send(context.Background(), delivery(t, tok(1), nil))
	var ae *apns.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, apns2.ReasonInvalidProviderToken, ae.Reason)
	assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome)
	assert.Len(t, srv.Requests(), 1)
}

func TestValidate(t *testing.T) {
	ch, _ := tokenSetup(t, nil)
	noTopic, _ := tokenSetup(t, nil, func(c *apns.Config) { c.Topic = "" })
	big := strings.Repeat("x", 4000)
	cases := []struct {
		name  string
		ch    *apns.Channel
		token string
		opts  any
		msg   *notify.Message
		field string // "" = valid
	}{
		{name: "valid", token: tok(1)},
		{name: "uppercase hex token", token: strings.ToUpper(tok(1))},
		{name: "100-byte token", token: strings.Repeat("ab", 100)},
		{name: "empty token", token: "", field: notify.FieldAddress},
		{name: "short token", token: "abcd", field: notify.FieldAddress},
		{name: "odd length", token: tok(1) + "a", field: notify.FieldAddress},
		{name: "not hex", token: strings.Repeat("z", 64), field: notify.FieldAddress},
		{name: "base64 token", token: strings.Repeat("q+/=", 16), field: notify.FieldAddress},
		{name: "unknown option", token: tok(1), opts: map[string]any{"colapse_id": "x"}, field: "Options.apns"},
		{name: "options not an object", token: tok(1), opts: []int{1}, field: "Options.apns"},
		{name: "collapse id 64 bytes", token: tok(1), opts: apns.Options{CollapseID: strings.Repeat("c", 64)}},
		{name: "collapse id 65 bytes", token: tok(1), opts: apns.Options{CollapseID: strings.Repeat("c", 65)}, field: "Options.apns.collapse_id"},
		{name: "unknown push type", token: tok(1), opts: apns.Options{PushType: "smoke"}, field: "Options.apns.push_type"},
		{name: "bad priority", token: tok(1), opts: apns.Options{Priority: 7}, field: "Options.apns.priority"},
		{name: "background with priority 10", token: tok(1), opts: apns.Options{PushType: "background", Priority: 10}, msg: &notify.Message{Data: map[string]string{"a": "b"}}, field: "Options.apns.priority"},
		{name: "background with an alert", token: tok(1), opts: apns.Options{PushType: "background"}, field: "Content"},
		{name: "alert with nothing to show", token: tok(1), msg: &notify.Message{Data: map[string]string{"a": "b"}}, field: "Content"},
		{name: "badge alone is an alert", token: tok(1), opts: map[string]any{"badge": 0}, msg: &notify.Message{}},
		{name: "aps as custom key", token: tok(1), opts: apns.Options{Custom: map[string]any{"aps": 1}}, field: "Options.apns.custom"},
		{name: "aps as data key", token: tok(1), msg: &notify.Message{Title: "t", Data: map[string]string{"aps": "x"}}, field: "Options.apns.custom"},
		{name: "live activity without event", token: tok(1), opts: apns.Options{PushType: "liveactivity"}, field: "Options.apns.event"},
		{name: "interruption level", token: tok(1), opts: apns.Options{InterruptionLevel: "loud"}, field: "Options.apns.interruption_level"},
		{name: "critical sound without name", token: tok(1), opts: apns.Options{SoundCritical: true}, field: "Options.apns.sound"},
		{name: "sound volume", token: tok(1), opts: apns.Options{Sound: "a", SoundVolume: 2}, field: "Options.apns.sound_volume"},
		{name: "payload over 4096", token: tok(1), msg: &notify.Message{Title: big, Body: big[:200]}, field: "Content"},
		{name: "voip payload up to 5120", token: tok(1), opts: apns.Options{PushType: "voip"}, msg: &notify.Message{Title: big, Body: big[:200]}},
		{name: "voip payload over 5120", token: tok(1), opts: apns.Options{PushType: "voip"}, msg: &notify.Message{Title: big, Body: big[:1200]}, field: "Content"},
		{name: "no topic with token auth", ch: noTopic, token: tok(1), field: "Options.apns.topic"},
		{name: "topic from options", ch: noTopic, token: tok(1), opts: apns.Options{Topic: "com.x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ch
			if tc.ch != nil {
				c = tc.ch
			}
			d := delivery(t, tc.token, tc.opts)
			if tc.msg != nil {
				d.Message = *tc.msg
			}
			err := c.Validate(d)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field, "reason: %s", ve.Reason)
			assert.NotEmpty(t, ve.Reason)

			// Send refuses it too, permanently, without calling APNs.
			_, serr := c.Send(context.Background(), d)
			assert.Equal(t, notify.OutcomePermanent, notify.Classify(serr).Outcome)
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	p8, _, err := apnstest.NewAuthKey()
	require.NoError(t, err)
	_, cert, _, err := apnstest.NewClientCertificate("x")
	require.NoError(t, err)
	for name, cfg := range map[string]apns.Config{
		"no credential":               {},
		"both credentials":            {AuthKey: p8, KeyID: keyID, TeamID: teamID, Certificate: &cert},
		"key without ids":             {AuthKey: p8},
		"garbage key":                 {AuthKey: []byte("not a key"), KeyID: keyID, TeamID: teamID},
		"missing key file":            {AuthKeyFile: "/nonexistent.p8", KeyID: keyID, TeamID: teamID},
		"missing cert file":           {CertificateFile: "/nonexistent.p12"},
		"negative connections":        {AuthKey: p8, KeyID: keyID, TeamID: teamID, Connections: -1},
		"too many connections":        {AuthKey: p8, KeyID: keyID, TeamID: teamID, Connections: apns.MaxConnections + 1},
		"connections with HTTPClient": {AuthKey: p8, KeyID: keyID, TeamID: teamID, Connections: 2, HTTPClient: &http.Client{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apns.New(cfg)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "apns: "), err.Error())
			assert.NotContains(t, err.Error(), "PRIVATE KEY")
		})
	}
	ch, err := apns.New(apns.Config{AuthKey: p8, KeyID: keyID, TeamID: teamID})
	require.NoError(t, err)
	assert.Equal(t, "apns", ch.Name())
}
