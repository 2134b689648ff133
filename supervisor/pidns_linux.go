// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/internal/launcher"
	"github.com/hooksupd/hooksupd/supervisor/pidfd"
)

// No hook outlives the supervisor, enforced by the kernel.
//
// Pdeathsig reaches only a direct child: a hook that double-forks, or
// whose children call setsid, leaves grandchildren that are reparented to
// PID 1 when the supervisor is SIGKILLed, and only the next start's sweep
// of the cgroup subtree would find them. Where the supervisor may create
// PID namespaces (CAP_SYS_ADMIN), it therefore starts, once, a keeper: the
// launcher binary in keeper mode (csrc/launcher.c), PID 1 of a new PID
// namespace. The spawner thread then joins that namespace for its children
// (setns CLONE_NEWPID changes only where children are born), so every
// launcher and every directly cloned hook, and all their descendants, live
// in it. The keeper exits at EOF on a pipe whose only write end the
// supervisor holds (the kernel closes it however the supervisor dies) and
// at its parent-death signal; when a namespace's init exits the kernel
// SIGKILLs every process in it. Nothing is paid per fire, no userspace
// step has to run after the supervisor is gone, and a hook cannot opt out
// (a process cannot leave its PID namespace).
//
// Alternatives weighed: a subreaper that kills its descendants when told
// the supervisor died is userspace (and must itself be the ancestor of
// every hook, which rules out the supervisor's own clone3 and pidfds); a
// cgroup sweep only runs at the next start; a user namespace does not
// help an unprivileged supervisor, because setns into a user namespace is
// refused to a multi-threaded process and joining the PID namespace needs
// CAP_SYS_ADMIN over it. Where the keeper cannot be started, hooks run in
// the supervisor's namespace as before (Pdeathsig for the direct child,
// the sweep for the rest) and Mechanisms says so.
//
// What a hook notices: its own pid ($$, getpid) is its pid in that
// namespace, not the host's; /proc is the host's, so /proc/self/stat
// still names the host pid, and pids the supervisor reports are host pids.

// keeper is the PID 1 of the supervisor's hook namespace.
type keeper struct {
	mu   sync.Mutex
	pid  int
	pfd  *pidfd.FD
	life int // write end of the lifeline; -1 when no keeper runs
	// dead is set by the watcher when the keeper exited: the namespace is
	// gone (the kernel refuses new processes in it with ENOMEM) and the
	// next clone starts a new keeper first.
	dead atomic.Bool
	// active is set while children are born in the keeper's namespace
	// (then they get no Pdeathsig: see linuxBackend.clone).
	active  atomic.Bool
	restart sync.Mutex
	note    string // why there is no keeper, for Mechanisms; guarded by mu
}

// openKeeper starts the keeper at backend start, where permitted.
func (b *linuxBackend) openKeeper() {
	k := b.keeper
	var err error
	switch {
	case b.cfg.hostPIDs:
		k.note = "disabled"
		return
	case launcher.Blob() == nil:
		k.note = "no launcher binary for this architecture to be the namespace's init"
		return
	}
	if b.kexe, err = launcher.LoadNamed("hooksupd-keeper"); err == nil {
		err = b.startKeeper()
	}
	if err != nil {
		k.note = err.Error()
		if errors.Is(err, unix.EPERM) {
			k.note = "creating a PID namespace needs CAP_SYS_ADMIN"
		}
		b.log.Info("hooks run in the supervisor's PID namespace", "reason", k.note)
	}
}

// startKeeper starts the keeper and moves the spawner thread's children
// into its namespace. An error leaves the thread's children in the
// supervisor's own namespace.
func (b *linuxBackend) startKeeper() error {
	k := b.keeper
	var life [2]int
	if err := unix.Pipe2(life[:], unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(life[0])
		unix.Close(life[1])
		return err
	}
	defer null.Close()
	path, files := b.kexe.Attach([]uintptr{null.Fd(), null.Fd(), null.Fd(), uintptr(life[0])})
	raw := -1
	attr := &syscall.ProcAttr{Dir: "/", Files: files, Sys: &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID,
		// Its own process group: a terminal's ^C for the supervisor's
		// group must not reach it (the keeper sets its own parent-death
		// signal: Go's Pdeathsig check compares getppid(), which is 0
		// across a namespace boundary).
		Setpgid: true,
		PidFD:   &raw,
	}}
	var pid int
	var serr error
	if derr := b.spawn.do(func() {
		// A keeper restarted after the last one died must not be born
		// below the dead namespace: go back to the thread's own first.
		if serr = resetPidNS(); serr != nil {
			return
		}
		if pid, _, serr = syscall.StartProcess(path, launcher.KeeperArgv(), attr); serr != nil {
			return
		}
		if serr = joinPidNS(pid, raw); serr != nil {
			unix.Kill(pid, unix.SIGKILL)
		}
	}); derr != nil {
		serr = derr
	}
	unix.Close(life[0])
	if serr != nil {
		unix.Close(life[1])
		if pid > 0 {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
		if raw >= 0 {
			unix.Close(raw)
		}
		return serr
	}
	pfd := pidfd.New(raw)
	k.mu.Lock()
	k.pid, k.pfd, k.life, k.note = pid, pfd, life[1], ""
	k.dead.Store(false)
	k.active.Store(true)
	k.mu.Unlock()
	if err := b.watch.Add(pfd, func() { b.keeperExited(pfd) }); err != nil {
		// Without a watch nobody would reap it; run without it.
		b.stopKeeper()
		return fmt.Errorf("watch keeper: %w", err)
	}
	return nil
}

// resetPidNS points the calling thread's children back at the thread's
// own PID namespace.
func resetPidNS() error {
	fd, err := unix.Open("/proc/thread-self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open own pid namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// joinPidNS makes the calling thread's later children be born in the PID
// namespace of pid (through its pidfd from Linux 5.8, else /proc).
func joinPidNS(pid, pfd int) error {
	err := unix.Setns(pfd, unix.CLONE_NEWPID)
	if err == nil {
		return nil
	}
	fd, oerr := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return os.NewSyscallError("setns", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// keeperExited runs on the watcher when the keeper is gone: the kernel
// has killed every hook. Unless the backend is closing, that is an
// outside kill of the keeper, and the next clone starts a new one.
func (b *linuxBackend) keeperExited(pfd *pidfd.FD) {
	st, _ := pfd.Wait()
	defer pfd.Close()
	k := b.keeper
	k.mu.Lock()
	mine, pid := k.pfd == pfd, k.pid
	if mine {
		k.dead.Store(true)
		if k.life >= 0 {
			unix.Close(k.life)
			k.life = -1
		}
	}
	k.mu.Unlock()
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if mine && !closed {
		b.log.Error("hook namespace keeper exited; every hook in it was killed", "child_pid", pid, "code", st.Code, "signal", st.Signal)
	}
}

// ensureKeeper restarts a keeper that died, before a clone. When that
// fails, children are born in the supervisor's own namespace again (and
// get Pdeathsig), and Mechanisms says why.
func (b *linuxBackend) ensureKeeper() {
	k := b.keeper
	if !k.dead.Load() {
		return
	}
	k.restart.Lock()
	defer k.restart.Unlock()
	if !k.dead.Load() {
		return
	}
	k.mu.Lock()
	if k.life >= 0 { // a keeper that still runs exits at EOF
		unix.Close(k.life)
		k.life = -1
	}
	k.pfd = nil // the watcher reaps the old keeper and closes its pidfd
	k.mu.Unlock()
	if err := b.startKeeper(); err != nil {
		b.spawn.do(func() { resetPidNS() })
		k.mu.Lock()
		k.note = "keeper restart failed: " + err.Error()
		k.active.Store(false)
		k.dead.Store(false)
		k.mu.Unlock()
		b.log.Error("hook namespace keeper could not be restarted; hooks run in the supervisor's PID namespace", "err", err)
	}
}

// stopKeeper ends the keeper (and with it whatever is left in the
// namespace) and waits for its reap.
func (b *linuxBackend) stopKeeper() {
	k := b.keeper
	k.mu.Lock()
	pfd := k.pfd
	k.pfd = nil
	k.active.Store(false)
	if k.life >= 0 {
		unix.Close(k.life) // EOF: the keeper exits 0
		k.life = -1
	}
	k.mu.Unlock()
	if pfd == nil {
		return
	}
	if !k.dead.Load() {
		b.watch.Remove(pfd)
		// An error means the watcher reaped it first.
		pfd.Wait()
	}
	pfd.Close()
}

// pidNSNote is the Mechanisms note about orphans.
func (b *linuxBackend) pidNSNote() string {
	k := b.keeper
	k.mu.Lock()
	note := k.note
	k.mu.Unlock()
	if k.active.Load() {
		return "orphans: every hook is born in a PID namespace whose init dies with the supervisor; the kernel kills the rest"
	}
	return "orphans: not kernel-enforced (" + note + "): a hook's direct child dies with the supervisor, its descendants are swept at the next start"
}

// outside runs fn on the spawner thread with its children born in the
// thread's own PID namespace, then points them back at the keeper's.
func (k *keeper) outside(fn func()) error {
	k.mu.Lock()
	pid, pfd := k.pid, k.pfd
	k.mu.Unlock()
	if pfd == nil {
		fn()
		return nil
	}
	if err := resetPidNS(); err != nil {
		return err
	}
	fn()
	raw := pfd.Raw()
	if err := joinPidNS(pid, raw); err != nil {
		// Cannot happen while the keeper lives. The thread's children
		// would now be born outside any keeper: have the next clone start
		// a new one (which resets the thread first).
		k.dead.Store(true)
		return fmt.Errorf("rejoin hook namespace: %w", err)
	}
	return nil
}
