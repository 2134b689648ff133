// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"errors"
	"unicode/utf8"

	"github.com/hooksupd/hooksupd/supervisor"
)

// Sentinel errors of the hook runtime. Every error an Executor returns
// wraps exactly one of them, so callers (and the chain's trace) can tell
// the failure categories apart with errors.Is.
var (
	// ErrTimeout: the hook did not answer within its budget.
	ErrTimeout = errors.New("hook timed out")
	// ErrOOMKilled: the hook's tree was killed by its memory limit.
	ErrOOMKilled = supervisor.ErrOOMKilled
	// ErrSupervisor: the hook's child could not be started because the
	// supervisor's own machinery failed (its group, limits or launcher),
	// not because of the hook, even after retries within the fire's
	// deadline. It is also ErrSpawn; its kind is "supervisor", so such
	// failures are counted apart from the hooks' own.
	ErrSupervisor = supervisor.ErrSupervisor
	// ErrSpawn: the hook's child could not be started.
	ErrSpawn = supervisor.ErrSpawn
	// ErrNotSupported: a limit or feature the hook asks for is missing.
	ErrNotSupported = supervisor.ErrNotSupported
	// ErrDecode: the hook's answer is not a valid decision (or too long).
	ErrDecode = errors.New("hook decision decode failed")
	// ErrExit: the hook's child exited non-zero or was killed by a signal.
	ErrExit = errors.New("hook child exited unsuccessfully")
	// ErrDropped: the fire could not get a slot (max_concurrency) within
	// its deadline.
	ErrDropped = errors.New("hook fire dropped")
	// ErrPolicyRefused: the spawn policy refused the command.
	ErrPolicyRefused = errors.New("hook spawn refused by policy")
	// ErrDaemonUnavailable: the daemon child is between restarts.
	ErrDaemonUnavailable = errors.New("hook daemon unavailable")
	// ErrIO: a pipe to or from the child failed.
	ErrIO = errors.New("hook io error")
	// ErrDeadlineExhausted: the chain's class deadline had passed before
	// the hook could run.
	ErrDeadlineExhausted = errors.New("chain class deadline exhausted")
	// ErrUnknownEvent: the event is not in the catalog.
	ErrUnknownEvent = errors.New("unknown event")
	// ErrClosed: the dispatcher or executor has been closed.
	ErrClosed = errors.New("executor closed")
)

// Kind is the category of a hook runtime error: which sentinel it wraps.
// Its String form is what traces, metrics labels and the CLI show.
type Kind uint8

// The kinds, in the order KindOf tests them: the first sentinel an error
// wraps decides (an OOM kill is also a non-zero exit, and is OOM).
const (
	KindNone Kind = iota // no error
	KindOOMKilled
	KindTimeout
	KindDeadlineExhausted
	KindPolicy
	KindNotSupported
	KindSupervisor
	KindSpawn
	KindDecode
	KindExit
	KindDropped
	KindDaemonUnavailable
	KindIO
	KindUnknownEvent
	KindClosed
	KindInternal // wraps none of the sentinels
	numKinds
)

var kindInfo = [numKinds]struct {
	err  error
	name string
}{
	KindNone:              {nil, ""},
	KindOOMKilled:         {ErrOOMKilled, "oom_killed"},
	KindTimeout:           {ErrTimeout, "timeout"},
	KindDeadlineExhausted: {ErrDeadlineExhausted, "deadline_exhausted"},
	KindPolicy:            {ErrPolicyRefused, "policy"},
	KindNotSupported:      {ErrNotSupported, "not_supported"},
	KindSupervisor:        {ErrSupervisor, "supervisor"},
	KindSpawn:             {ErrSpawn, "spawn"},
	KindDecode:            {ErrDecode, "decode"},
	KindExit:              {ErrExit, "exit"},
	KindDropped:           {ErrDropped, "dropped"},
	KindDaemonUnavailable: {ErrDaemonUnavailable, "daemon_unavailable"},
	KindIO:                {ErrIO, "io"},
	KindUnknownEvent:      {ErrUnknownEvent, "unknown_event"},
	KindClosed:            {ErrClosed, "closed"},
	KindInternal:          {nil, "internal"},
}

// String is the kind's short name ("timeout", "oom_killed", ...; "" for
// KindNone).
func (k Kind) String() string {
	if k >= numKinds {
		return "internal"
	}
	return kindInfo[k].name
}

// KindOf returns the kind of err: KindNone for nil, KindInternal for an
// error that wraps none of the sentinels.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	for k := KindOOMKilled; k < KindInternal; k++ {
		if errors.Is(err, kindInfo[k].err) {
			return k
		}
	}
	return KindInternal
}

// errorKindNames lists the name of every error kind, for metrics labels.
func errorKindNames() []string {
	out := make([]string, 0, numKinds-1)
	for k := KindOOMKilled; k < numKinds; k++ {
		out = append(out, k.String())
	}
	return out
}

// maxErrorText bounds an error text kept for status, embedded in another
// error or logged: a hook's failure must never grow what the supervisor
// holds or sends.
const maxErrorText = 512

// boundedText cuts s to maxErrorText bytes (at a rune boundary), marking
// the cut.
func boundedText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
