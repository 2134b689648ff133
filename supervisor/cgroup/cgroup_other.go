// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package cgroup

import (
	"context"
	"fmt"
	"runtime"
)

// errNoCgroups is what every operation returns where cgroups do not exist.
var errNoCgroups = fmt.Errorf("cgroup: no cgroups on %s: %w", runtime.GOOS, ErrNotSupported)

// DetectMode reports Unavailable: cgroups exist only on Linux.
func DetectMode() Mode { return Unavailable }

// Manager owns one subtree of groups. Open always fails on this OS.
type Manager struct{}

// Group is a cgroup; none can exist on this OS.
type Group struct{}

// Pool keeps clean groups; it never has any on this OS.
type Pool struct{}

// Open fails with an error wrapping ErrNotSupported.
func Open(opts Options) (*Manager, error) { return nil, errNoCgroups }

// Mode reports Unavailable.
func (m *Manager) Mode() Mode { return Unavailable }

// Path returns "".
func (m *Manager) Path() string { return "" }

// CanEnforce fails for any limit.
func (m *Manager) CanEnforce(l Limits) error {
	if l == (Limits{}) {
		return nil
	}
	return errNoCgroups
}

// KillMechanism returns "none".
func (m *Manager) KillMechanism() string { return "none" }

// NewGroup fails with an error wrapping ErrNotSupported.
func (m *Manager) NewGroup(name string, l Limits) (*Group, error) { return nil, errNoCgroups }

// NewPool returns a pool whose Get always fails.
func (m *Manager) NewPool(name string, l Limits, size int) *Pool { return &Pool{} }

// Close does nothing.
func (m *Manager) Close() error { return nil }

// Get fails with an error wrapping ErrNotSupported.
func (p *Pool) Get() (*Group, error) { return nil, errNoCgroups }

// Put does nothing.
func (p *Pool) Put(g *Group) {}

// Close does nothing.
func (p *Pool) Close() error { return nil }

// Name returns "".
func (g *Group) Name() string { return "" }

// UnifiedFD returns -1.
func (g *Group) UnifiedFD() int { return -1 }

// NeedsV1Placement returns false.
func (g *Group) NeedsV1Placement() bool { return false }

// ProcsFDs returns nil.
func (g *Group) ProcsFDs() []int { return nil }

// Place fails with an error wrapping ErrNotSupported.
func (g *Group) Place(pid int) error { return errNoCgroups }

// BeginRun fails with an error wrapping ErrNotSupported.
func (g *Group) BeginRun() error { return errNoCgroups }

// OOMKilled fails with an error wrapping ErrNotSupported.
func (g *Group) OOMKilled() (bool, error) { return false, errNoCgroups }

// Kill fails with an error wrapping ErrNotSupported.
func (g *Group) Kill() error { return errNoCgroups }

// Empty reports true: a group that cannot exist is empty.
func (g *Group) Empty() (bool, error) { return true, nil }

// WaitEmpty returns at once: a group that cannot exist is empty.
func (g *Group) WaitEmpty(ctx context.Context) error { return nil }

// Pids fails with an error wrapping ErrNotSupported.
func (g *Group) Pids() ([]int, error) { return nil, errNoCgroups }

// Stats fails with an error wrapping ErrNotSupported.
func (g *Group) Stats() (Stats, error) { return Stats{}, errNoCgroups }

// Delete does nothing.
func (g *Group) Delete() error { return nil }
