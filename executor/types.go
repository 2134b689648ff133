// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"context"
	"encoding/json"
)

// Action is what a decision does.
type Action string

// The four actions of the wire protocol.
const (
	ActionAllow   Action = "allow"
	ActionModify  Action = "modify"
	ActionDeny    Action = "deny"
	ActionAskUser Action = "ask_user"
)

// Decision is what one hook answered.
type Decision struct {
	Action Action
	// Delta holds the top-level keys a modify overlays on the payload.
	Delta map[string]json.RawMessage
	// Reason and Code are set for deny (Code defaults to 403).
	Reason string
	Code   int
	// Prompt, Options and Default are set for ask_user.
	Prompt  string
	Options []string
	Default *string
}

// Executor runs one hook's children.
type Executor interface {
	// Fire delivers one envelope and returns the hook's decision.
	// payload must be valid JSON (the Dispatcher validates it); it is
	// compacted only when it spans several lines. ctx
	// carries the only deadline; when it ends, the executor's cleanup
	// (kill the child, reset the daemon connection, count the drop) has
	// run before Fire returns.
	Fire(ctx context.Context, event string, payload json.RawMessage) (Decision, error)
	// Close stops the executor's children (TERM, grace, tree kill).
	Close(ctx context.Context) error
}
