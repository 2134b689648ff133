// SPDX-License-Identifier: Apache-2.0

//go:build unix

package supervisor

import "syscall"

// signalTreeWith sends sig to the process group (see SignalTree).
func (p *portableProcess) signalTreeWith(sig syscall.Signal) error {
	p.mu.Lock()
	released := p.released
	p.mu.Unlock()
	if released {
		return nil // the group id may belong to someone else by now
	}
	return p.signalGroup(sig)
}

// releaseStats releases and returns the rusage figures: without a group
// nothing else is known of the tree.
func (p *portableProcess) releaseStats() (Stats, error) {
	err := p.Release()
	st, _ := p.Stats()
	return st, err
}
