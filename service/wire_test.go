// SPDX-License-Identifier: Apache-2.0

package service

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/executor"
)

func TestFireReplyGolden(t *testing.T) {
	trace := []executor.Trace{
		{Hook: "audit", Decision: "allow", Duration: 1234567 * time.Nanosecond, Ran: true},
		{Hook: "spawnfail", Decision: "error", Duration: 40 * time.Microsecond, Error: "spawn"},
		{Hook: "late", Decision: "skipped", Error: "deadline_exhausted"},
	}
	tests := []struct {
		name  string
		res   executor.Result
		trace bool
		want  string
	}{
		{"allow", executor.Result{Decision: executor.ActionAllow, Hooks: trace}, false, `{"decision":"allow"}`},
		{"allow traced", executor.Result{Decision: executor.ActionAllow, Hooks: trace}, true,
			`{"decision":"allow","hooks":[` +
				`{"name":"audit","decision":"allow","ms":1.235,"ran":true},` +
				`{"name":"spawnfail","decision":"error","ms":0.04,"error":"spawn","ran":false},` +
				`{"name":"late","decision":"skipped","ms":0,"error":"deadline_exhausted","ran":false}]}`},
		{"modify", executor.Result{Decision: executor.ActionModify,
			Delta:   map[string]json.RawMessage{"title": raw(`"T"`), "content": raw(`"<b>"`)},
			Payload: raw(`{"content":"<b>","title":"T","namespace":"a"}`)}, false,
			`{"decision":"modify","delta":{"content":"\u003cb\u003e","title":"T"},"payload":{"content":"\u003cb\u003e","title":"T","namespace":"a"}}`},
		{"deny", executor.Result{Decision: executor.ActionDeny, Reason: "policy says no", Code: 403}, false,
			`{"decision":"deny","reason":"policy says no","code":403}`},
		{"deny 504", executor.Result{Decision: executor.ActionDeny, Reason: "hook late skipped under fail_mode=closed: chain class deadline exhausted", Code: 504}, false,
			`{"decision":"deny","reason":"hook late skipped under fail_mode=closed: chain class deadline exhausted","code":504}`},
		{"ask_user", executor.Result{Decision: executor.ActionAskUser, Prompts: []executor.Prompt{
			{Prompt: "Store it?", Options: []string{"yes", "no"}, Default: strp("no"), Hook: "confirm"},
			{Prompt: "Sure?", Hook: "again"}}}, false,
			`{"decision":"ask_user","prompts":[` +
				`{"prompt":"Store it?","options":["yes","no"],"default":"no","hook":"confirm"},` +
				`{"prompt":"Sure?","options":[],"default":null,"hook":"again"}]}`},
		{"ask_user after modify", executor.Result{Decision: executor.ActionAskUser,
			Delta:   map[string]json.RawMessage{"title": raw(`"T"`)},
			Payload: raw(`{"title":"T"}`),
			Prompts: []executor.Prompt{{Prompt: "ok?", Options: []string{"y"}, Hook: "h"}}}, false,
			`{"decision":"ask_user","delta":{"title":"T"},"payload":{"title":"T"},"prompts":[{"prompt":"ok?","options":["y"],"default":null,"hook":"h"}]}`},
		// Stray fields of other decisions never leak onto the wire.
		{"allow ignores stray fields", executor.Result{Decision: executor.ActionAllow, Reason: "x", Code: 500,
			Delta: map[string]json.RawMessage{"a": raw(`1`)}, Prompts: []executor.Prompt{{Prompt: "p"}}}, false, `{"decision":"allow"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(NewFireReply(&tt.res, tt.trace))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("wire JSON\n got %s\nwant %s", b, tt.want)
			}
			var back FireReply
			if err := json.Unmarshal(b, &back); err != nil || back.Decision != tt.res.Decision {
				t.Errorf("wire JSON does not decode back: %v %+v", err, back)
			}
		})
	}
}

func strp(s string) *string { return &s }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func ExampleNewFireReply() {
	def := "no"
	res := &executor.Result{
		Decision: executor.ActionAskUser,
		Prompts:  []executor.Prompt{{Prompt: "Store a credential?", Options: []string{"yes", "no"}, Default: &def, Hook: "secrets"}},
	}
	out, _ := json.Marshal(NewFireReply(res, false))
	fmt.Println(string(out))
	// Output:
	// {"decision":"ask_user","prompts":[{"prompt":"Store a credential?","options":["yes","no"],"default":"no","hook":"secrets"}]}
}
