// SPDX-License-Identifier: Apache-2.0

//go:build unix && !linux

package main

import (
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reraise kills hooksupd with sig, CMD's death signal, as GNU timeout
// does; if the signal does not kill, it returns and the caller exits
// 128+N.
func reraise(sig syscall.Signal) {
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	signal.Reset(sig)
	_ = unix.Kill(unix.Getpid(), sig)
	time.Sleep(10 * time.Millisecond)
}

// applyNice sets the process's niceness, which CMD inherits.
func applyNice(n int) error { return unix.Setpriority(unix.PRIO_PROCESS, 0, n) }
