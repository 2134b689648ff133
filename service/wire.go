// SPDX-License-Identifier: Apache-2.0

package service

import (
	"encoding/json"
	"math"
	"time"

	"github.com/hooksupd/hooksupd/executor"
)

// FireReply is the JSON object a fire reply carries (and `hooksupd fire`
// prints) for an executor.Result.
type FireReply struct {
	Decision executor.Action            `json:"decision"`
	Delta    map[string]json.RawMessage `json:"delta,omitempty"`
	Payload  json.RawMessage            `json:"payload,omitempty"`
	Reason   string                     `json:"reason,omitempty"`
	Code     int                        `json:"code,omitempty"`
	Prompts  []Prompt                   `json:"prompts,omitempty"`
	// FireID names the fire in the service's logs; it comes with the
	// trace, so a plain reply stays as small as its decision.
	FireID string      `json:"fire_id,omitempty"`
	Hooks  []HookTrace `json:"hooks,omitempty"`
}

// Prompt is an executor.Prompt on the wire. Options is always an array and
// Default is null when the hook gave none.
type Prompt struct {
	Prompt  string   `json:"prompt"`
	Options []string `json:"options"`
	Default *string  `json:"default"`
	Hook    string   `json:"hook"`
}

// HookTrace is an executor.Trace on the wire; ms has microsecond precision.
type HookTrace struct {
	Name     string  `json:"name"`
	Decision string  `json:"decision"`
	Ms       float64 `json:"ms"`
	Error    string  `json:"error,omitempty"`
	Ran      bool    `json:"ran"`
}

// NewFireReply converts a fire's result to its JSON shape; trace adds the
// per-hook "hooks" list.
//
//	{"decision":"allow"}
//	{"decision":"modify","delta":{…},"payload":{…}}
//	{"decision":"deny","reason":"…","code":403}
//	{"decision":"ask_user","prompts":[{"prompt":…,"options":[…],"default":…,"hook":…}]}
//
// An ask_user result that follows a modify also carries "delta" and
// "payload".
func NewFireReply(r *executor.Result, trace bool) FireReply {
	w := FireReply{Decision: r.Decision}
	switch r.Decision {
	case executor.ActionModify, executor.ActionAskUser:
		if len(r.Delta) > 0 {
			w.Delta = r.Delta
			w.Payload = r.Payload
		}
	case executor.ActionDeny:
		w.Reason, w.Code = r.Reason, r.Code
	}
	if r.Decision == executor.ActionAskUser {
		w.Prompts = make([]Prompt, len(r.Prompts))
		for i, p := range r.Prompts {
			opts := p.Options
			if opts == nil {
				opts = []string{}
			}
			w.Prompts[i] = Prompt{Prompt: p.Prompt, Options: opts, Default: p.Default, Hook: p.Hook}
		}
	}
	if trace {
		w.FireID = r.FireID
		w.Hooks = make([]HookTrace, len(r.Hooks))
		for i, t := range r.Hooks {
			w.Hooks[i] = HookTrace{
				Name:     t.Hook,
				Decision: t.Decision,
				Ms:       math.Round(float64(t.Duration)/float64(time.Microsecond)) / 1000,
				Error:    t.Error,
				Ran:      t.Ran,
			}
		}
	}
	return w
}
