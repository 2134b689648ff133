//go:build unix

package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// foregroundTTY hands the controlling terminal to CMD's process group
// while CMD runs, when hooksupd run is the terminal's foreground job.
//
// Both backends start CMD in a process group of its own (so the tree can
// be signalled as one); on a terminal that group is a background job, and
// the kernel stops it with SIGTTIN the moment it reads the terminal (an
// interactive `hooksupd run -- bash` would hang). timeout(1) has the same
// problem and leaves it to --foreground; here the hand-over is automatic.
// The returned function gives the terminal back.
func foregroundTTY(pid int) (restore func()) {
	noop := func() {}
	fd := -1
	var fg int
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP); err == nil {
			fd, fg = int(f.Fd()), pg
			break
		}
	}
	if fd < 0 || fg != unix.Getpgrp() {
		return noop // no terminal, or hooksupd itself runs in the background
	}
	pgid, err := unix.Getpgid(pid)
	if err != nil || pgid == fg {
		return noop
	}
	// Taking the terminal back happens from a background group, which the
	// kernel answers with SIGTTOU unless it is ignored. CMD has been
	// started already, so it does not inherit the ignored disposition.
	signal.Ignore(unix.SIGTTOU)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgid); err != nil {
		signal.Reset(unix.SIGTTOU)
		return noop
	}
	// CMD may have touched the terminal before it was its own and been
	// stopped for it; let it go on.
	_ = unix.Kill(-pgid, unix.SIGCONT)
	return func() {
		_ = unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, fg)
		signal.Reset(unix.SIGTTOU)
	}
}
