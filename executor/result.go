// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"encoding/json"
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
	// FireID names the fire in the logs (see NewFireID).
	FireID string
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
