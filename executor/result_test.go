package executor

import (
	"encoding/json"
	"testing"
	"time"
)

func TestResultWireGolden(t *testing.T) {
	trace := []Trace{
		{Hook: "audit", Decision: "allow", Duration: 1234567 * time.Nanosecond, Ran: true},
		{Hook: "spawnfail", Decision: "error", Duration: 40 * time.Microsecond, Error: "spawn"},
		{Hook: "late", Decision: "skipped", Error: "deadline_exhausted"},
	}
	tests := []struct {
		name  string
		res   Result
		trace bool
		want  string
		exit  int
	}{
		{"allow", Result{Decision: ActionAllow, Hooks: trace}, false, `{"decision":"allow"}`, 0},
		{"allow traced", Result{Decision: ActionAllow, Hooks: trace}, true,
			`{"decision":"allow","hooks":[` +
				`{"name":"audit","decision":"allow","ms":1.235,"ran":true},` +
				`{"name":"spawnfail","decision":"error","ms":0.04,"error":"spawn","ran":false},` +
				`{"name":"late","decision":"skipped","ms":0,"error":"deadline_exhausted","ran":false}]}`, 0},
		{"modify", Result{Decision: ActionModify,
			Delta:   map[string]json.RawMessage{"title": raw(`"T"`), "content": raw(`"<b>"`)},
			Payload: raw(`{"content":"<b>","title":"T","namespace":"a"}`)}, false,
			`{"decision":"modify","delta":{"content":"\u003cb\u003e","title":"T"},"payload":{"content":"\u003cb\u003e","title":"T","namespace":"a"}}`, 0},
		{"deny", Result{Decision: ActionDeny, Reason: "policy says no", Code: 403}, false,
			`{"decision":"deny","reason":"policy says no","code":403}`, 3},
		{"deny 504", Result{Decision: ActionDeny, Reason: "hook late skipped under fail_mode=closed: chain class deadline exhausted", Code: 504}, false,
			`{"decision":"deny","reason":"hook late skipped under fail_mode=closed: chain class deadline exhausted","code":504}`, 3},
		{"ask_user", Result{Decision: ActionAskUser, Prompts: []Prompt{
			{Prompt: "Store it?", Options: []string{"yes", "no"}, Default: strp("no"), Hook: "confirm"},
			{Prompt: "Sure?", Hook: "again"}}}, false,
			`{"decision":"ask_user","prompts":[` +
				`{"prompt":"Store it?","options":["yes","no"],"default":"no","hook":"confirm"},` +
				`{"prompt":"Sure?","options":[],"default":null,"hook":"again"}]}`, 4},
		{"ask_user after modify", Result{Decision: ActionAskUser,
			Delta:   map[string]json.RawMessage{"title": raw(`"T"`)},
			Payload: raw(`{"title":"T"}`),
			Prompts: []Prompt{{Prompt: "ok?", Options: []string{"y"}, Hook: "h"}}}, false,
			`{"decision":"ask_user","delta":{"title":"T"},"payload":{"title":"T"},"prompts":[{"prompt":"ok?","options":["y"],"default":null,"hook":"h"}]}`, 4},
		// Stray fields of other decisions never leak onto the wire.
		{"allow ignores stray fields", Result{Decision: ActionAllow, Reason: "x", Code: 500,
			Delta: map[string]json.RawMessage{"a": raw(`1`)}, Prompts: []Prompt{{Prompt: "p"}}}, false, `{"decision":"allow"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.res.Wire(tt.trace))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("wire JSON\n got %s\nwant %s", b, tt.want)
			}
			if got := tt.res.ExitCode(); got != tt.exit {
				t.Errorf("ExitCode = %d, want %d", got, tt.exit)
			}
			var back WireResult
			if err := json.Unmarshal(b, &back); err != nil || back.Decision != tt.res.Decision {
				t.Errorf("wire JSON does not decode back: %v %+v", err, back)
			}
		})
	}
}
