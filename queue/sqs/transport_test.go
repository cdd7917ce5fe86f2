package sqs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// transport is HTTP middleware between the SQS client and the server: it
// counts requests per SQS operation and can fail batch entries the way SQS
// does (the call succeeds, the entry is listed under Failed).
type transport struct {
	next http.RoundTripper

	mu     sync.Mutex
	counts map[string]int // by operation ("SendMessageBatch")
	// failFirst, when set for an operation, fails the first attempt of every
	// entry it returns true for (by the entry's MessageBody or ReceiptHandle).
	failFirst map[string]func(key string) bool
	seen      map[string]bool
	failed    map[string]int // injected entry failures by operation
}

func newTransport() *transport {
	return &transport{next: baseTransport, counts: map[string]int{},
		failFirst: map[string]func(string) bool{}, seen: map[string]bool{}, failed: map[string]int{}}
}

// op returns the SQS operation of r (AWS JSON protocol: X-Amz-Target
// "AmazonSQS.SendMessageBatch").
func op(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndexByte(t, '.')+1:]
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	name := op(r)
	tr.mu.Lock()
	tr.counts[name]++
	fail := tr.failFirst[name]
	tr.mu.Unlock()
	if fail == nil {
		return tr.next.RoundTrip(r)
	}
	return tr.faulty(r, name, fail)
}

// total returns how many requests were made for the operations named, or
// for all when none is named.
func (tr *transport) total(ops ...string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for o, c := range tr.counts {
		if len(ops) == 0 {
			n += c
		}
		for _, want := range ops {
			if o == want {
				n += c
			}
		}
	}
	return n
}

func (tr *transport) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	clear(tr.counts)
}

func (tr *transport) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return fmt.Sprint(tr.counts)
}

type batchEntry = map[string]any

// faulty forwards a batch request without the entries it fails this time,
// then adds them to the reply's Failed list.
func (tr *transport) faulty(r *http.Request, name string, fail func(string) bool) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	entries, _ := req["Entries"].([]any)
	var pass []any
	var failed []batchEntry
	tr.mu.Lock()
	for _, e := range entries {
		m := e.(batchEntry)
		key, _ := m["MessageBody"].(string)
		if key == "" {
			key, _ = m["ReceiptHandle"].(string)
		}
		if !tr.seen[name+key] && fail(key) {
			tr.seen[name+key] = true
			tr.failed[name]++
			failed = append(failed, batchEntry{"Id": m["Id"], "SenderFault": false, "Code": "InternalError", "Message": "injected failure"})
			continue
		}
		tr.seen[name+key] = true
		pass = append(pass, e)
	}
	tr.mu.Unlock()

	reply := map[string]any{"Successful": []any{}, "Failed": []any{}}
	if len(pass) > 0 {
		req["Entries"] = pass
		nb, _ := json.Marshal(req)
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(nb))
		r2.ContentLength = int64(len(nb))
		r2.Header.Set("Content-Length", strconv.Itoa(len(nb)))
		resp, err := tr.next.RoundTrip(r2)
		if err != nil {
			return nil, err
		}
		rb, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body = io.NopCloser(bytes.NewReader(rb))
			return resp, nil
		}
		if err := json.Unmarshal(rb, &reply); err != nil {
			return nil, err
		}
		if reply["Failed"] == nil {
			reply["Failed"] = []any{}
		}
	}
	for _, f := range failed {
		reply["Failed"] = append(reply["Failed"].([]any), f)
	}
	out, _ := json.Marshal(reply)
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "Content-Length": {strconv.Itoa(len(out))}},
		Body:          io.NopCloser(bytes.NewReader(out)),
		ContentLength: int64(len(out)),
		Request:       r,
	}, nil
}
