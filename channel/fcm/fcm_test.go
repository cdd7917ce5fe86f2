package fcm_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"firebase.google.com/go/v4/messaging"
	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/fcm/fcmtest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
)

const (
	project     = "test-project"
	accessToken = "ya29.test-access-token"
)

// tok returns a well-formed registration token ending in n.
func tok(n int) string {
	s := strconv.Itoa(n)
	return "dXk3:APA91b" + strings.Repeat("x", 140-len(s)) + s
}

func setup(t testing.TB, h func(*fcmtest.Request) fcmtest.Reply, mod ...func(*fcm.Config)) (*fcm.Channel, *fcmtest.Server) {
	t.Helper()
	_, bench := t.(*testing.B)
	srv := fcmtest.NewServer(fcmtest.Config{ProjectID: project, AccessToken: accessToken, Handler: h, NoRecord: bench})
	t.Cleanup(srv.Close)
	cfg := fcm.Config{
		ProjectID: project, Endpoint: srv.Endpoint(),
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}),
	}
	for _, m := range mod {
		m(&cfg)
	}
	ch, err := fcm.New(context.Background(), cfg)
	require.NoError(t, err)
	return ch, srv
}

func delivery(t testing.TB, address string, opts any) *notify.Delivery {
	t.Helper()
	d := &notify.Delivery{
		ID: uuid.Must(uuid.NewV7()).String(), NotificationID: "n1", Channel: "fcm", Address: address,
		Category: "chat", CreatedAt: time.Now(),
		Message: notify.Message{Title: "Hello", Body: "You have a message", Data: map[string]string{"thread": "42"}},
	}
	if opts != nil {
		b, err := json.Marshal(opts)
		require.NoError(t, err)
		d.Options = b
	}
	return d
}

// message returns the "message" object of a recorded request, as sent.
func message(t *testing.T, r *fcmtest.Request) string {
	t.Helper()
	var env struct {
		Message json.RawMessage `json:"message"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &env))
	return string(env.Message)
}

func TestSendWireFormat(t *testing.T) {
	ch, srv := setup(t, nil)
	d := delivery(t, tok(1), fcm.Options{
		ImageURL: "https://example.com/a.png", AnalyticsLabel: "chat_v1",
		AndroidTTL: time.Hour, AndroidCollapseKey: "chat-42", AndroidChannelID: "messages", AndroidSound: "ping",
		APNS: &messaging.APNSConfig{Payload: &messaging.APNSPayload{Aps: &messaging.Aps{ThreadID: "t42"}}},
	})
	d.Message.Subtitle = "from notify"
	d.Priority = notify.PriorityHigh
	d.ExpiresAt = time.Now().Add(2 * time.Hour).Truncate(time.Second)

	res, err := ch.Send(context.Background(), d)
	require.NoError(t, err)
	assert.Equal(t, "projects/test-project/messages/1", res.ProviderID)

	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, "Bearer "+accessToken, r.Header.Get("Authorization"))
	assert.Equal(t, "2", r.Header.Get("X-GOOG-API-FORMAT-VERSION"))
	assert.Contains(t, r.Header.Get("X-Firebase-Client"), "fire-admin-go/")
	assert.False(t, r.ValidateOnly)

	exp := strconv.FormatInt(d.ExpiresAt.Unix(), 10)
	want := `{
		"token": "` + tok(1) + `",
		"data": {"thread": "42", "notify_delivery_id": "` + d.ID + `"},
		"notification": {"title": "Hello", "body": "You have a message", "image": "https://example.com/a.png"},
		"android": {"priority": "high", "ttl": "3600s", "collapse_key": "chat-42",
		            "notification": {"channel_id": "messages", "sound": "ping"}},
		"apns": {"headers": {"apns-priority": "10", "apns-expiration": "` + exp + `"},
		         "payload": {"aps": {"thread-id": "t42", "alert": {"subtitle": "from notify"}}}},
		"webpush": {"headers": {"Urgency": "high", "TTL": "` + webTTL(t, r) + `"}},
		"fcm_options": {"analytics_label": "chat_v1"}
	}`
	assert.JSONEq(t, want, message(t, r))
	ttl, err := strconv.Atoi(webTTL(t, r))
	require.NoError(t, err)
	assert.InDelta(t, 7200, ttl, 5, "webpush TTL is the time to the notification's expiry")
}

func webTTL(t *testing.T, r *fcmtest.Request) string {
	t.Helper()
	require.NotNil(t, r.Message.Webpush)
	return r.Message.Webpush.Headers["TTL"]
}

func TestSendMinimalAndTargets(t *testing.T) {
	ch, srv := setup(t, nil)
	cases := []struct {
		name    string
		address string
		opts    any
		prio    notify.Priority
		want    string
	}{
		{name: "token, no options", address: tok(1),
			want: `{"token":"` + tok(1) + `","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"}}`},
		{name: "low priority", address: tok(2), prio: notify.PriorityLow,
			want: `{"token":"` + tok(2) + `","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"},
			        "android":{"priority":"normal"},"apns":{"headers":{"apns-priority":"5"}},"webpush":{"headers":{"Urgency":"low"}}}`},
		{name: "topic address", address: "/topics/news",
			want: `{"topic":"news","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"}}`},
		{name: "topic in options agrees with the address", address: "/topics/news", opts: fcm.Options{Topic: "news"},
			want: `{"topic":"news","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"}}`},
		{name: "condition address", address: "condition:'a' in topics && 'b' in topics",
			want: `{"condition":"'a' in topics \u0026\u0026 'b' in topics","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"}}`},
		{name: "android override merged with shorthand", address: tok(3),
			opts: fcm.Options{AndroidPriority: "normal", Android: &messaging.AndroidConfig{RestrictedPackageName: "com.example", Priority: "high"}},
			want: `{"token":"` + tok(3) + `","data":{"thread":"42"},"notification":{"title":"Hello","body":"You have a message"},
			        "android":{"priority":"normal","restricted_package_name":"com.example"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			d := delivery(t, tc.address, tc.opts)
			d.Priority = tc.prio
			require.NoError(t, ch.Validate(d))
			_, err := ch.Send(context.Background(), d)
			require.NoError(t, err)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			// Every push carries its delivery ID (notify.PushDeliveryIDKey).
			want := strings.Replace(tc.want, `"thread":"42"`, `"thread":"42","notify_delivery_id":"`+d.ID+`"`, 1)
			assert.JSONEq(t, want, message(t, reqs[0]))
		})
	}
}

func TestCredentialsRejectedByServer(t *testing.T) {
	ch, srv := setup(t, nil, func(c *fcm.Config) {
		c.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "wrong", TokenType: "Bearer"})
	})
	_, err := ch.Send(context.Background(), delivery(t, tok(1), nil))
	oe := notify.Classify(err)
	assert.Equal(t, notify.OutcomeConfig, oe.Outcome, "%v", err)
	assert.NotContains(t, err.Error(), "wrong", "the access token stays out of errors")
	assert.Equal(t, 1, srv.Hits())

	wrongProject, srv2 := setup(t, nil, func(c *fcm.Config) { c.ProjectID = "other-project" })
	_, err = wrongProject.Send(context.Background(), delivery(t, tok(1), nil))
	assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome, "%v", err)
	assert.Equal(t, 1, srv2.Hits())
}

// TestOutcomes drives every FCM row of docs/PROVIDERS.md's outcome table through
// the local server: a real HTTP status and Google API error body, read by
// the Firebase SDK.
func TestOutcomes(t *testing.T) {
	type row struct {
		reply     fcmtest.Reply
		opts      any
		timeout   time.Duration
		slowHTTP  bool // send with an HTTP client whose own timeout fires
		want      notify.Outcome
		after     time.Duration
		maybeSent bool
		hits      int // HTTP requests the SDK made; 0 = 1
	}
	const quota = 2 * time.Minute
	rows := map[string]row{
		"QUOTA_EXCEEDED with a long Retry-After":              {reply: fcmtest.Reply{ErrorStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED", RetryAfter: "300"}, want: notify.OutcomeRetry, after: 300 * time.Second},
		"QUOTA_EXCEEDED with a short Retry-After":             {reply: fcmtest.Reply{ErrorStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED", RetryAfter: "5"}, want: notify.OutcomeRetry, after: quota},
		"QUOTA_EXCEEDED without Retry-After":                  {reply: fcmtest.Reply{ErrorStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED"}, want: notify.OutcomeRetry, after: quota},
		"UNAVAILABLE, Retry-After beyond the SDK's 2 minutes": {reply: fcmtest.Reply{ErrorStatus: "UNAVAILABLE", ErrorCode: "UNAVAILABLE", RetryAfter: "180"}, want: notify.OutcomeRetry, after: 180 * time.Second},
		"UNAVAILABLE, retried by the SDK first":               {reply: fcmtest.Reply{ErrorStatus: "UNAVAILABLE", ErrorCode: "UNAVAILABLE"}, want: notify.OutcomeRetry, hits: 5},
		"INTERNAL":                                            {reply: fcmtest.Reply{ErrorStatus: "INTERNAL", ErrorCode: "INTERNAL"}, want: notify.OutcomeRetry},
		"unknown: non-JSON 502":                               {reply: fcmtest.Reply{Status: 502, RawBody: "<html>bad gateway</html>"}, want: notify.OutcomeRetry},
		"transport error after SDK retries":                   {reply: fcmtest.Reply{Drop: true}, want: notify.OutcomeRetry, maybeSent: true, hits: 5},
		"context deadline exceeded":                           {reply: fcmtest.Reply{Drop: true}, timeout: 50 * time.Millisecond, want: notify.OutcomeRetry, maybeSent: true, hits: -1},
		"DEADLINE_EXCEEDED: HTTP timeout":                     {reply: fcmtest.Reply{Delay: time.Second}, slowHTTP: true, want: notify.OutcomeRetry, maybeSent: true, hits: 5},
		"INVALID_ARGUMENT":                                    {reply: fcmtest.Reply{ErrorStatus: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT", Message: "Invalid value at 'message.android.ttl'"}, want: notify.OutcomePermanent},
		"SDK validation":                                      {opts: fcm.Options{AndroidColor: "red"}, want: notify.OutcomePermanent, hits: -1},
		"UNREGISTERED":                                        {reply: fcmtest.Reply{ErrorStatus: "NOT_FOUND", ErrorCode: "UNREGISTERED", Message: "Requested entity was not found."}, want: notify.OutcomeInvalidRecipient},
		"INVALID_ARGUMENT invalid token":                      {reply: fcmtest.Reply{ErrorStatus: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT", Message: "The registration token is not a valid FCM registration token"}, want: notify.OutcomeInvalidRecipient},
		"SENDER_ID_MISMATCH":                                  {reply: fcmtest.Reply{ErrorStatus: "PERMISSION_DENIED", ErrorCode: "SENDER_ID_MISMATCH", Message: "SenderId mismatch"}, want: notify.OutcomeInvalidRecipient},
		"THIRD_PARTY_AUTH_ERROR":                              {reply: fcmtest.Reply{ErrorStatus: "UNAUTHENTICATED", ErrorCode: "THIRD_PARTY_AUTH_ERROR", Message: "Auth error from APNS or Web Push Service"}, want: notify.OutcomeConfig},
		"UNAUTHENTICATED":                                     {reply: fcmtest.Reply{ErrorStatus: "UNAUTHENTICATED", Message: "Request had invalid authentication credentials."}, want: notify.OutcomeConfig},
		"PERMISSION_DENIED":                                   {reply: fcmtest.Reply{ErrorStatus: "PERMISSION_DENIED", Message: "Permission 'cloudmessaging.messages.create' denied"}, want: notify.OutcomeConfig},
		"NOT_FOUND without UNREGISTERED":                      {reply: fcmtest.Reply{ErrorStatus: "NOT_FOUND", Message: "Requested entity was not found."}, want: notify.OutcomeConfig},
	}
	var mu sync.Mutex
	replies := map[string]fcmtest.Reply{}
	hits := map[string]int{}
	ch, srv := setup(t, func(r *fcmtest.Request) fcmtest.Reply {
		mu.Lock()
		defer mu.Unlock()
		hits[r.Message.Token]++
		return replies[r.Message.Token]
	}, func(c *fcm.Config) { c.MinQuotaDelay = quota })
	// The same server, through an HTTP client with a 100ms timeout of its own.
	timeoutCh, err := fcm.New(context.Background(), fcm.Config{ProjectID: project, Endpoint: srv.Endpoint(),
		ClientOptions: []option.ClientOption{option.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond,
			Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}), Base: http.DefaultTransport}})}})
	require.NoError(t, err)

	// Send every row at once (the SDK's own retries take seconds; t.Parallel
	// would be capped at GOMAXPROCS), then check each row on its own.
	type sent struct {
		d   *notify.Delivery
		err error
	}
	got := make(map[string]sent, len(rows))
	var wg sync.WaitGroup
	i := 0
	for name, tc := range rows {
		i++
		d := delivery(t, tok(i), tc.opts)
		mu.Lock()
		replies[d.Address] = tc.reply
		mu.Unlock()
		wg.Go(func() {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			c := ch
			if tc.slowHTTP {
				c = timeoutCh
			}
			_, err := c.Send(ctx, d)
			mu.Lock()
			got[name] = sent{d, err}
			mu.Unlock()
		})
	}
	wg.Wait()

	for name, tc := range rows {
		t.Run(name, func(t *testing.T) {
			d, err := got[name].d, got[name].err
			require.Error(t, err)
			var oe *notify.OutcomeError
			require.ErrorAs(t, err, &oe, "every error is classified")
			assert.Equal(t, tc.want, oe.Outcome, "outcome of %v", err)
			assert.Equal(t, tc.after, oe.RetryAfter)
			assert.Equal(t, tc.maybeSent, oe.MaybeSent)
			assert.NotContains(t, err.Error(), accessToken, "the access token stays out of errors")
			mu.Lock()
			n := hits[d.Address]
			mu.Unlock()
			switch tc.hits {
			case 0:
				assert.Equal(t, 1, n, "HTTP requests")
			case -1:
				if tc.opts != nil {
					assert.Zero(t, n, "the SDK refused the message before sending")
					assert.Error(t, ch.Validate(d), "Validate refuses what the SDK refuses")
				}
			default:
				assert.Equal(t, tc.hits, n, "HTTP requests, the SDK's own retries included")
			}
		})
	}
}

func TestSendBatch(t *testing.T) {
	var mu sync.Mutex
	replies := map[string]fcmtest.Reply{
		tok(2): {ErrorStatus: "NOT_FOUND", ErrorCode: "UNREGISTERED"},
		tok(3): {ErrorStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED", RetryAfter: "90"},
	}
	ch, srv := setup(t, func(r *fcmtest.Request) fcmtest.Reply {
		mu.Lock()
		defer mu.Unlock()
		return replies[r.Message.Token]
	})
	ds := []*notify.Delivery{
		delivery(t, tok(1), nil),
		delivery(t, tok(2), nil),
		delivery(t, tok(3), nil),
		delivery(t, "bad token!", nil),                        // refused by build: no request
		delivery(t, tok(5), fcm.Options{AndroidColor: "red"}), // refused by the SDK: no request
		delivery(t, "/topics/news", nil),
	}
	results, errs := ch.SendBatch(context.Background(), ds)
	require.Len(t, results, len(ds))
	require.Len(t, errs, len(ds))
	assert.NoError(t, errs[0])
	assert.NotEmpty(t, results[0].ProviderID)
	assert.Equal(t, notify.OutcomeInvalidRecipient, notify.Classify(errs[1]).Outcome)
	assert.Equal(t, notify.OutcomeRetry, notify.Classify(errs[2]).Outcome)
	assert.Equal(t, 90*time.Second, notify.Classify(errs[2]).RetryAfter)
	assert.Equal(t, notify.OutcomePermanent, notify.Classify(errs[3]).Outcome)
	assert.Equal(t, notify.OutcomePermanent, notify.Classify(errs[4]).Outcome)
	assert.NoError(t, errs[5])
	assert.NotEqual(t, results[0].ProviderID, results[5].ProviderID)
	assert.Equal(t, 4, srv.Hits(), "one request per sendable message, after the SDK validated them all")

	t.Run("more than 500 in chunks", func(t *testing.T) {
		srv.Reset()
		many := make([]*notify.Delivery, fcm.MaxBatch+7)
		for i := range many {
			many[i] = delivery(t, tok(1000+i), nil)
		}
		results, errs := ch.SendBatch(context.Background(), many)
		for i := range many {
			require.NoError(t, errs[i])
			require.NotEmpty(t, results[i].ProviderID)
		}
		assert.Equal(t, len(many), srv.Hits())
	})
}

func TestSDKRetriesA503Itself(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	ch, _ := setup(t, func(*fcmtest.Request) fcmtest.Reply {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return fcmtest.Reply{ErrorStatus: "UNAVAILABLE"}
		}
		return fcmtest.Reply{}
	})
	res, err := ch.Send(context.Background(), delivery(t, tok(1), nil))
	require.NoError(t, err)
	assert.NotEmpty(t, res.ProviderID)
	assert.Equal(t, 2, calls)
}

func TestValidate(t *testing.T) {
	ch, srv := setup(t, nil)
	t.Cleanup(func() {
		assert.Zero(t, srv.Hits(), "validation runs offline, and refused messages are never sent")
	})
	// At the limit with the delivery ID every push carries (a UUID under
	// notify.PushDeliveryIDKey).
	big := strings.Repeat("x", fcm.MaxPayload-len(notify.PushDeliveryIDKey)-36)
	cases := []struct {
		name    string
		address string
		opts    any
		msg     *notify.Message
		field   string // "" = valid
	}{
		{name: "valid", address: tok(1)},
		{name: "legacy token with dashes", address: "APA91b-" + strings.Repeat("a_b-", 30)},
		{name: "empty token", address: "", field: notify.FieldAddress},
		{name: "short token", address: "abc", field: notify.FieldAddress},
		{name: "token with a space", address: tok(1) + " x", field: notify.FieldAddress},
		{name: "bad topic name", address: "/topics/news!", field: notify.FieldAddress},
		{name: "empty condition", address: "condition: ", field: notify.FieldAddress},
		{name: "topic option with a device address", address: tok(1), opts: fcm.Options{Topic: "news"}, field: "Options.fcm.topic"},
		{name: "topic option disagreeing", address: "/topics/sport", opts: fcm.Options{Topic: "news"}, field: "Options.fcm.topic"},
		{name: "topic and condition", address: "/topics/news", opts: fcm.Options{Topic: "news", Condition: "x"}, field: "Options.fcm.topic"},
		{name: "condition option with a device address", address: tok(1), opts: fcm.Options{Condition: "'a' in topics"}, field: "Options.fcm.condition"},
		{name: "unknown option", address: tok(1), opts: map[string]any{"android_ttll": 1}, field: "Options.fcm"},
		{name: "android priority", address: tok(1), opts: fcm.Options{AndroidPriority: "urgent"}, field: "Options.fcm.android_priority"},
		{name: "negative ttl", address: tok(1), opts: fcm.Options{AndroidTTL: -time.Second}, field: "Options.fcm.android_ttl"},
		{name: "bad color (SDK check)", address: tok(1), opts: fcm.Options{AndroidColor: "red"}, field: "Options.fcm"},
		{name: "bad image URL (SDK check)", address: tok(1), opts: fcm.Options{ImageURL: "not a url"}, field: "Options.fcm"},
		{name: "reserved data key", address: tok(1), msg: &notify.Message{Body: "b", Data: map[string]string{"from": "x"}}, field: "Content"},
		{name: "google. data key", address: tok(1), msg: &notify.Message{Body: "b", Data: map[string]string{"google.x": "x"}}, field: "Content"},
		{name: "payload at the limit", address: tok(1), msg: &notify.Message{Body: big}},
		{name: "payload over the limit", address: tok(1), msg: &notify.Message{Body: big, Data: map[string]string{"k": "v"}}, field: "Content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := delivery(t, tc.address, tc.opts)
			if tc.msg != nil {
				d.Message = *tc.msg
			}
			err := ch.Validate(d)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field, "reason: %s", ve.Reason)
			_, serr := ch.Send(context.Background(), d)
			assert.Equal(t, notify.OutcomePermanent, notify.Classify(serr).Outcome, "%v", serr)
		})
	}
}

func TestNewWithServiceAccountJSON(t *testing.T) {
	_, err := fcm.New(context.Background(), fcm.Config{ProjectID: project, CredentialsJSON: []byte(`{"type":"service_account","project_id":"p","client_email":"a@b.c","private_key":"SECRET-MARKER"}`)})
	// firebase.NewApp accepts the JSON lazily; either New or the first
	// Send reports it. What matters: the JSON never shows in the error.
	if err != nil {
		assert.NotContains(t, err.Error(), "SECRET-MARKER")
	}
	ch, err := fcm.New(context.Background(), fcm.Config{ProjectID: project, TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})})
	require.NoError(t, err)
	assert.Equal(t, "fcm", ch.Name())
}
