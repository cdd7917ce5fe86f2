package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gonotify/notify/channel/sms"
)

// Credentials the local Twilio imitation accepts.
const (
	localAccountSID = "AC00000000000000000000000000000000"
	localAuthToken  = "localtoken"
)

// localTwilio is a small imitation of Twilio's Messages API (POST
// /2010-04-01/Accounts/{sid}/Messages.json, form fields, basic auth, JSON
// answers) for running the example without a Twilio account. Numbers on
// its stop list answer 21610, as Twilio does after the recipient texted STOP.
type localTwilio struct {
	URL string
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	stopped map[string]bool
	sent    []localSMS
}

// localSMS is one message the imitation accepted.
type localSMS struct {
	SID, From, To, Body string
	Segments            int
}

func newLocalTwilio() (*localTwilio, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the local Twilio imitation: %w", err)
	}
	t := &localTwilio{URL: "http://" + ln.Addr().String(), ln: ln, stopped: map[string]bool{}}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve)}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// Close stops the server.
func (t *localTwilio) Close() error { return t.srv.Close() }

// stop puts number on the stop list.
func (t *localTwilio) stop(number string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped[number] = true
}

// messages returns what was accepted, oldest first.
func (t *localTwilio) messages() []localSMS {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]localSMS(nil), t.sent...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func twilioErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code)})
}

func (t *localTwilio) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+localAccountSID+"/Messages.json" {
		twilioErr(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != localAccountSID || p != localAuthToken {
		twilioErr(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioErr(w, http.StatusBadRequest, 21602, "unreadable form: "+err.Error())
		return
	}
	to, body := r.PostForm.Get("To"), r.PostForm.Get("Body")
	switch {
	case !sms.ValidPhone(to):
		twilioErr(w, http.StatusBadRequest, 21211, "Invalid 'To' Phone Number: "+to)
		return
	case body == "":
		twilioErr(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	t.mu.Lock()
	if t.stopped[to] {
		t.mu.Unlock()
		twilioErr(w, http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	segs, _ := sms.Segments(body)
	m := localSMS{SID: "SM" + hex.EncodeToString(b[:]), From: r.PostForm.Get("From"), To: to, Body: body, Segments: segs}
	t.sent = append(t.sent, m)
	t.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": m.SID, "account_sid": localAccountSID, "from": m.From, "to": to, "body": body,
		"status": "queued", "num_segments": strconv.Itoa(segs), "direction": "outbound-api",
	})
}
