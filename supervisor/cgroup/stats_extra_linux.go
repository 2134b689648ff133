// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"path/filepath"
	"time"
)

// The figures of a run beyond CPU and memory: CPU throttling (from the
// cpu controller's cpu.stat: v2 nr_throttled / throttled_usec, v1
// nr_throttled / throttled_time in ns) and the task peak (pids.peak, the
// same file in v1 and v2, missing on older kernels). A file the kernel
// lacks leaves its figure 0: these are statistics, never a reason to fail
// a run.

// throttleFile is the cpu.stat that counts throttling: the group's own on
// v2, the cpu hierarchy's on v1 and hybrid. "" without a quota, where
// nothing throttles (and BeginRun then reads no extra file).
func (g *Group) throttleFile() string {
	if g.limits.CPUQuota <= 0 {
		return ""
	}
	if g.m.mode == Unified {
		if g.uni == "" {
			return ""
		}
		return filepath.Join(g.uni, "cpu.stat")
	}
	for _, d := range g.dirs {
		if !d.h.v2 && d.h.has("cpu") {
			return filepath.Join(d.path, "cpu.stat")
		}
	}
	return ""
}

// throttled reads the throttled periods and time; 0, 0 without a file.
func (g *Group) throttled() (uint64, time.Duration) {
	p := g.throttleFile()
	if p == "" {
		return 0, 0
	}
	b, err := readFile(p)
	if err != nil {
		return 0, 0
	}
	n, _ := keyValue(b, "nr_throttled")
	if us, ok := keyValue(b, "throttled_usec"); ok {
		return n, time.Duration(us) * time.Microsecond
	}
	ns, _ := keyValue(b, "throttled_time")
	return n, time.Duration(ns)
}

// pidsPeak reads pids.peak; ok is false where the kernel has none.
func (g *Group) pidsPeak() (uint64, bool) {
	if g.pidsDir == "" {
		return 0, false
	}
	v, err := readUintFile(filepath.Join(g.pidsDir, "pids.peak"))
	return v, err == nil
}

// beginExtra takes the baselines of the figures above, so that a reused
// group reports this run's throttling, and a task peak only when this run
// raised it (pids.peak cannot be reset).
func (g *Group) beginExtra() {
	n, d := g.throttled()
	g.nrThrottledBase.Store(n)
	g.throttledBase.Store(int64(d))
	if p, ok := g.pidsPeak(); ok {
		g.pidsPeakBase.Store(p)
	}
}

// extraStats fills st's throttling and task peak since BeginRun.
func (g *Group) extraStats(st *Stats) {
	n, d := g.throttled()
	st.NrThrottled = n - min(n, g.nrThrottledBase.Load())
	st.CPUThrottled = max(d-time.Duration(g.throttledBase.Load()), 0)
	if p, ok := g.pidsPeak(); ok {
		// A fresh group starts at 0; a reused one reports a peak only when
		// this run went above the earlier ones.
		if base := g.pidsPeakBase.Load(); p > base || base == 0 {
			st.PidsPeak = int64(p)
		}
	}
}
