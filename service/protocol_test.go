// SPDX-License-Identifier: Apache-2.0

package service

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/hooksupd/hooksupd/executor"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		line    string
		wantErr string // substring; "" = valid
		wantID  string
		wantNS  []string
		payload string
	}{
		{`{"id":1,"op":"ping"}`, "", "1", nil, ""},
		{`{"id":"x","op":"fire","event":"pre_store"}`, "", `"x"`, nil, ""},
		{`{"id":2,"op":"fire","event":"e","namespace":"team/a","payload":{"a":1}}`, "", "2", []string{"team/a"}, `{"a":1}`},
		{`{"id":3,"op":"fire","event":"e","namespace":["a","b"],"payload":null}`, "", "3", []string{"a", "b"}, ""},
		{`{"id":4,"op":"fire","event":"e","namespace":null,"trace":true}`, "", "4", nil, ""},
		{`{"id":null,"op":"ping"}`, "", "null", nil, ""},
		{`{"id":5,"op":"fire","event":"e","namespace":[1]}`, "namespace", "5", nil, ""},
		{`{"id":6,"op":"fire","event":"e","namespace":{}}`, "namespace", "6", nil, ""},
		{`{"id":7,"op":"fire"}`, `missing "event"`, "7", nil, ""},
		{`{"id":8}`, `missing "op"`, "8", nil, ""},
		{`{"op":"ping"}`, `missing "id"`, "", nil, ""},
		{`{"id":9,"op":"PING"}`, "unknown op", "9", nil, ""},
		{`{"id":10,"op":"ping","extra":1}`, `unknown field "extra"`, "10", nil, ""},
		{`{"id":11,"op":"fire","event":5}`, `"event" must not be number`, "11", nil, ""},
		{`{"id":12,"op":"ping"}x`, "trailing data", "12", nil, ""},
		{`{"id":13,`, "invalid JSON", "13", nil, ""},
		{`{`, "invalid JSON", "", nil, ""},
		{`"str"`, "must be a JSON object", "", nil, ""},
		{`{"op":"ping","id":[1,`, "invalid JSON", "", nil, ""},
	}
	for _, tc := range cases {
		req, id, perr := parseRequest([]byte(tc.line))
		if string(id) != tc.wantID {
			t.Errorf("%s: id %q, want %q", tc.line, id, tc.wantID)
		}
		if tc.wantErr != "" {
			if perr == nil || perr.Code != CodeBadRequest || !strings.Contains(perr.Message, tc.wantErr) {
				t.Errorf("%s: error %v, want bad_request containing %q", tc.line, perr, tc.wantErr)
			}
			continue
		}
		if perr != nil {
			t.Errorf("%s: %v", tc.line, perr)
			continue
		}
		if !reflect.DeepEqual(req.namespaces, tc.wantNS) {
			t.Errorf("%s: namespaces %q, want %q", tc.line, req.namespaces, tc.wantNS)
		}
		if string(req.Payload) != tc.payload {
			t.Errorf("%s: payload %q, want %q", tc.line, req.Payload, tc.payload)
		}
	}
}

func TestEncodeReply(t *testing.T) {
	id := json.RawMessage(`{"k" : "<&>\u00e9"}`)
	res := &executor.Result{Decision: executor.ActionDeny, Reason: "a <b> & c", Code: 451}
	got := string(encodeFire(id, res, false))
	want := `{"id":{"k" : "<&>\u00e9"},"decision":"deny","reason":"a <b> & c","code":451}` + "\n"
	if got != want {
		t.Errorf("fire reply\n got %s\nwant %s", got, want)
	}
	got = string(encodeError(nil, &Error{Code: CodeTooLarge, Message: "m"}))
	if got != `{"id":null,"error":{"code":"too_large","message":"m"}}`+"\n" {
		t.Errorf("error reply %s", got)
	}
	if got := string(encodeReply(json.RawMessage("7"), struct{}{})); got != `{"id":7}`+"\n" {
		t.Errorf("empty body %s", got)
	}
	// A fire reply is exactly what `hooksupd fire` prints, plus the id.
	res = &executor.Result{Decision: executor.ActionAllow, Hooks: []executor.Trace{{Hook: "h", Decision: "allow", Duration: 1500 * time.Microsecond, Ran: true}}}
	wire, _ := json.Marshal(NewFireReply(res, true))
	if got := string(encodeFire(json.RawMessage(`"x"`), res, true)); got != `{"id":"x",`+string(wire[1:])+"\n" {
		t.Errorf("traced reply %s vs fire's %s", got, wire)
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", 3000)
	input := "one\r\n" + `{"id":1,"x":"` + long + "\"}\n" + "two\n\n" + strings.Repeat("b", 100) + "\nlast"
	for _, r := range []io.Reader{strings.NewReader(input), iotest.OneByteReader(strings.NewReader(input))} {
		lr := newLineReader(r, 100)
		var got []string
		for {
			line, err := lr.next()
			if errors.Is(err, errLineTooLong) {
				got = append(got, "TOO LONG id="+string(salvageID(line)))
				continue
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(line))
		}
		want := []string{"one", "TOO LONG id=1", "two", "", strings.Repeat("b", 100), "last"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("lines %q, want %q", got, want)
		}
	}
}

// The reply queue blocks pushers while the unread bytes (queued, or taken
// and not yet written) pass the bound, hands everything to the taker at
// once, and releases everyone on abort.
func TestReplyQueue(t *testing.T) {
	q := newReplyQueue(10)
	if !q.push([]byte("0123456789ABC")) { // larger than the bound, into an empty queue
		t.Fatal("push into an empty queue")
	}
	pushed := make(chan bool)
	go func() { pushed <- q.push([]byte("x")) }()
	select {
	case <-pushed:
		t.Fatal("push into a full queue did not block")
	case <-time.After(50 * time.Millisecond):
	}
	b, ok := q.take()
	if !ok || len(b) != 1 || string(b[0]) != "0123456789ABC" {
		t.Fatalf("take: %q %v", b, ok)
	}
	select {
	case <-pushed:
		t.Fatal("push went on while the taken reply was still unwritten")
	case <-time.After(50 * time.Millisecond):
	}
	q.written(len(b[0]))
	if !<-pushed {
		t.Fatal("blocked push failed after the queue emptied")
	}
	go func() { pushed <- q.push([]byte("0123456789")) }()
	time.Sleep(20 * time.Millisecond)
	q.abort()
	if <-pushed {
		t.Error("push succeeded after abort")
	}
	if _, ok := q.take(); ok {
		t.Error("take succeeded after abort")
	}

	q = newReplyQueue(10)
	q.push([]byte("a"))
	q.close()
	if b, ok := q.take(); !ok || string(b[0]) != "a" {
		t.Errorf("close must let the taker drain: %q %v", b, ok)
	}
	if _, ok := q.take(); ok {
		t.Error("take after drain of a closed queue")
	}
	if q.push([]byte("b")) {
		t.Error("push after close")
	}
}

// The protocol is strict where encoding/json is lenient: duplicate names
// (at any depth), keys in another case and invalid UTF-8 are bad_request;
// the id's bytes come back as sent.
func TestParseRequestStrict(t *testing.T) {
	for _, line := range []string{
		`{"id":1,"op":"ping","op":"reload"}`,
		`{"id":2,"op":"fire","event":"no_such","event":"x"}`,
		`{"id":3,"op":"fire","event":"x","payload":{"a":1,"a":2}}`,
		`{"ID":4,"op":"ping"}`,
		`{"id":5,"OP":"ping"}`,
		`{"id":6,"op":"fire","EVENT":"x"}`,
		`{"id":7,"op":"fire","event":"x","Trace":true}`,
		"{\"id\":\"\xff\xfe\",\"op\":\"ping\"}",
	} {
		_, id, perr := parseRequest([]byte(line))
		if perr == nil || perr.Code != CodeBadRequest {
			t.Errorf("%q: %v, want bad_request", line, perr)
		} else if b := encodeError(id, perr); !json.Valid(b) || !utf8.Valid(b) {
			t.Errorf("%q: the error reply is not valid JSON: %q", line, b)
		}
	}
	for _, id := range []string{`7`, `1e0`, `"x y"`, `[1,2]`, `-0.50`} {
		req, _, perr := parseRequest([]byte(`{"id": ` + id + ` ,"op":"ping"}`))
		if perr != nil || string(req.ID) != id {
			t.Errorf("id %s: %v %q", id, perr, req.ID)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"id":1,"op":"ping"}`, `{"id":1,"op":"ping","op":"x"}`, `{"id":"\u00ff","op":"fire","event":"e","payload":{"a":[1,{"b":2}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, id, perr := parseRequest(line)
		if perr == nil && req == nil {
			t.Fatal("no request and no error")
		}
		if perr != nil {
			// Whatever the line, the error reply is valid JSON.
			if b := encodeError(id, perr); !json.Valid(b) {
				t.Fatalf("error reply is not JSON: %q", b)
			}
		}
	})
}
