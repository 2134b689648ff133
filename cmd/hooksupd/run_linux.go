// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reraise kills hooksupd with sig, CMD's death signal, as GNU timeout
// does. The Go runtime's handler would not die of every signal (SIGQUIT
// dumps goroutines and exits 2, SIGUSR1 is swallowed), so the kernel's
// default action is restored first with rt_sigaction, and core dumps are
// off, as in GNU timeout: the core would be hooksupd's, not CMD's. If the
// signal does not kill (its default is to ignore it), reraise returns and
// the caller exits 128+N.
func reraise(sig syscall.Signal) {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	// struct sigaction with every field zero is SIG_DFL on all the
	// architectures whose layout is handler, flags, restorer, mask.
	var act [4]uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
		return
	}
	runtime.LockOSThread()
	mask := uint64(1) << (uint(sig) - 1)
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	// A default action of "ignore" (SIGCHLD, SIGWINCH, SIGURG) ends here.
	time.Sleep(10 * time.Millisecond)
	runtime.UnlockOSThread()
}

// applyNice sets the niceness of every thread of hooksupd, so that CMD,
// started from one of them (or from a launcher forked by one), inherits
// it: on Linux niceness is per thread, and a new thread takes its
// creator's. hooksupd only waits while CMD runs, so its own lower
// priority costs nothing.
func applyNice(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return unix.Setpriority(unix.PRIO_PROCESS, 0, n)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}
