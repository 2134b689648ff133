// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalTreeWith sends sig to every process of the tree (see SignalTree).
func (p *linuxProcess) signalTreeWith(sig syscall.Signal) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released {
		return nil
	}
	if p.group != nil {
		if pids, err := p.group.Pids(); err == nil {
			for _, pid := range pids {
				_ = unix.Kill(pid, sig)
			}
			return nil
		}
	}
	if err := unix.Kill(-p.pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// releaseStats kills what is left of the tree, waits until the group is
// empty, reads its figures and releases (see ReleaseStats).
func (p *linuxProcess) releaseStats() (Stats, error) {
	p.mu.RLock()
	g, released := p.group, p.released
	p.mu.RUnlock()
	if g == nil || released {
		err := p.Release()
		st, _ := p.Stats()
		return st, err
	}
	if empty, err := g.Empty(); err != nil || !empty {
		_ = p.Kill()
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseBound)
	defer cancel()
	select {
	case <-p.c.done:
	case <-ctx.Done():
	}
	var st Stats
	var serr error
	p.mu.RLock()
	if !p.released && p.group != nil {
		if serr = p.group.WaitEmpty(ctx); serr == nil {
			st, serr = p.groupStats()
		}
	}
	p.mu.RUnlock()
	if err := p.Release(); err != nil {
		return st, err
	}
	return st, serr
}

// groupStats reads the group's figures; p.mu is held for reading.
func (p *linuxProcess) groupStats() (Stats, error) {
	gs, err := p.group.Stats()
	if err != nil {
		return Stats{}, err
	}
	s := Stats{CPU: gs.CPU, MemoryCurrent: gs.MemoryCurrent, MemoryPeak: gs.MemoryPeak, OOMKills: gs.OOMKills,
		Pids: gs.Pids, CPUThrottled: gs.CPUThrottled, ThrottledPeriods: gs.NrThrottled, PidsPeak: gs.PidsPeak}
	if s.MemoryPeak == 0 {
		s.MemoryPeak = p.peakFallback()
	}
	return s, nil
}
