// SPDX-License-Identifier: Apache-2.0

// Package pidfd wraps Linux process file descriptors: open, signal, reap
// (waitid P_PIDFD with rusage) and exit readiness through one epoll set.
//
// Every pidfd has exactly one owner, an *FD, and is closed exactly once
// (golang/go#68984, #69284): operations in flight keep the descriptor
// alive, and the last of them closes it after Close was called. A Watcher
// observes the exit of many processes with one epoll set and one
// goroutine, so no goroutine or OS thread is blocked per child
// (golang/go#60320).
//
// The package is Linux only; on other systems it is empty.
package pidfd
