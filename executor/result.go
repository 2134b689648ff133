package executor

import (
	"encoding/json"
	"math"
	"time"
)

// Result is what the chain answered for one fire, plus a trace of every
// hook it considered.
type Result struct {
	// Decision is allow, modify, deny or ask_user.
	Decision Action
	// Delta is the accumulated modify delta (top-level keys, last writer
	// wins). It is set for modify, and also kept for ask_user when a modify
	// came before the prompt (the seed dropped it; a caller that resumes
	// after the user answers needs it).
	Delta map[string]json.RawMessage
	// Payload is the payload after every delta was overlaid, set whenever
	// Delta is.
	Payload json.RawMessage
	// Reason and Code are set for deny: the hook's own code (default 403),
	// 503 for an error under fail_mode=closed or an enforcement denial,
	// 504 when the class deadline ran out before a fail_mode=closed hook.
	Reason string
	Code   int
	// Prompts are the queued ask_user prompts, in chain order.
	Prompts []Prompt
	// Hooks traces every hook the chain considered, in order.
	Hooks []Trace
}

// Prompt is one queued ask_user decision.
type Prompt struct {
	Prompt  string
	Options []string
	Default *string
	// Hook names the hook that asked.
	Hook string
}

// Trace records what one hook did during a fire.
type Trace struct {
	Hook string
	// Decision is allow, modify, deny or ask_user as the hook answered
	// (before any notify-event downgrade), "error" when the executor
	// failed, or "skipped" when the class deadline had run out.
	Decision string
	Duration time.Duration
	// Error is the ErrorKind of the failure, or "".
	Error string
	// Ran reports whether the hook's program was started for this fire. It
	// is what tells "a hook that said allow" from "a hook that failed open
	// without ever running" (a spawn or policy failure, a drop, a skip).
	Ran bool
}

// Trace decisions that are not actions.
const (
	traceError   = "error"
	traceSkipped = "skipped"
)

// WireResult is the JSON object `hooksupd fire` prints and the socket
// returns for a Result.
type WireResult struct {
	Decision Action                     `json:"decision"`
	Delta    map[string]json.RawMessage `json:"delta,omitempty"`
	Payload  json.RawMessage            `json:"payload,omitempty"`
	Reason   string                     `json:"reason,omitempty"`
	Code     int                        `json:"code,omitempty"`
	Prompts  []WirePrompt               `json:"prompts,omitempty"`
	Hooks    []WireTrace                `json:"hooks,omitempty"`
}

// WirePrompt is a Prompt on the wire. Options is always an array and
// Default is null when the hook gave none.
type WirePrompt struct {
	Prompt  string   `json:"prompt"`
	Options []string `json:"options"`
	Default *string  `json:"default"`
	Hook    string   `json:"hook"`
}

// WireTrace is a Trace on the wire; ms has microsecond precision.
type WireTrace struct {
	Name     string  `json:"name"`
	Decision string  `json:"decision"`
	Ms       float64 `json:"ms"`
	Error    string  `json:"error,omitempty"`
	Ran      bool    `json:"ran"`
}

// Wire converts r to its JSON shape; trace adds the per-hook "hooks" list.
//
//	{"decision":"allow"}
//	{"decision":"modify","delta":{…},"payload":{…}}
//	{"decision":"deny","reason":"…","code":403}
//	{"decision":"ask_user","prompts":[{"prompt":…,"options":[…],"default":…,"hook":…}]}
//
// An ask_user result that follows a modify also carries "delta" and
// "payload".
func (r *Result) Wire(trace bool) WireResult {
	w := WireResult{Decision: r.Decision}
	switch r.Decision {
	case ActionModify, ActionAskUser:
		if len(r.Delta) > 0 {
			w.Delta = r.Delta
			w.Payload = r.Payload
		}
	case ActionDeny:
		w.Reason, w.Code = r.Reason, r.Code
	}
	if r.Decision == ActionAskUser {
		w.Prompts = make([]WirePrompt, len(r.Prompts))
		for i, p := range r.Prompts {
			opts := p.Options
			if opts == nil {
				opts = []string{}
			}
			w.Prompts[i] = WirePrompt{Prompt: p.Prompt, Options: opts, Default: p.Default, Hook: p.Hook}
		}
	}
	if trace {
		w.Hooks = make([]WireTrace, len(r.Hooks))
		for i, t := range r.Hooks {
			w.Hooks[i] = WireTrace{
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

// Exit codes of `hooksupd fire`, by decision.
const (
	exitAllow   = 0
	exitDeny    = 3
	exitAskUser = 4
)

// ExitCode is the process exit code for the result: 0 for allow and
// modify, 3 for deny, 4 for ask_user.
func (r *Result) ExitCode() int {
	switch r.Decision {
	case ActionDeny:
		return exitDeny
	case ActionAskUser:
		return exitAskUser
	default:
		return exitAllow
	}
}
