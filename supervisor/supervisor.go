// SPDX-License-Identifier: Apache-2.0

// Package supervisor starts resource-capped processes and supervises them
// until they are gone.
//
// A Spec is plain data: everything needed to start one capped process. A
// Backend turns a Spec into a live Process: on Linux the default backend
// spawns from one locked thread with a pidfd, puts the child into its own
// group (cgroup) before it runs a single instruction, and observes exits and
// pipes through epoll; the portable backend (os/exec plus process groups on
// Unix) runs everywhere else and on Linux when asked for.
//
// The supervisor knows nothing about hooks, events or decisions.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/internal/errs"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrNotSupported is wrapped by every error about a kernel or platform
	// feature that is missing. A limit that was asked for and cannot be
	// enforced is such an error unless Spec.AllowUncapped is set.
	ErrNotSupported = errs.ErrNotSupported
	// ErrOOMKilled reports a process (tree) killed by its memory limit. It
	// is derived from the group's oom_kill counter, never guessed from
	// SIGKILL.
	ErrOOMKilled = errors.New("killed by the memory limit")
	// ErrSpawn reports that the process could not be started.
	ErrSpawn = errors.New("spawn failed")
	// ErrClosed is returned by a Backend that has been closed.
	ErrClosed = errors.New("supervisor closed")
	// ErrSupervisor is wrapped, beside ErrSpawn, by a start that failed in
	// the backend's own machinery (creating the group, writing its limits,
	// preparing a launcher, its pipes) rather than because of the program
	// or its Spec. Such a failure is often transient (a kernel call
	// interrupted under load, a launcher that died): the same Spec may
	// start if tried again.
	ErrSupervisor = errors.New("supervisor failure")
)

// Limits are the caps a Spec asks for. The zero value of a field means
// "no limit".
type Limits struct {
	// MemoryMax is the memory limit of the whole tree in bytes; swap is
	// limited to zero alongside it.
	MemoryMax int64
	// CPUQuota is the CPU time the tree may use per CPUPeriod.
	CPUQuota time.Duration
	// CPUPeriod is the accounting period for CPUQuota; 0 means 100ms.
	CPUPeriod time.Duration
	// PidsMax caps the number of tasks in the tree.
	PidsMax int64
	// MemoryHigh is the tree's memory throttle point in bytes: above it
	// the kernel reclaims hard and slows the tree down, but kills nothing
	// (systemd's MemoryHigh=). cgroup v2 only.
	MemoryHigh int64
	// CPUWeight is the tree's share of CPU time under contention, 1 to
	// 10000 where 100 is the default (systemd's CPUWeight=); 0 leaves the
	// default. On cgroup v1 it becomes cpu.shares (weight*1024/100).
	CPUWeight uint64
	// NoFile sets RLIMIT_NOFILE (soft and hard) in the child.
	NoFile uint64
}

// NeedsGroup reports whether the limits need a group (cgroup) to enforce.
func (l Limits) NeedsGroup() bool {
	return l.MemoryMax > 0 || l.CPUQuota > 0 || l.PidsMax > 0 || l.MemoryHigh > 0 || l.CPUWeight > 0
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// Credential is the user and groups the child runs as.
type Credential struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// Spec is everything needed to start one capped process. It is plain data;
// Backend.Start does not retain or modify it.
type Spec struct {
	// Name labels the process in group names and logs (a hook name). It
	// must be a valid path element; an empty Name is replaced by "proc".
	Name string
	// Path is the absolute path of the program.
	Path string
	// Args are the arguments after argv[0]; argv[0] is Path.
	Args []string
	// Env is the complete environment ("KEY=VALUE"). Nothing is inherited.
	Env []string
	// Dir is the working directory; empty means "/".
	Dir string
	// Limits are enforced for the whole process tree.
	Limits Limits
	// AllowUncapped lets Start succeed without enforcing Limits when the
	// backend cannot enforce them. Without it such a Start fails with an
	// error wrapping ErrNotSupported.
	AllowUncapped bool
	// Credential, when set, is the user the child runs as.
	Credential *Credential
	// Sandbox is what the child may reach; the zero value already drops
	// every capability (see Sandbox).
	Sandbox Sandbox
	// LongLived says the process is expected to run for a long time (a
	// daemon) and the same spec will not be started again soon: the
	// backend then keeps nothing prepared for its next start (on Linux, no
	// launcher parked beside it), so an idle daemon costs one process.
	LongLived bool
	// Stdin, Stdout and Stderr, when set, are given to the child as fds
	// 0, 1 and 2. When nil, the child gets /dev/null there, as with
	// os/exec, unless Pipes asks for a pipe: then the backend creates one
	// and exposes the parent's end on the Process, which the caller must
	// then drain (a child writing to a full pipe blocks).
	Stdin, Stdout, Stderr *os.File
	// Pipes names the streams to connect to the parent through pipes
	// (PipeStdin, PipeStdout, PipeStderr, or PipeAll). A stream cannot be
	// both a pipe and a file. Specs with PipeAll and without LongLived
	// take a launcher the backend prepared ahead (see docs/pitfalls.md):
	// the fast path hooks use.
	Pipes StdioPipes
}

// StdioPipes is a set of the child's standard streams.
type StdioPipes uint8

// The streams of StdioPipes.
const (
	PipeStdin StdioPipes = 1 << iota
	PipeStdout
	PipeStderr
	PipeAll = PipeStdin | PipeStdout | PipeStderr
)

// validateStdio refuses a stream that is both a file and a pipe, and
// pipe bits beyond the three streams.
func (s *Spec) validateStdio() error {
	if s.Pipes&^PipeAll != 0 {
		return fmt.Errorf("Spec.Pipes %#x names no stream", uint8(s.Pipes&^PipeAll))
	}
	for i := range 3 {
		if _, _, err := s.stdio(i); err != nil {
			return err
		}
	}
	return nil
}

// stdio returns the file Spec gives stream i (0, 1, 2), whether it asks
// for a pipe there, and an error when it asks for both.
func (s *Spec) stdio(i int) (f *os.File, pipe bool, err error) {
	f = [3]*os.File{s.Stdin, s.Stdout, s.Stderr}[i]
	pipe = s.Pipes&(1<<i) != 0
	if f != nil && pipe {
		return nil, false, fmt.Errorf("%s is both a file and a pipe (Spec.Pipes)", [3]string{"stdin", "stdout", "stderr"}[i])
	}
	return f, pipe, nil
}

// ExitStatus describes how a process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 when the process was killed by a signal.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// OOMKilled reports that the group's memory limit killed a process of
	// the tree during this process's life.
	OOMKilled bool
	// CPU is the user+system CPU time of the tree, when known.
	CPU time.Duration
	// MemoryPeak is the peak memory of the tree in bytes, when known.
	MemoryPeak int64
}

// Success reports whether the process exited with code 0.
func (s ExitStatus) Success() bool { return s.Code == 0 && s.Signal == 0 && !s.OOMKilled }

// String formats the status the way a shell user expects.
func (s ExitStatus) String() string {
	switch {
	case s.OOMKilled:
		return "killed by the memory limit"
	case s.Signal != 0:
		return fmt.Sprintf("killed by signal %d (%v)", int(s.Signal), s.Signal)
	default:
		return fmt.Sprintf("exit status %d", s.Code)
	}
}

// Stats are live or final resource figures of a process tree.
type Stats struct {
	CPU           time.Duration // user+system, whole tree
	MemoryCurrent int64         // bytes
	MemoryPeak    int64         // bytes
	OOMKills      uint64        // since the process started
	Pids          int64         // tasks now in the tree
	// CPUThrottled is the time the tree was held back by Limits.CPUQuota
	// and ThrottledPeriods the number of periods it was; 0 without a
	// quota or a group.
	CPUThrottled     time.Duration
	ThrottledPeriods uint64
	// PidsPeak is the most tasks the tree had at once; 0 when unknown (no
	// group, or a kernel without pids.peak).
	PidsPeak int64
}

// Process is a live, supervised child and its tree.
//
// A Process must be released with Release once the caller is done with it,
// whether or not it has exited: Release kills what is left of the tree,
// waits until the group is empty, removes (or recycles) the group and
// closes every fd the Process owns. Release is idempotent.
type Process interface {
	// Pid is the process id of the direct child.
	Pid() int
	// Stdin, Stdout and Stderr are the parent's ends of the pipes the
	// backend created for Spec.Pipes, or nil for the other streams. The
	// caller owns them (and closes them) once returned.
	Stdin() *os.File
	Stdout() *os.File
	Stderr() *os.File
	// Done is closed once the direct child has exited and been reaped.
	Done() <-chan struct{}
	// OnExit arranges for fn to run once, right after Done is closed, on
	// the goroutine that reaped the child (the backend's one exit watcher
	// on Linux), or on a goroutine of its own when the child has already
	// been reaped. fn must not block: other exits wait for it. stop
	// cancels the call and reports whether it did so before fn started,
	// as context.AfterFunc's stop does.
	OnExit(fn func()) (stop func() bool)
	// Wait waits until the direct child exits or ctx ends. It may be
	// called many times and from many goroutines; after exit it returns the
	// same status each time.
	Wait(ctx context.Context) (ExitStatus, error)
	// Signal sends sig to the direct child.
	Signal(sig os.Signal) error
	// Kill kills the whole tree at once (cgroup.kill, freeze-kill-thaw or
	// the process group) and returns without waiting.
	Kill() error
	// Stop sends SIGTERM to the tree, waits up to grace for the direct
	// child to exit, then kills the tree, and waits for the exit (bounded
	// by ctx).
	Stop(ctx context.Context, grace time.Duration) (ExitStatus, error)
	// Stats reads the tree's resource figures now.
	Stats() (Stats, error)
	// Release kills anything left of the tree, waits for it to be gone,
	// and frees the group and fds.
	Release() error
}

// Mechanisms says which kernel mechanisms a backend chose after probing.
type Mechanisms struct {
	Backend    string // "linux" or "portable"
	CgroupMode string // "v2", "hybrid", "v1", "none"
	Spawn      string // e.g. "clone3+pidfd", "launcher", "os/exec"
	Attach     string // e.g. "clone3 CLONE_INTO_CGROUP", "pre-placed launcher", "none"
	Kill       string // e.g. "cgroup.kill", "freeze+kill+thaw", "process group"
	Exit       string // e.g. "pidfd+epoll", "os/exec Wait"
	Pipes      string // e.g. "epoll", "goroutines"
	Notes      []string
}

// Backend starts processes.
type Backend interface {
	// Start starts the process described by spec. Errors wrap ErrSpawn or
	// ErrNotSupported.
	Start(ctx context.Context, spec *Spec) (Process, error)
	// Mechanisms reports what the backend uses.
	Mechanisms() Mechanisms
	// CanEnforce returns nil when the backend can enforce l, else an error
	// wrapping ErrNotSupported that names the backend.
	CanEnforce(l Limits) error
	// Close kills every process the backend still supervises and removes
	// its groups.
	Close() error
}

// SpawnError reports a failed start.
type SpawnError struct {
	Path string
	Err  error
}

func (e *SpawnError) Error() string { return "spawn " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the cause and ErrSpawn, so both match with errors.Is.
func (e *SpawnError) Unwrap() []error { return []error{ErrSpawn, e.Err} }

// Options configure a Backend.
type Options struct {
	// Kind selects the backend: "" or "auto" (the best for this OS),
	// "linux" or "portable".
	Kind string
	// CgroupParent overrides where groups are created (a path relative to
	// each hierarchy's mount, e.g. "/hooksupd.slice/hooks"). Empty means
	// beside the cgroup the supervisor runs in.
	CgroupParent string
	// Logger receives the backend's diagnostics; nil discards them.
	Logger Logger
	// HiddenPaths are directories (the control socket's) that every hook
	// running in a mount namespace of its own sees as an empty,
	// inaccessible directory: on Linux every uid 0 hook, and any hook
	// with a file-system option. Hooks of other uids are kept out by the
	// paths' own modes. Shared system directories (/run, /tmp, ...) are
	// refused. The portable backend ignores them.
	HiddenPaths []string
}

// Logger is the subset of *slog.Logger the backends use.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}
