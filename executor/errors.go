package executor

import (
	"errors"

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

// kinds maps each sentinel to the short name used in traces, metrics and
// CLI output. Order matters: the first match wins (OOM before exit).
var kinds = []struct {
	err  error
	name string
}{
	{ErrOOMKilled, "oom_killed"},
	{ErrTimeout, "timeout"},
	{ErrDeadlineExhausted, "deadline_exhausted"},
	{ErrPolicyRefused, "policy"},
	{ErrNotSupported, "not_supported"},
	{ErrSpawn, "spawn"},
	{ErrDecode, "decode"},
	{ErrExit, "exit"},
	{ErrDropped, "dropped"},
	{ErrDaemonUnavailable, "daemon_unavailable"},
	{ErrIO, "io"},
	{ErrUnknownEvent, "unknown_event"},
	{ErrClosed, "closed"},
}

// ErrorKind returns the short category name of err ("timeout",
// "oom_killed", "spawn", ...), "" for nil and "internal" for an error that
// wraps none of the sentinels.
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "internal"
}

// ErrorKinds lists every kind ErrorKind can return, for metrics labels.
func ErrorKinds() []string {
	out := make([]string, 0, len(kinds)+1)
	for _, k := range kinds {
		out = append(out, k.name)
	}
	return append(out, "internal")
}
