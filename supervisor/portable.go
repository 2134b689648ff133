// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// portableCloseBound bounds how long Backend.Close waits for each killed
// process to be reaped.
const portableCloseBound = 5 * time.Second

// NewPortable returns the portable backend: os/exec, with the child in a
// process group of its own on Unix so the whole tree can be signalled.
//
// It enforces no limits: CanEnforce fails (wrapping ErrNotSupported) for
// any non-zero limit, and Start refuses a Spec with limits unless
// Spec.AllowUncapped is set.
//
// Its limits, compared with the Linux backend:
//   - the tree is the process group: a descendant that calls setsid or
//     setpgid leaves it and survives a tree kill;
//   - Release cannot wait for descendants to be reaped (they are not its
//     children); it kills the group and returns;
//   - exit is observed by one goroutine per process blocked in Wait;
//   - CPU and MemoryPeak (Linux: ru_maxrss) cover the direct child and
//     the descendants it waited for, not the whole tree;
//   - children are not killed when the supervisor itself dies;
//   - fds above 2 that this process holds without close-on-exec (inherited,
//     or opened by cgo code) are marked close-on-exec before every start,
//     so children get fds 0, 1 and 2 only — except an fd opened without
//     close-on-exec by another thread between that sweep and the fork,
//     which only the Linux backend's launcher (close_range) rules out;
//   - on Windows the tree kill terminates the direct child only and there
//     is no SIGTERM: Stop kills at once. A Job Object would be needed for
//     more.
func NewPortable(opts Options) (Backend, error) {
	return &portableBackend{log: opts.Logger, procs: make(map[*portableProcess]struct{})}, nil
}

type portableBackend struct {
	log Logger

	mu     sync.Mutex
	closed bool
	procs  map[*portableProcess]struct{}
}

func (b *portableBackend) Mechanisms() Mechanisms {
	return Mechanisms{
		Backend:    "portable",
		CgroupMode: "none",
		Spawn:      "os/exec",
		Attach:     "none",
		Kill:       portableKillMechanism,
		Exit:       "os/exec Wait (a goroutine per process)",
		Pipes:      "os.Pipe",
		Notes:      []string{"no resource limits are enforced", "no sandbox: capabilities are not dropped, no namespaces, no seccomp"},
	}
}

func (b *portableBackend) CanEnforce(l Limits) error {
	var names []string
	if l.MemoryMax > 0 {
		names = append(names, "memory_max")
	}
	if l.CPUQuota > 0 {
		names = append(names, "cpu_max")
	}
	if l.PidsMax > 0 {
		names = append(names, "pids_max")
	}
	if l.NoFile > 0 {
		names = append(names, "nofile")
	}
	if l.MemoryHigh > 0 {
		names = append(names, "memory_high")
	}
	if l.CPUWeight > 0 {
		names = append(names, "cpu_weight")
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("portable backend cannot enforce %s: %w", strings.Join(names, ", "), ErrNotSupported)
}

func (b *portableBackend) Start(ctx context.Context, spec *Spec) (Process, error) {
	if spec == nil || spec.Path == "" {
		return nil, &SpawnError{Err: errors.New("empty path")}
	}
	if err := ctx.Err(); err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	if err := b.CanEnforce(spec.Limits); err != nil {
		if !spec.AllowUncapped {
			return nil, err
		}
		if b.log != nil {
			b.log.Debug("supervisor: running uncapped", "name", spec.Name, "reason", err)
		}
	}
	if err := spec.Sandbox.Validate(); err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	if err := spec.validateStdio(); err != nil {
		return nil, &SpawnError{Path: spec.Path, Err: err}
	}
	// The default sandbox's capability drop is the Linux backend's; an
	// option asked for by name is refused here, as a limit is.
	// "ALL" capabilities is what a child here keeps anyway.
	mask, _ := CapabilityMask(spec.Sandbox.Capabilities)
	narrowCaps := len(spec.Sandbox.Capabilities) > 0 && mask != ^uint64(0)
	if n := spec.Sandbox.IsolationNames(); (len(n) > 0 || narrowCaps) && !spec.Sandbox.AllowUnsandboxed {
		if narrowCaps {
			n = append(n, "capabilities")
		}
		return nil, fmt.Errorf("portable backend cannot sandbox: %s: %w", strings.Join(n, ", "), ErrNotSupported)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}

	closeInheritedFDs()
	p := &portableProcess{b: b, done: make(chan struct{})}
	// childEnds are closed right after the start, whatever happens: the
	// child holds its own copies, and the parent must not keep a write end
	// of the child's stdout (EOF would never come).
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			_ = f.Close()
		}
	}()
	// A stream with neither a file nor a pipe stays nil: os/exec gives
	// the child /dev/null there.
	in, out, errf := spec.Stdin, spec.Stdout, spec.Stderr
	var err error
	if spec.Pipes&PipeStdin != 0 {
		if in, p.stdin, err = os.Pipe(); err != nil {
			return nil, p.startFailed(spec, err)
		}
		childEnds = append(childEnds, in)
	}
	if spec.Pipes&PipeStdout != 0 {
		if p.stdout, out, err = os.Pipe(); err != nil {
			return nil, p.startFailed(spec, err)
		}
		childEnds = append(childEnds, out)
	}
	if spec.Pipes&PipeStderr != 0 {
		if p.stderr, errf, err = os.Pipe(); err != nil {
			return nil, p.startFailed(spec, err)
		}
		childEnds = append(childEnds, errf)
	}
	env := spec.Env
	if env == nil {
		env = []string{} // nil would make os/exec inherit our environment
	}
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	cmd := &exec.Cmd{
		Path: spec.Path,
		Args: append([]string{spec.Path}, spec.Args...),
		Env:  env,
		Dir:  dir,
	}
	// Only non-nil files: a nil *os.File in the io.Reader would not be
	// os/exec's nil.
	if in != nil {
		cmd.Stdin = in
	}
	if out != nil {
		cmd.Stdout = out
	}
	if errf != nil {
		cmd.Stderr = errf
	}
	if err := setProcAttr(cmd, spec); err != nil {
		p.closeParentEnds()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, p.startFailed(spec, err)
	}
	p.cmd = cmd
	p.pid = cmd.Process.Pid

	b.mu.Lock()
	b.procs[p] = struct{}{}
	b.mu.Unlock()
	go p.wait()
	return p, nil
}

// Close kills every process still supervised and waits (bounded) for each
// to be reaped. Their pipes stay with their owners, who Release them.
func (b *portableBackend) Close() error {
	b.mu.Lock()
	b.closed = true
	procs := make([]*portableProcess, 0, len(b.procs))
	for p := range b.procs {
		procs = append(procs, p)
	}
	b.mu.Unlock()
	t := time.NewTimer(portableCloseBound)
	defer t.Stop()
	var errs []error
	for _, p := range procs {
		_ = p.Kill()
		select {
		case <-p.done:
		case <-t.C:
			errs = append(errs, fmt.Errorf("portable backend: pid %d not reaped after kill", p.pid))
		}
	}
	return errors.Join(errs...)
}

// portableProcess is a child started with os/exec.
type portableProcess struct {
	b    *portableBackend
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
	// status is written once before done is closed.
	status ExitStatus
	exits  exitHooks

	mu                    sync.Mutex
	stdin, stdout, stderr *os.File
	taken                 [3]bool
	released              bool // no signal may be sent after this
	releaseOnce           sync.Once
}

func (p *portableProcess) startFailed(spec *Spec, err error) error {
	p.closeParentEnds()
	return &SpawnError{Path: spec.Path, Err: err}
}

func (p *portableProcess) closeParentEnds() {
	for _, f := range []*os.File{p.stdin, p.stdout, p.stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// wait is the one goroutine per process: it reaps the child and records
// how it ended.
func (p *portableProcess) wait() {
	_ = p.cmd.Wait() // the status comes from ProcessState
	if ps := p.cmd.ProcessState; ps != nil {
		p.status = exitStatus(ps)
	} else {
		p.status = ExitStatus{Code: -1}
	}
	close(p.done)
	p.exits.fire()
}

func (p *portableProcess) Pid() int { return p.pid }

func (p *portableProcess) take(i int, f *os.File) *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f != nil {
		p.taken[i] = true
	}
	return f
}

func (p *portableProcess) Stdin() *os.File  { return p.take(0, p.stdin) }
func (p *portableProcess) Stdout() *os.File { return p.take(1, p.stdout) }
func (p *portableProcess) Stderr() *os.File { return p.take(2, p.stderr) }

func (p *portableProcess) Done() <-chan struct{} { return p.done }

// OnExit runs fn on this process's Wait goroutine once it has reaped it.
func (p *portableProcess) OnExit(fn func()) func() bool { return p.exits.add(fn) }

func (p *portableProcess) Wait(ctx context.Context) (ExitStatus, error) {
	select {
	case <-p.done:
		return p.status, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

func (p *portableProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *portableProcess) Signal(sig os.Signal) error {
	if p.exited() {
		return os.ErrProcessDone
	}
	return p.cmd.Process.Signal(sig)
}

// Kill kills the process group and, should the direct child have left its
// group, the direct child too. It does not wait.
func (p *portableProcess) Kill() error {
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released {
		return nil // the group id may belong to someone else by now
	}
	err := p.killTree()
	if !p.exited() {
		if kerr := p.cmd.Process.Kill(); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) && err == nil {
			err = kerr
		}
	}
	return err
}

func (p *portableProcess) Stop(ctx context.Context, grace time.Duration) (ExitStatus, error) {
	if grace > 0 && p.termTree() == nil {
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	// Descendants that ignored TERM (or outlived the direct child) go now.
	_ = p.Kill()
	return p.Wait(ctx)
}

func (p *portableProcess) Stats() (Stats, error) {
	if p.exited() {
		return Stats{CPU: p.status.CPU, MemoryPeak: p.status.MemoryPeak}, nil
	}
	return procStats(p.pid)
}

// Release kills what is left of the group, waits for the direct child to
// be reaped and closes the pipe ends nobody took. Idempotent; concurrent
// callers all return once it is done.
func (p *portableProcess) Release() error {
	p.releaseOnce.Do(p.release)
	return nil
}

func (p *portableProcess) release() {
	_ = p.Kill()
	<-p.done // SIGKILL cannot be ignored: the reap follows
	p.mu.Lock()
	p.released = true
	for i, f := range []*os.File{p.stdin, p.stdout, p.stderr} {
		if f != nil && !p.taken[i] {
			_ = f.Close()
		}
	}
	p.mu.Unlock()
	p.b.mu.Lock()
	delete(p.b.procs, p)
	p.b.mu.Unlock()
}
