// SPDX-License-Identifier: Apache-2.0

package supervisor

import "syscall"

// Operations on a whole tree that not every Process offers as a method
// (they are functions so that the Process interface stays as it is): a
// Process of this package's backends supports them, any other gets the
// nearest equivalent.

// treeProcess is implemented by the backends' processes.
type treeProcess interface {
	signalTreeWith(sig syscall.Signal) error
	releaseStats() (Stats, error)
}

// SignalTree sends sig to every process of p's tree: each process of its
// group (cgroup), or its process group where there is no group. It is how
// a supervisor relays a signal it got (SIGINT, SIGHUP, SIGUSR1) to the
// tree as itself, not as SIGTERM. A Process of another implementation
// gets p.Signal(sig), which reaches the direct child only.
func SignalTree(p Process, sig syscall.Signal) error {
	if tp, ok := p.(treeProcess); ok {
		return tp.signalTreeWith(sig)
	}
	return p.Signal(sig)
}

// ReleaseStats is Release that also returns the tree's final figures:
// what is left of the tree (processes the direct child left behind) is
// killed, and once the whole tree is gone its group is read, so that CPU
// time, memory peak, OOM kills, throttling and the task peak cover every
// process that ever ran in it, not only the direct child (rusage). Where
// there is no group the figures are the rusage ones. A Process of another
// implementation gets Stats then Release.
func ReleaseStats(p Process) (Stats, error) {
	if tp, ok := p.(treeProcess); ok {
		return tp.releaseStats()
	}
	st, serr := p.Stats()
	if err := p.Release(); err != nil {
		return st, err
	}
	return st, serr
}
