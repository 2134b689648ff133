// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// The soft limits: memory.high (v2 only) and the CPU weight (v2
// cpu.weight, v1 cpu.shares). They shape the tree under pressure and
// never kill, so nothing else of the group (OOM accounting, kill, stats)
// depends on them.

// CPU weight bounds, as systemd's CPUWeight= and the kernel's cpu.weight.
const (
	minCPUWeight = 1
	maxCPUWeight = 10000
)

// canEnforceWeights returns the errors for soft limits the host cannot
// enforce; the controllers themselves are checked by CanEnforce.
func (m *Manager) canEnforceWeights(l Limits) []error {
	var errs []error
	if l.MemoryHigh > 0 && m.mode != Unified {
		errs = append(errs, fmt.Errorf("memory_high needs cgroup v2 memory.high; this host is cgroup %s, where v1 has no equivalent: %w", m.mode, ErrNotSupported))
	}
	if l.CPUWeight > 0 && (l.CPUWeight < minCPUWeight || l.CPUWeight > maxCPUWeight) {
		errs = append(errs, fmt.Errorf("cpu_weight %d: want %d to %d", l.CPUWeight, minCPUWeight, maxCPUWeight))
	}
	return errs
}

// cpuShares converts a CPU weight to v1 cpu.shares as systemd does
// (weight 100, the default, is 1024 shares), within the kernel's bounds.
func cpuShares(weight uint64) uint64 {
	return min(max(weight*1024/100, 2), 262144)
}

// writeWeights writes the soft limits into the group's files.
func (g *Group) writeWeights() error {
	l := g.limits
	if g.m.mode == Unified {
		if l.MemoryHigh > 0 {
			if err := writeFile(filepath.Join(g.uni, "memory.high"), strconv.FormatInt(l.MemoryHigh, 10)); err != nil {
				return err
			}
		}
		if l.CPUWeight > 0 {
			if err := writeFile(filepath.Join(g.uni, "cpu.weight"), strconv.FormatUint(l.CPUWeight, 10)); err != nil {
				return err
			}
		}
		return nil
	}
	if l.CPUWeight == 0 {
		return nil
	}
	for _, d := range g.dirs {
		if !d.h.v2 && d.h.has("cpu") {
			return writeFile(filepath.Join(d.path, "cpu.shares"), strconv.FormatUint(cpuShares(l.CPUWeight), 10))
		}
	}
	return nil
}
