// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func strp(s string) *string { return &s }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestParseDecisionRules walks docs/seed-compatibility.md rule by rule, in order.
func TestParseDecisionRules(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Decision
		kind DecodeKind // "" = no error
		msg  string     // substring of the error message
	}{
		// 1. trim; "" or "{}" is allow.
		{name: "empty", line: "", want: allowDecision},
		{name: "blank", line: " \t\r\n", want: allowDecision},
		{name: "literal {}", line: "{}", want: allowDecision},
		{name: "padded {}", line: "  {}  \n", want: allowDecision},
		// 2. syntax error or trailing junk: malformed.
		{name: "syntax error", line: `{"action":`, kind: DecodeMalformed},
		{name: "not json", line: `allow`, kind: DecodeMalformed},
		{name: "trailing junk", line: `{"action":"allow"} x`, kind: DecodeMalformed},
		{name: "two objects", line: `{"action":"allow"}{"action":"deny"}`, kind: DecodeMalformed},
		{name: "single quotes", line: `{'action':'allow'}`, kind: DecodeMalformed},
		// 3. not an object.
		{name: "array", line: `[{"action":"allow"}]`, kind: DecodeNotAnObject, msg: "hook decision must be a JSON object"},
		{name: "string", line: `"allow"`, kind: DecodeNotAnObject, msg: "hook decision must be a JSON object"},
		{name: "number", line: `42`, kind: DecodeNotAnObject},
		{name: "null", line: `null`, kind: DecodeNotAnObject},
		{name: "bool", line: `true`, kind: DecodeNotAnObject},
		// 4. an empty object after parsing is allow.
		{name: "spaced empty object", line: `{ }`, want: allowDecision},
		{name: "newline empty object", line: "{\n}", want: allowDecision},
		// 5. missing action; non-string action.
		{name: "missing action", line: `{"reason":"x"}`, kind: DecodeMissingAction, msg: `missing "action"`},
		{name: "action number", line: `{"action":1}`, kind: DecodeMalformed, msg: `"action" must be a string`},
		{name: "action null", line: `{"action":null}`, kind: DecodeMalformed, msg: `"action" must be a string`},
		{name: "action object", line: `{"action":{"x":1}}`, kind: DecodeMalformed, msg: `"action" must be a string`},
		// 6. case-sensitive action match.
		{name: "unknown action", line: `{"action":"a"}`, kind: DecodeUnknownAction, msg: `hook decision has unknown action "a"`},
		{name: "uppercase", line: `{"action":"Allow"}`, kind: DecodeUnknownAction, msg: `unknown action "Allow"`},
		{name: "camel ask", line: `{"action":"askUser"}`, kind: DecodeUnknownAction},
		{name: "empty action", line: `{"action":""}`, kind: DecodeUnknownAction},
		// allow ignores extra keys.
		{name: "allow", line: `{"action":"allow"}`, want: allowDecision},
		{name: "allow extra keys", line: `{"action":"allow","reason":5,"delta":[]}`, want: allowDecision},
		// 7. missing required fields, with the seed's message.
		{name: "deny no reason", line: `{"action":"deny"}`, kind: DecodeMissingField,
			msg: `hook decision action="deny" missing required field "reason"`},
		{name: "modify no delta", line: `{"action":"modify"}`, kind: DecodeMissingField,
			msg: `hook decision action="modify" missing required field "delta"`},
		{name: "ask no prompt", line: `{"action":"ask_user","options":[]}`, kind: DecodeMissingField,
			msg: `action="ask_user" missing required field "prompt"`},
		{name: "ask no options", line: `{"action":"ask_user","prompt":"p"}`, kind: DecodeMissingField,
			msg: `action="ask_user" missing required field "options"`},
		// wrong types of required fields are malformed.
		{name: "deny reason number", line: `{"action":"deny","reason":5}`, kind: DecodeMalformed, msg: `"reason" must be a string`},
		{name: "deny reason null", line: `{"action":"deny","reason":null}`, kind: DecodeMalformed},
		{name: "ask prompt array", line: `{"action":"ask_user","prompt":[],"options":[]}`, kind: DecodeMalformed},
		{name: "options not array", line: `{"action":"ask_user","prompt":"p","options":"yes"}`, kind: DecodeMalformed,
			msg: `"options" must be an array of strings`},
		{name: "options with number", line: `{"action":"ask_user","prompt":"p","options":["a",1]}`, kind: DecodeMalformed},
		{name: "options null", line: `{"action":"ask_user","prompt":"p","options":null}`, kind: DecodeMalformed},
		{name: "delta not object", line: `{"action":"modify","delta":[1]}`, kind: DecodeMalformed, msg: `"delta" must be a JSON object`},
		{name: "delta null", line: `{"action":"modify","delta":null}`, kind: DecodeMalformed},
		// deny code: default 403 when missing, non-integer or outside int32.
		{name: "deny", line: `{"action":"deny","reason":"no","code":451}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 451}},
		{name: "deny default code", line: `{"action":"deny","reason":"no"}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code float", line: `{"action":"deny","reason":"no","code":451.0}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code exponent", line: `{"action":"deny","reason":"no","code":4e2}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code string", line: `{"action":"deny","reason":"no","code":"451"}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code null", line: `{"action":"deny","reason":"no","code":null}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code over i32", line: `{"action":"deny","reason":"no","code":2147483648}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code i32 max", line: `{"action":"deny","reason":"no","code":2147483647}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 2147483647}},
		{name: "deny code under i32", line: `{"action":"deny","reason":"no","code":-2147483649}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny code negative", line: `{"action":"deny","reason":"no","code":-1}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: -1}},
		{name: "deny code huge", line: `{"action":"deny","reason":"no","code":99999999999999999999999}`,
			want: Decision{Action: ActionDeny, Reason: "no", Code: 403}},
		{name: "deny empty reason", line: `{"action":"deny","reason":""}`,
			want: Decision{Action: ActionDeny, Reason: "", Code: 403}},
		// ask_user default: missing/null is nil, else a string.
		{name: "ask", line: `{"action":"ask_user","prompt":"ok?","options":["yes","no"],"default":"no"}`,
			want: Decision{Action: ActionAskUser, Prompt: "ok?", Options: []string{"yes", "no"}, Default: strp("no")}},
		{name: "ask no default", line: `{"action":"ask_user","prompt":"ok?","options":["yes"]}`,
			want: Decision{Action: ActionAskUser, Prompt: "ok?", Options: []string{"yes"}}},
		{name: "ask null default", line: `{"action":"ask_user","prompt":"ok?","options":[],"default":null}`,
			want: Decision{Action: ActionAskUser, Prompt: "ok?", Options: []string{}}},
		{name: "ask default number", line: `{"action":"ask_user","prompt":"ok?","options":[],"default":1}`,
			kind: DecodeMalformed, msg: `"default" must be a string or null`},
		// whitespace around a real decision is trimmed.
		{name: "padded deny", line: "\t {\"action\":\"deny\",\"reason\":\"r\"} \r\n",
			want: Decision{Action: ActionDeny, Reason: "r", Code: 403}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDecision([]byte(tt.line), true)
			if tt.kind != "" {
				if err == nil {
					t.Fatalf("ParseDecision(%q) = %+v, want %s error", tt.line, got, tt.kind)
				}
				checkDecodeErr(t, err, tt.kind)
				if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not contain %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDecision(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDecision(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func checkDecodeErr(t *testing.T, err error, kind DecodeKind) {
	t.Helper()
	if !errors.Is(err, ErrDecode) {
		t.Errorf("error %v does not wrap ErrDecode", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
	if de.Kind != kind {
		t.Errorf("kind = %s, want %s (%v)", de.Kind, kind, err)
	}
	if KindOf(err).String() != "decode" {
		t.Errorf("ErrorKind = %q, want decode", KindOf(err).String())
	}
	if !strings.HasPrefix(err.Error(), "hook decision decode failed: ") {
		t.Errorf("message %q lacks the decode prefix", err)
	}
}

func TestParseDecisionMemoryDelta(t *testing.T) {
	ok := []struct {
		name, delta string
		want        map[string]json.RawMessage
	}{
		{"all fields", `{"tier":"long","namespace":"a/b","title":"t","content":"c","tags":["x","y"],` +
			`"priority":7,"confidence":0.5,"source":"s","expires_at":"2030-01-01T00:00:00Z","metadata":{"k":[1, 2]}}`,
			map[string]json.RawMessage{"tier": raw(`"long"`), "namespace": raw(`"a/b"`), "title": raw(`"t"`),
				"content": raw(`"c"`), "tags": raw(`["x","y"]`), "priority": raw(`7`), "confidence": raw(`0.5`),
				"source": raw(`"s"`), "expires_at": raw(`"2030-01-01T00:00:00Z"`), "metadata": raw(`{"k":[1,2]}`)}},
		{"unknown keys dropped", `{"content":"c","evil":"x","Content":"y"}`,
			map[string]json.RawMessage{"content": raw(`"c"`)}},
		{"null is absent", `{"title":null,"tags":null,"metadata":null,"content":"c"}`,
			map[string]json.RawMessage{"content": raw(`"c"`)}},
		{"integer confidence", `{"confidence":1}`, map[string]json.RawMessage{"confidence": raw(`1`)}},
		{"empty delta", `{}`, map[string]json.RawMessage{}},
		{"metadata scalar", `{"metadata":"x"}`, map[string]json.RawMessage{"metadata": raw(`"x"`)}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDecision([]byte(`{"action":"modify","delta":`+tt.delta+`}`), true)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != ActionModify || !reflect.DeepEqual(d.Delta, tt.want) {
				t.Errorf("got %+v, want delta %s", d, tt.want)
			}
		})
	}
	bad := []string{
		`{"tier":"huge"}`, `{"tier":"Long"}`, `{"tier":1}`,
		`{"namespace":1}`, `{"title":true}`, `{"content":[]}`, `{"source":{}}`, `{"expires_at":5}`,
		`{"tags":"x"}`, `{"tags":[1]}`, `{"tags":[null]}`,
		`{"priority":1.5}`, `{"priority":"1"}`, `{"priority":2147483648}`, `{"priority":1e2}`,
		`{"confidence":"0.5"}`, `{"confidence":true}`, `{"confidence":1e999}`,
	}
	for _, delta := range bad {
		t.Run("bad "+delta, func(t *testing.T) {
			_, err := ParseDecision([]byte(`{"action":"modify","delta":`+delta+`}`), true)
			if err == nil {
				t.Fatalf("delta %s accepted", delta)
			}
			checkDecodeErr(t, err, DecodeMalformed)
		})
	}
}

func TestParseDecisionCustomDelta(t *testing.T) {
	d, err := ParseDecision([]byte(`{"action":"modify","delta":{"route":"/v2", "weight": 3,"tier":"huge","x":null}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"route": raw(`"/v2"`), "weight": raw(`3`), "tier": raw(`"huge"`), "x": raw(`null`)}
	if !reflect.DeepEqual(d.Delta, want) {
		t.Errorf("delta = %s, want %s", d.Delta, want)
	}
	if _, err := ParseDecision([]byte(`{"action":"modify","delta":"x"}`), false); !errors.Is(err, ErrDecode) {
		t.Errorf("non-object custom delta: err = %v", err)
	}
}

func TestParseDecisionTooLong(t *testing.T) {
	pad := strings.Repeat(" ", MaxDecisionLine-len(`{"action":"allow"}`))
	if _, err := ParseDecision([]byte(`{"action":"allow"}`+pad), true); err != nil {
		t.Fatalf("line of exactly MaxDecisionLine: %v", err)
	}
	_, err := ParseDecision([]byte(`{"action":"allow"}`+pad+" "), true)
	if err == nil {
		t.Fatal("line over MaxDecisionLine accepted")
	}
	checkDecodeErr(t, err, DecodeTooLong)
}

// TestParseDecisionEchoBounded: a hook cannot push an unbounded string into
// an error message (which can become a Deny reason).
func TestParseDecisionEchoBounded(t *testing.T) {
	_, err := ParseDecision([]byte(`{"action":"`+strings.Repeat("x", 10000)+`"}`), true)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("err = %.300v (len %d)", err, len(err.Error()))
	}
}

// encodeDecision is the inverse of ParseDecision, for the fuzz round trip.
func encodeDecision(d Decision) []byte {
	m := map[string]any{"action": d.Action}
	switch d.Action {
	case ActionDeny:
		m["reason"], m["code"] = d.Reason, d.Code
	case ActionModify:
		m["delta"] = d.Delta
	case ActionAskUser:
		m["prompt"], m["options"], m["default"] = d.Prompt, d.Options, d.Default
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzParseDecision(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{ }`, `null`, `[]`, `"x"`, `{"action":"allow"}`, `{"action":1}`, `{"action":"Allow"}`,
		`{"action":"deny","reason":"r","code":451}`, `{"action":"deny","reason":"r","code":1e3}`,
		`{"action":"deny","reason":"r","code":-2147483649}`, `{"action":"deny"}`,
		`{"action":"modify","delta":{"content":"c","tags":["a"],"priority":3,"confidence":0.1,"zz":1}}`,
		`{"action":"modify","delta":{"tier":"mid","metadata":{"a":[1,{"b":null}]}}}`,
		`{"action":"modify","delta":[]}`, `{"action":"modify"}`,
		`{"action":"ask_user","prompt":"p","options":["y","n"],"default":"n"}`,
		`{"action":"ask_user","prompt":"p","options":["y"],"default":null}`,
		`{"action":"ask_user","prompt":"p","options":[1]}`,
		`{"action":"allow"} trailing`, "{\"action\":\"allow\"}\r\n", `{"action":"\u0061llow"}`,
		`{"action":"allow","action":"deny","reason":"dup"}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, line []byte, memoryDelta bool) {
		d, err := ParseDecision(line, memoryDelta)
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, ErrDecode) || !errors.As(err, &de) || de.Kind == "" {
				t.Fatalf("error %v is not a typed decode error", err)
			}
			return
		}
		switch d.Action {
		case ActionAllow, ActionDeny, ActionAskUser:
		case ActionModify:
			if d.Delta == nil {
				t.Fatal("modify without delta map")
			}
			for k, v := range d.Delta {
				if memoryDelta {
					if _, known := memoryDeltaFields[k]; !known || isNull(v) {
						t.Fatalf("memory delta kept %q=%s", k, v)
					}
				}
				if !json.Valid(v) || strings.ContainsAny(string(v), "\n\r") {
					t.Fatalf("delta value %q not compact JSON", v)
				}
			}
		default:
			t.Fatalf("action %q", d.Action)
		}
		again, err := ParseDecision(encodeDecision(d), memoryDelta)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", encodeDecision(d), err)
		}
		if again.Action == ActionAskUser && again.Options == nil {
			again.Options = []string{}
		}
		if d.Action == ActionAskUser && d.Options == nil {
			d.Options = []string{}
		}
		if !reflect.DeepEqual(normDelta(d), normDelta(again)) {
			t.Fatalf("round trip: %+v != %+v", d, again)
		}
	})
}

// normDelta re-compacts delta values so the round trip compares meaning,
// not encoding (json.Marshal escapes HTML characters).
func normDelta(d Decision) Decision {
	if d.Delta == nil {
		return d
	}
	out := make(map[string]json.RawMessage, len(d.Delta))
	for k, v := range d.Delta {
		var x any
		_ = json.Unmarshal(v, &x)
		b, _ := json.Marshal(x)
		out[k] = b
	}
	d.Delta = out
	return d
}
