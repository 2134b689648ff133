// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/cgroup"
	"github.com/hooksupd/hooksupd/supervisor/internal/launcher"
	"github.com/hooksupd/hooksupd/supervisor/pidfd"
)

// spawner runs every clone of the backend on one OS thread that stays
// locked for the backend's life. Pdeathsig is tied to the thread that
// cloned the child, not to the process (golang/go#27505): with a thread
// that never exits, a child dies exactly when the supervisor does. The
// thread also carries no_new_privs, which every child inherits.
type spawner struct {
	mu     sync.RWMutex
	reqs   chan func()
	closed bool
	done   chan struct{}
}

func newSpawner() (*spawner, error) {
	s := &spawner{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go s.loop(ready)
	if err := <-ready; err != nil {
		<-s.done
		return nil, fmt.Errorf("linux backend: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return s, nil
}

func (s *spawner) loop(ready chan<- error) {
	defer close(s.done)
	// Never unlocked: when the loop ends the goroutine exits locked and
	// the runtime retires the thread, so no other goroutine ever runs on
	// a thread with these attributes.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for fn := range s.reqs {
		fn()
	}
}

// do runs fn on the spawner thread and waits for it.
func (s *spawner) do(fn func()) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	done := make(chan struct{})
	s.reqs <- func() { fn(); close(done) }
	<-done
	return nil
}

// stop ends the thread. Children it cloned and that still live get their
// Pdeathsig, so the backend kills and reaps them first.
func (s *spawner) stop() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
	s.mu.Unlock()
	<-s.done
}

// clone3Refused reports the errors with which kernels and seccomp
// profiles refuse clone3 or CLONE_INTO_CGROUP: ENOSYS (before 5.3),
// EPERM (old container seccomp profiles, moby#42680), E2BIG (5.4 without
// CLONE_INTO_CGROUP), EOPNOTSUPP (threaded cgroups, systemd#34053).
func clone3Refused(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.E2BIG) || errors.Is(err, unix.EOPNOTSUPP)
}

// clone starts path on the spawner thread with a pidfd from the clone
// itself, in its own process group, in the hook PID namespace when there
// is one (else with Pdeathsig SIGKILL), and, when g has a cgroup2
// directory, inside it (clone3 CLONE_INTO_CGROUP). placed reports whether
// the child already is in g's cgroup2 directory.
func (b *linuxBackend) clone(path string, argv []string, attr *syscall.ProcAttr, g *cgroup.Group) (pid int, pfd *pidfd.FD, placed bool, err error) {
	var retryErr error
	sys := attr.Sys
	sys.Setpgid = true
	into := g != nil && g.UnifiedFD() >= 0 && b.clone3.Load()
	retried, renewed := false, false
	b.ensureKeeper()
	for {
		// In the keeper's namespace the keeper's death kills the child.
		// Pdeathsig would even be harmful there: Go's child checks that
		// getppid() is still the parent's pid after setting it, and
		// getppid() is 0 across a namespace boundary, so the child would
		// kill itself.
		// A child with a PID namespace of its own (private_pids) cannot be
		// cloned from a thread whose children go to another namespace
		// (the kernel's rule): it is born beside the keeper's namespace,
		// as its init, and dies with the spawner thread by Pdeathsig,
		// which ends its namespace. (There Go's check is harmless: a
		// namespace's init ignores the SIGKILL it sends itself.)
		ownNS := sys.Cloneflags&unix.CLONE_NEWPID != 0
		inKeeper := b.keeper.active.Load() && !ownNS
		sys.Pdeathsig = 0
		if !inKeeper {
			sys.Pdeathsig = syscall.SIGKILL
		}
		raw := -1
		sys.PidFD = &raw
		sys.UseCgroupFD = into
		sys.CgroupFD = 0
		if into {
			sys.CgroupFD = g.UnifiedFD()
		}
		start := func() { pid, _, err = syscall.StartProcess(path, argv, attr) }
		if ownNS && b.keeper.active.Load() {
			start = func() {
				var serr error
				nerr := b.keeper.outside(func() { pid, _, serr = syscall.StartProcess(path, argv, attr) })
				err = errors.Join(serr, nerr)
				if serr == nil && nerr != nil {
					b.log.Error("spawner thread could not rejoin the hook namespace", "err", nerr)
					err = nil // the child runs; the next clone starts a new keeper
				}
			}
		}
		if derr := b.spawn.do(start); derr != nil {
			return 0, nil, false, derr
		}
		if err == nil {
			if raw < 0 {
				// Cannot happen after Probe; never run a child we cannot
				// supervise.
				unix.Kill(pid, unix.SIGKILL)
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, 0, nil)
				return 0, nil, false, errors.New("clone returned no pidfd")
			}
			if retried && b.clone3.Swap(false) {
				// The plain clone worked where clone3 did not: the kernel
				// or a seccomp filter refuses clone3. Stop trying.
				b.log.Warn("clone3 CLONE_INTO_CGROUP refused; placing children with cgroup.procs writes instead", "err", retryErr)
			}
			return pid, pidfd.New(raw), into, nil
		}
		if errors.Is(err, unix.ENOMEM) && b.keeper.dead.Load() && !renewed {
			// The keeper died: its namespace takes no new process.
			renewed = true
			b.ensureKeeper()
			continue
		}
		if into && clone3Refused(err) {
			// The same errno can come from the exec itself; clone3 is
			// only given up when the plain clone then works.
			into, retried, retryErr = false, true, err
			continue
		}
		return 0, nil, false, err
	}
}

// stdioPipes creates what the child gets as fds 0, 1 and 2 beyond the
// files the Spec supplies: a pipe for each stream in Spec.Pipes, /dev/null
// for the others. child are the ends the child gets; parent are the
// non-blocking *os.File ends the caller reads and writes through the
// runtime poller or an epoll loop (nil where the stream is not a pipe).
func stdioPipes(spec *Spec) (child [3]int, parent [3]*os.File, err error) {
	given := [3]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}
	names := [3]string{"|0", "|1", "|2"}
	for i := range child {
		child[i] = -1
	}
	cleanup := func() {
		for i := range 3 {
			if given[i] == nil && child[i] >= 0 {
				unix.Close(child[i])
			}
			if parent[i] != nil {
				parent[i].Close()
			}
		}
	}
	for i := range 3 {
		if given[i] != nil {
			// Fd puts the file in blocking mode, as os/exec does: the child
			// expects blocking stdio.
			child[i] = int(given[i].Fd())
			continue
		}
		if spec.Pipes&(1<<i) == 0 {
			// os/exec's nil: read EOF, writes vanish. Closed by
			// closeChildEnds like a pipe end.
			fd, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				cleanup()
				return child, parent, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
			}
			child[i] = fd
			continue
		}
		var p [2]int
		if err = unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			cleanup()
			return child, parent, os.NewSyscallError("pipe2", err)
		}
		mine, theirs := p[1], p[0] // stdin: the parent writes
		if i > 0 {
			mine, theirs = p[0], p[1]
		}
		child[i] = theirs
		// Only the parent's end is non-blocking: O_NONBLOCK is per open
		// file description and pipe2 would set it on both.
		if err = unix.SetNonblock(mine, true); err != nil {
			unix.Close(mine)
			cleanup()
			return child, parent, os.NewSyscallError("fcntl", err)
		}
		parent[i] = os.NewFile(uintptr(mine), names[i])
	}
	return child, parent, nil
}

// closeChildEnds closes the pipe ends and /dev/null fds handed to a child
// (not the files the Spec supplied).
func closeChildEnds(spec *Spec, child [3]int) {
	given := [3]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}
	for i, fd := range child {
		if given[i] == nil && fd >= 0 {
			unix.Close(fd)
		}
	}
}

// prepare starts a launcher for pl: pipes, clone into the group's
// cgroup2 directory, self-placement in its v1 hierarchies, then waits
// until it is parked. (The group's run baseline was taken by the pool:
// Get hands out groups with BeginRun done.)
// This is the expensive, off-the-hot-path half of a fire; a cgroup.procs
// write after a quiet spell waits for an RCU grace period here, not in
// the fire. spec supplies the stdio files, or nil for pipes.
func (b *linuxBackend) prepare(pl *launcherPool, spec *Spec) (*child, error) {
	if spec == nil {
		spec = &Spec{Pipes: PipeAll} // a pooled launcher: pipes on every stream
	}
	g, err := pl.getGroup()
	if err != nil {
		return nil, err
	}
	c := newChild(b, pl, g)
	// Nothing here depends on the hook: every failure is the supervisor's.
	fail := func(err error) (*child, error) {
		c.destroy()
		return nil, supervisorFault(err)
	}
	childFDs, parent, err := stdioPipes(spec)
	if err != nil {
		return fail(err)
	}
	c.stdio = parent
	var ctl, st [2]int
	if err := unix.Pipe2(ctl[:], unix.O_CLOEXEC); err != nil {
		closeChildEnds(spec, childFDs)
		return fail(os.NewSyscallError("pipe2", err))
	}
	if err := unix.Pipe2(st[:], unix.O_CLOEXEC); err != nil {
		closeChildEnds(spec, childFDs)
		unix.Close(ctl[0])
		unix.Close(ctl[1])
		return fail(os.NewSyscallError("pipe2", err))
	}
	c.control, c.status = ctl[1], st[0]
	files := []uintptr{uintptr(childFDs[0]), uintptr(childFDs[1]), uintptr(childFDs[2]), uintptr(ctl[0]), uintptr(st[1])}
	// The launcher places itself in the v1 hierarchies (see launcher.c):
	// the migration, and the RCU grace period it may wait for, happen in
	// the launcher, not in a supervisor thread.
	var procs []int
	if g != nil && g.NeedsV1Placement() {
		if procs = g.ProcsFDs(); len(procs) > launcher.MaxPlace {
			procs = nil // cannot happen (one per hierarchy); the parent places
		}
		for _, fd := range procs {
			files = append(files, uintptr(fd))
		}
	}
	ops := pl.plan.ops
	procFD := -1
	if pl.plan.hideProc {
		// One detached procfs per launcher: an attached mount cannot be
		// attached again elsewhere.
		var err error
		if procFD, err = hiddenProc(); err != nil {
			closeChildEnds(spec, childFDs)
			unix.Close(ctl[0])
			unix.Close(st[1])
			return fail(&SpawnError{Path: "launcher", Err: err})
		}
		defer unix.Close(procFD)
		ops = append(slices.Clip(ops), launcher.ProcMount(len(files)))
		files = append(files, uintptr(procFD))
	}
	pl.mu.Lock()
	if pl.plan.landlock >= 0 {
		// The launcher gets the pool's ruleset as one of its files.
		ops = append(slices.Clip(ops), launcher.Landlock(len(files)))
		files = append(files, uintptr(pl.plan.landlock))
	}
	exe, files := b.exe.Attach(files)
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Files: files,
		Sys:   &syscall.SysProcAttr{Cloneflags: pl.plan.clone, Unshareflags: pl.plan.unshare},
	}
	if !pl.plan.credInLauncher {
		attr.Sys.Credential = sysCredential(pl.cred)
	}
	pid, pfd, placed, err := b.clone(exe, launcher.Argv(len(procs), ops...), attr, g)
	pl.mu.Unlock()
	closeChildEnds(spec, childFDs)
	unix.Close(ctl[0])
	unix.Close(st[1])
	if err != nil {
		return fail(&SpawnError{Path: "launcher", Err: err})
	}
	if err := c.started(pid, pfd); err != nil {
		return fail(err)
	}
	var ready [launcher.StatusSize]byte
	n, err := readFull(c.status, ready[:1])
	if n == 1 && ready[0] != launcher.Ready {
		m, _ := readFull(c.status, ready[1:])
		err = launcher.DecodeStatus(ready[:1+m])
	}
	if err != nil || n != 1 {
		return fail(fmt.Errorf("launcher did not get ready: %w", err))
	}
	// The parent places what the launcher did not: the unified group when
	// clone3 was refused, or v1 hierarchies beyond MaxPlace.
	if g != nil && ((g.UnifiedFD() >= 0 && !placed) || (g.NeedsV1Placement() && procs == nil)) {
		if err := g.Place(pid); err != nil {
			return fail(fmt.Errorf("place launcher in group %s: %w", g.Name(), err))
		}
	}
	c.parked = true
	return c, nil
}

// fire tells a parked launcher to exec the spec and waits for the exec's
// outcome: EOF on the status pipe (close-on-exec) or the launcher's
// error report. It bounds the wait by ctx's deadline.
func (b *linuxBackend) fire(ctx context.Context, c *child, spec *Spec, path string) error {
	req := launcher.Request{
		Path:   path,
		Argv:   append([]string{spec.Path}, spec.Args...),
		Env:    spec.Env,
		Dir:    spec.Dir,
		NoFile: spec.Limits.NoFile,
	}
	if req.Dir == "/" {
		req.Dir = "" // the launcher already runs in /
	}
	if req.Env == nil {
		req.Env = []string{}
	}
	msg, err := req.Encode(make([]byte, 0, 512))
	if err != nil {
		return &SpawnError{Path: spec.Path, Err: err}
	}
	c.parked = false
	if err := writeFull(c.control, msg); err != nil {
		return errLauncherGone
	}
	unix.Close(c.control)
	c.control = -1
	var st [launcher.StatusSize]byte
	n, err := readStatus(ctx, c.status, st[:])
	unix.Close(c.status)
	c.status = -1
	if err != nil {
		return err
	}
	if err := launcher.DecodeStatus(st[:n]); err != nil {
		return &SpawnError{Path: spec.Path, Err: err}
	}
	return nil
}

// errLauncherGone: the parked launcher died before it got its request;
// the caller takes another one.
var errLauncherGone = errors.New("launcher exited while parked")

// direct spawns the hook itself: clone3 into the group on v2; on v1 the
// child is placed after it started, so it is not race-free (Start only
// gets here for a capped spec when AllowUncapped is set).
func (b *linuxBackend) direct(spec *Spec, path string, pl *launcherPool) (*child, error) {
	g, err := pl.getGroup()
	if err != nil {
		return nil, err
	}
	c := newChild(b, pl, g)
	fail := func(err error) (*child, error) {
		c.destroy()
		return nil, err
	}
	childFDs, parent, err := stdioPipes(spec)
	if err != nil {
		return fail(supervisorFault(err))
	}
	c.stdio = parent
	dir := spec.Dir
	if dir == "" {
		dir = "/"
	}
	env := spec.Env
	if env == nil {
		env = []string{}
	}
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{uintptr(childFDs[0]), uintptr(childFDs[1]), uintptr(childFDs[2])},
		Sys:   &syscall.SysProcAttr{Credential: sysCredential(pl.cred)},
	}
	pid, pfd, placed, err := b.clone(path, append([]string{spec.Path}, spec.Args...), attr, g)
	closeChildEnds(spec, childFDs)
	if err != nil {
		return fail(&SpawnError{Path: spec.Path, Err: err})
	}
	if err := c.started(pid, pfd); err != nil {
		return fail(supervisorFault(err))
	}
	if g != nil && (g.NeedsV1Placement() || !placed) {
		// ESRCH: the child was faster than its placement and is gone; its
		// status says how it ended.
		if err := g.Place(pid); err != nil && !errors.Is(err, unix.ESRCH) {
			return fail(supervisorFault(fmt.Errorf("place %s in group %s: %w", spec.Path, g.Name(), err)))
		}
	}
	// Without a launcher the rlimits can only be set from outside, after
	// the start (as runc does with prlimit).
	rl := unix.Rlimit{}
	unix.Prlimit(pid, unix.RLIMIT_CORE, &rl, nil)
	if n := spec.Limits.NoFile; n > 0 {
		rl = unix.Rlimit{Cur: n, Max: n}
		if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &rl, nil); err != nil && err != unix.ESRCH {
			return fail(&SpawnError{Path: spec.Path, Err: fmt.Errorf("prlimit RLIMIT_NOFILE: %w", err)})
		}
	}
	return c, nil
}

func sysCredential(c *Credential) *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: append([]uint32(nil), c.Groups...)}
}

// readFull reads len(p) bytes from a blocking fd, or fewer at EOF.
func readFull(fd int, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Read(fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func writeFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readStatus reads the status pipe to EOF (at most len(p) bytes), waiting
// at most until ctx's deadline. A plain blocking read would be a few µs
// cheaper, but an exec of a program on a hung filesystem must not outlive
// the fire's budget.
func readStatus(ctx context.Context, fd int, p []byte) (int, error) {
	n := 0
	for {
		timeout := -1
		if dl, ok := ctx.Deadline(); ok {
			ms := time.Until(dl).Milliseconds()
			if ms <= 0 {
				ms = 0
			}
			timeout = int(ms) + 1
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, os.NewSyscallError("poll", err)
		}
		if k == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			return n, context.DeadlineExceeded
		}
		m, err := unix.Read(fd, p[n:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return n, os.NewSyscallError("read", err)
		}
		if m == 0 || n+m == len(p) {
			return n + m, nil
		}
		n += m
	}
}
