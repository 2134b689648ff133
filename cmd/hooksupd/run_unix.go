// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

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

// relayedSignals are the signals hooksupd run catches and relays to CMD's
// tree as themselves: GNU timeout's (HUP, INT, QUIT, TERM, ALRM), which
// also start the stop, and USR1 and USR2, which are only passed on.
var relayedSignals = []syscall.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGALRM, unix.SIGUSR1, unix.SIGUSR2,
}

// terminating reports whether sig, relayed, starts the stop of the tree.
func terminating(sig syscall.Signal) bool {
	return sig != unix.SIGUSR1 && sig != unix.SIGUSR2
}

// runSignals are the signal subscriptions of one run.
type runSignals struct {
	relay chan os.Signal
	pipe  chan os.Signal
}

// setupRunSignals subscribes to the relayed signals, except those ignored
// when hooksupd started: those stay ignored, here and (through exec) in
// CMD, as under GNU timeout. The Go runtime reports an inherited "ignore"
// for SIGHUP and SIGINT, the two nohup and background jobs set (it
// installs its own handlers for the others before main runs, so an
// ignored SIGQUIT, SIGTERM or SIGPIPE is not visible and CMD gets them
// with their default action).
//
// SIGPIPE is caught and dropped: a write to a closed stderr must not kill
// hooksupd before it has cleaned up and written the report (the write
// fails with EPIPE instead). CMD gets SIGPIPE's default action.
func setupRunSignals() *runSignals {
	s := &runSignals{relay: make(chan os.Signal, 4), pipe: make(chan os.Signal, 1)}
	var sigs []os.Signal
	for _, sig := range relayedSignals {
		if !signal.Ignored(sig) {
			sigs = append(sigs, sig)
		}
	}
	signal.Notify(s.relay, sigs...)
	signal.Notify(s.pipe, unix.SIGPIPE)
	return s
}

func (s *runSignals) stop() {
	signal.Stop(s.relay)
	// SIGPIPE stays caught until the process ends: messages written after
	// the run (to a closed stderr) must not kill hooksupd either.
}

// signalName is "TERM" for SIGTERM, as timeout(1) and kill(1) print it.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// parseSignal reads a signal as timeout -s does: a name with or without
// "SIG" (any case) or a number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("%q: invalid signal", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("%q: invalid signal", s)
}

// executable reports whether p may be executed by this process.
func executable(p string, _ os.FileInfo) bool {
	return unix.Access(p, unix.X_OK) == nil
}
