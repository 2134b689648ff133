package cgroup

import (
	"errors"
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

// Get returns a clean group: empty, BeginRun done, so no OOM kill or CPU
// time of an earlier run is counted for the next one. It takes one from
// the stock or creates one.
func (p *Pool) Get() (*Group, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if n := len(p.stock); n > 0 {
		g := p.stock[n-1]
		p.stock = p.stock[:n-1]
		p.mu.Unlock()
		return g, nil
	}
	p.mu.Unlock()
	g, err := p.m.NewGroup(p.name, p.limits)
	if err != nil {
		return nil, err
	}
	g.pool = p
	return g, nil
}

// Put takes back a group from Get once its tree is gone. An empty group is
// reset (BeginRun, off the fire's path) and kept while the stock has room;
// any other group, or one from another pool, is deleted.
func (p *Pool) Put(g *Group) {
	if g == nil {
		return
	}
	if g.pool != p {
		_ = g.Delete()
		return
	}
	if empty, err := g.isEmpty(); err != nil || !empty {
		_ = g.Delete()
		return
	}
	if err := g.BeginRun(); err != nil {
		_ = g.Delete()
		return
	}
	p.mu.Lock()
	if p.closed || len(p.stock) >= p.size {
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
