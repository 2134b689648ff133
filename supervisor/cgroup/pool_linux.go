// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"slices"
	"sync"
)

// Pool keeps a stock of clean, empty groups of one name and one set of
// limits, their files open, so that a fire takes a group without mkdir,
// limit writes or opens. Its methods are safe for concurrent use.
type Pool struct {
	m      *Manager
	name   string
	limits Limits
	size   int

	mu     sync.Mutex
	stock  []*Group
	closed bool
}

// NewPool returns a pool of up to size groups named "<name>-<seq>" with
// limits l, and makes them now where it can (errors show at Get).
func (m *Manager) NewPool(name string, l Limits, size int) *Pool {
	p := &Pool{m: m, name: name, limits: l, size: max(size, 0)}
	m.mu.Lock()
	m.pools[p] = struct{}{}
	m.mu.Unlock()
	for range p.size {
		g, err := m.NewGroup(name, l)
		if err != nil {
			break
		}
		g.pool = p
		p.stock = append(p.stock, g)
	}
	return p
}

// Get returns a clean group: empty, BeginRun done, so no OOM kill, CPU
// time or memory peak of an earlier run is counted for the next one, and
// the CPU quota is whole. It takes one from the stock (running the
// BeginRun that Put left to it) or creates one.
func (p *Pool) Get() (*Group, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errClosed
		}
		n := len(p.stock)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		g := p.stock[n-1]
		p.stock = p.stock[:n-1]
		p.mu.Unlock()
		if !g.needsBegin.Load() {
			return g, nil
		}
		if err := g.BeginRun(); err == nil {
			return g, nil
		}
		_ = g.Delete() // a group that cannot start a run is not handed out
	}
	g, err := p.m.NewGroup(p.name, p.limits)
	if err != nil {
		return nil, err
	}
	g.pool = p
	return g, nil
}

// Put takes back a group from Get once its tree is gone. A group that is
// empty, was never killed through cgroup.kill (see Group.Kill) and fits in
// the stock is kept; that costs one read of cgroup.events on v2 and hybrid
// hosts, and leaves BeginRun to the next Get, so that Put can end a fire
// cheaply. Any other group, or one from another pool, is deleted.
func (p *Pool) Put(g *Group) {
	if g == nil {
		return
	}
	if g.pool != p || g.cgKilled.Load() {
		_ = g.Delete()
		return
	}
	if empty, err := g.Empty(); err != nil || !empty {
		_ = g.Delete()
		return
	}
	g.needsBegin.Store(true)
	p.mu.Lock()
	if slices.Contains(p.stock, g) { // put twice
		p.mu.Unlock()
		return
	}
	if p.closed || len(p.stock) >= p.size || g.isDeleted() {
		p.mu.Unlock()
		_ = g.Delete()
		return
	}
	p.stock = append(p.stock, g)
	p.mu.Unlock()
}

// Close deletes the stock; groups Put later are deleted.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	stock := p.stock
	p.stock = nil
	p.mu.Unlock()
	p.m.mu.Lock()
	delete(p.m.pools, p)
	p.m.mu.Unlock()
	var errs []error
	for _, g := range stock {
		errs = append(errs, g.Delete())
	}
	return errors.Join(errs...)
}
