// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"fmt"
	"path/filepath"
	"time"
)

// Per-run accounting: baselines taken by BeginRun, deltas read by
// OOMKilled and Stats through the files kept open by the group.

// BeginRun starts a run: it reads the oom_kill and CPU baselines, resets
// the memory peak where the kernel can, and writes the CPU quota again
// (which refills the period's runtime), so that OOMKilled, Stats and the
// CPU limit speak of this run only, not of an earlier run in the group.
func (g *Group) BeginRun() error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.deleted {
		return fmt.Errorf("cgroup: deleted group %s", g.name)
	}
	return g.beginLocked()
}

// beginLocked is BeginRun with g.mu held: a few preads and writes on kept
// files, no open and no allocation.
func (g *Group) beginLocked() error {
	if g.oomFD >= 0 {
		n, err := g.oomCount()
		if err != nil {
			return err
		}
		g.oomBase.Store(n)
	}
	if g.peakFD >= 0 && g.peakResettable.Load() {
		if _, err := sysWrite(g.peakFD, []byte("0"), "memory peak"); err != nil {
			if g.memV2 {
				g.peakResettable.Store(false)
			} else {
				return fmt.Errorf("cgroup: reset memory peak of %s: %w", g.name, err)
			}
		}
	}
	if g.peakFD >= 0 && !g.peakResettable.Load() {
		p, err := g.peak()
		if err != nil {
			return err
		}
		g.peakBase.Store(p)
	}
	cpu, err := g.cpuUsage()
	if err != nil {
		return err
	}
	g.cpuBase.Store(int64(cpu))
	g.beginExtra()
	if g.quotaFD >= 0 {
		// The quota is a budget per period, and a reused group would start
		// a run with what the previous run left of the current period; the
		// kernel refills the runtime whenever the quota is written
		// (tg_set_cfs_bandwidth), as for a new group.
		if _, err := sysWrite(g.quotaFD, g.quotaVal, "cpu quota"); err != nil {
			return fmt.Errorf("cgroup: refill CPU quota of %s: %w", g.name, err)
		}
	}
	g.needsBegin.Store(false)
	return nil
}

// oomCount reads the oom_kill counter (v2 memory.events, v1
// memory.oom_control). It counts processes killed by any OOM killer
// inside the group, which is what "the tree was OOM-killed" means.
func (g *Group) oomCount() (uint64, error) {
	var buf [512]byte
	b, err := preadAll(g.oomFD, buf[:])
	if err != nil {
		return 0, fmt.Errorf("cgroup: read oom_kill of %s: %w", g.name, err)
	}
	n, ok := keyValue(b, "oom_kill")
	if !ok {
		return 0, fmt.Errorf("cgroup: no oom_kill counter in %s (Linux < 4.13): %w", g.mem, ErrNotSupported)
	}
	return n, nil
}

// peak reads the kept memory peak file.
func (g *Group) peak() (uint64, error) {
	var buf [32]byte
	b, err := preadAll(g.peakFD, buf[:])
	if err != nil {
		return 0, fmt.Errorf("cgroup: read memory peak of %s: %w", g.name, err)
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, fmt.Errorf("cgroup: parse memory peak of %s: %w", g.name, err)
	}
	return v, nil
}

// OOMKilled reports whether the OOM killer killed a process of the group
// since BeginRun.
func (g *Group) OOMKilled() (bool, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.oomFD < 0 {
		return false, fmt.Errorf("cgroup: group %s has no memory accounting: %w", g.name, ErrNotSupported)
	}
	n, err := g.oomCount()
	if err != nil {
		return false, err
	}
	return n > g.oomBase.Load(), nil
}

// cpuUsage reads the group's total CPU time through the kept fd.
func (g *Group) cpuUsage() (time.Duration, error) {
	if g.cpuFD < 0 {
		return 0, nil
	}
	var buf [1024]byte
	b, err := preadAll(g.cpuFD, buf[:])
	if err != nil {
		return 0, fmt.Errorf("cgroup: read %s: %w", g.cpuFile, err)
	}
	if filepath.Base(g.cpuFile) == "cpu.stat" {
		us, ok := keyValue(b, "usage_usec")
		if !ok {
			return 0, fmt.Errorf("cgroup: %s has no usage_usec: %w", g.cpuFile, ErrNotSupported)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	ns, err := parseUint(b)
	if err != nil {
		return 0, fmt.Errorf("cgroup: parse %s: %w", g.cpuFile, err)
	}
	return time.Duration(ns), nil
}

// Stats reads the group's figures. CPU, OOMKills and MemoryPeak cover the
// run since BeginRun. MemoryPeak is 0 when the kernel cannot tell: no
// memory.peak (v2 before Linux 5.19), or a reused group on a v2 kernel
// before 6.12 (no per-fd reset) whose run stayed below an earlier run's
// peak; the Pool still reuses such groups, as a fresh group per fire costs
// more than the statistic is worth. Fields the host cannot report are 0.
func (g *Group) Stats() (Stats, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var st Stats
	if g.deleted {
		return st, fmt.Errorf("cgroup: deleted group %s", g.name)
	}
	cpu, err := g.cpuUsage()
	if err != nil {
		return st, err
	}
	st.CPU = max(cpu-time.Duration(g.cpuBase.Load()), 0)
	if g.mem != "" {
		cur := "memory.usage_in_bytes"
		if g.memV2 {
			cur = "memory.current"
		}
		v, err := readUintFile(filepath.Join(g.mem, cur))
		if err != nil {
			return st, err
		}
		st.MemoryCurrent = int64(v)
		if g.peakFD >= 0 {
			p, err := g.peak()
			if err != nil {
				return st, err
			}
			// A peak that cannot be reset is the group's all-time peak:
			// it speaks of this run only when this run raised it.
			if g.peakResettable.Load() || p > g.peakBase.Load() {
				st.MemoryPeak = int64(p)
			}
		}
		n, err := g.oomCount()
		if err != nil {
			return st, err
		}
		st.OOMKills = n - min(n, g.oomBase.Load())
	}
	if g.pidsDir != "" {
		v, err := readUintFile(filepath.Join(g.pidsDir, "pids.current"))
		if err != nil {
			return st, err
		}
		st.Pids = int64(v)
	} else {
		st.Pids = int64(len(treePidsOf(g.dirs[:1]))) // processes, not tasks
	}
	g.extraStats(&st)
	return st, nil
}
