// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// cgdir is one directory of a group (or subtree) in one hierarchy.
type cgdir struct {
	h    *hier
	path string
}

// Group is the cgroup (v2) or set of cgroups (v1, hybrid) one process tree
// lives in. The files used on every run stay open for the group's life, so
// placing a process costs one write per hierarchy, and checking that the
// tree is gone, reading the OOM counter or starting a run (BeginRun) a
// pread or write each, without opens or allocations.
//
// A process belongs in every directory of the group: on hybrid hosts the
// unified one too (clone3 into UnifiedFD, or Place), as Kill (cgroup.kill)
// and WaitEmpty ("populated") act there.
//
// Its methods are safe for concurrent use; none may be called after Delete
// except Name and Delete.
type Group struct {
	m      *Manager
	name   string
	limits Limits
	dirs   []cgdir // the cgroup2 dir first, when there is one
	pool   *Pool   // the pool the group was last handed out by

	uni     string // cgroup2 dir (v2, or hybrid's unified tree); "" on v1
	mem     string // dir with the memory files ("" without memory accounting)
	memV2   bool
	cpuFile string // v2 cpu.stat or v1 cpuacct.usage ("" when unknown)
	pidsDir string // dir with pids.current ("" without the pids controller)

	// mu is write-held only by Delete: the fds below stay valid while a
	// method holds it for reading (a stale fd number could be reused by an
	// unrelated file and a pid written there).
	mu        sync.RWMutex
	deleted   bool
	unifiedFD int
	procsFDs  []int
	oomFD     int           // v2 memory.events / v1 memory.oom_control
	peakFD    int           // v2 memory.peak / v1 memory.max_usage_in_bytes
	cpuFD     int           // cpuFile, read with pread; -1 when unknown
	quotaFD   int           // v2 cpu.max / v1 cpu.cfs_quota_us (O_WRONLY) with a quota; else -1
	quotaVal  []byte        // what BeginRun writes to quotaFD
	events    *os.File      // cgroup.events, owning eventsFD
	eventsFD  int           // read with pread; events.Fd() would make it blocking
	pollable  bool          // events works with the runtime poller
	waitSem   chan struct{} // serialises WaitEmpty (it sets read deadlines on events)

	peakResettable atomic.Bool
	peakBase       atomic.Uint64 // the peak at BeginRun, when it cannot be reset
	oomBase        atomic.Uint64
	cpuBase        atomic.Int64

	// Baselines of the figures of stats_extra_linux.go.
	nrThrottledBase atomic.Uint64
	throttledBase   atomic.Int64
	pidsPeakBase    atomic.Uint64

	// needsBegin: the group came back to its pool, and Get runs BeginRun
	// before handing it out again (in the caller's background preparation,
	// not in the Put that ends a fire).
	needsBegin atomic.Bool
	// cgKilled: cgroup.kill was written to the group. Linux 6.18 (at
	// least) SIGKILLs every child later cloned into such a cgroup (clone3
	// CLONE_INTO_CGROUP compares the kill sequence of the parent's cgroup
	// with the target's), so the pool never hands it out again.
	cgKilled atomic.Bool
}

// groupHiers picks the hierarchies a group with limits l needs. Each one
// costs a write at placement, so a hierarchy is used only for what it
// gives: memory and pids always (limits, OOM counter, stats), cpu only
// with a quota (a cpu cgroup adds group-scheduling cost to every fire),
// cpuacct only without a cgroup2 tree (whose cpu.stat has the usage),
// freezer only when it is the kill mechanism.
func (m *Manager) groupHiers(l Limits) []*hier {
	var hs []*hier
	add := func(h *hier) {
		if h != nil && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	add(m.unified)
	add(m.v1["memory"])
	add(m.v1["pids"])
	if l.CPUQuota > 0 || l.CPUWeight > 0 {
		add(m.v1["cpu"])
	}
	if m.unified == nil {
		add(m.v1["cpuacct"])
	}
	if m.kill == killFreezeV1 {
		add(m.v1["freezer"])
	}
	return hs
}

// NewGroup creates the group "<name>-<seq>" with limits l, its files open
// and BeginRun done. It fails with an error wrapping ErrNotSupported when
// l cannot be enforced (see CanEnforce); a caller that may run uncapped
// asks for the limits CanEnforce accepts.
func (m *Manager) NewGroup(name string, l Limits) (*Group, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := m.CanEnforce(l); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errClosed
	}
	m.seq++
	g := &Group{
		m:         m,
		name:      name + "-" + strconv.FormatUint(m.seq, 10),
		limits:    l,
		unifiedFD: -1,
		eventsFD:  -1,
		oomFD:     -1,
		peakFD:    -1,
		cpuFD:     -1,
		quotaFD:   -1,
		waitSem:   make(chan struct{}, 1),
	}
	m.mu.Unlock()
	for _, h := range m.groupHiers(l) {
		g.dirs = append(g.dirs, cgdir{h: h, path: filepath.Join(h.root, g.name)})
	}
	if err := g.create(); err != nil {
		g.destroy()
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		g.destroy()
		return nil, errClosed
	}
	m.groups[g] = struct{}{}
	return g, nil
}

// create makes the directories, writes the limits and opens the kept files.
func (g *Group) create() error {
	for i, d := range g.dirs {
		if err := sysMkdir(d.path); err != nil {
			g.dirs = g.dirs[:i] // destroy removes only what was made
			return fileErr("mkdir", d.path, err)
		}
	}
	for _, d := range g.dirs {
		switch {
		case d.h.v2:
			g.uni = d.path
			g.cpuFile = filepath.Join(d.path, "cpu.stat")
			if g.m.mode == Unified {
				if g.m.missing["memory"] == "" {
					g.mem, g.memV2 = d.path, true
				}
				if g.m.missing["pids"] == "" {
					g.pidsDir = d.path
				}
			}
		default:
			if d.h.has("memory") {
				g.mem = d.path
			}
			if d.h.has("pids") {
				g.pidsDir = d.path
			}
			if d.h.has("cpuacct") && g.cpuFile == "" {
				g.cpuFile = filepath.Join(d.path, "cpuacct.usage")
			}
		}
	}
	if err := g.writeLimits(); err != nil {
		return err
	}
	if err := g.open(); err != nil {
		return err
	}
	return g.BeginRun()
}

// writeLimits writes the limits into the group's files.
func (g *Group) writeLimits() error {
	l := g.limits
	period := l.CPUPeriod
	if period <= 0 {
		period = 100 * time.Millisecond
	}
	if g.m.mode == Unified {
		d := g.uni
		if l.MemoryMax > 0 {
			if err := writeFile(filepath.Join(d, "memory.max"), strconv.FormatInt(l.MemoryMax, 10)); err != nil {
				return err
			}
			// No swap: a limit that can be swapped around is no limit. The
			// file is missing without swap accounting, where there is
			// nothing to limit.
			if err := writeFile(filepath.Join(d, "memory.swap.max"), "0"); err != nil && !errors.Is(err, ErrNotSupported) {
				return err
			}
			// oom.group: the OOM killer takes the whole tree at once
			// instead of one victim, so a hook never goes on half-killed
			// (a shell whose worker died answering as if nothing
			// happened); the fire fails as OOM, as with systemd's
			// OOMPolicy=kill. Missing before Linux 4.19.
			if err := writeFile(filepath.Join(d, "memory.oom.group"), "1"); err != nil && !errors.Is(err, ErrNotSupported) {
				return err
			}
		}
		if l.CPUQuota > 0 {
			v := fmt.Sprintf("%d %d", l.CPUQuota.Microseconds(), period.Microseconds())
			if err := writeFile(filepath.Join(d, "cpu.max"), v); err != nil {
				return err
			}
		}
		if l.PidsMax > 0 {
			if err := writeFile(filepath.Join(d, "pids.max"), strconv.FormatInt(l.PidsMax, 10)); err != nil {
				return err
			}
		}
		return g.writeWeights()
	}
	for _, d := range g.dirs {
		if d.h.v2 {
			continue
		}
		if d.h.has("memory") {
			if l.MemoryMax > 0 {
				if err := setV1Memory(d.path, l.MemoryMax); err != nil {
					return err
				}
			}
			// A group inherits oom_kill_disable from its parent; with it set,
			// a tree at its limit would hang instead of being killed.
			oc := filepath.Join(d.path, "memory.oom_control")
			if v, err := readKey(oc, "oom_kill_disable"); err == nil && v != 0 {
				if err := writeFile(oc, "0"); err != nil {
					return err
				}
			}
		}
		if d.h.has("cpu") && l.CPUQuota > 0 {
			if err := writeFile(filepath.Join(d.path, "cpu.cfs_period_us"), strconv.FormatInt(period.Microseconds(), 10)); err != nil {
				return err
			}
			if err := writeFile(filepath.Join(d.path, "cpu.cfs_quota_us"), strconv.FormatInt(l.CPUQuota.Microseconds(), 10)); err != nil {
				return err
			}
		}
		if d.h.has("pids") && l.PidsMax > 0 {
			if err := writeFile(filepath.Join(d.path, "pids.max"), strconv.FormatInt(l.PidsMax, 10)); err != nil {
				return err
			}
		}
	}
	return g.writeWeights()
}

// setV1Memory sets the v1 memory limit and, with swap accounting, the
// memory+swap limit to the same value (no swap). The kernel keeps
// memsw >= limit at every step, so memsw goes first when raising.
func setV1Memory(dir string, v int64) error {
	limit := filepath.Join(dir, "memory.limit_in_bytes")
	memsw := filepath.Join(dir, "memory.memsw.limit_in_bytes")
	hasSwap := exists(memsw)
	s := strconv.FormatInt(v, 10)
	cur, err := readUintFile(limit)
	if err != nil {
		return err
	}
	if hasSwap && uint64(v) > cur {
		if err := writeFile(memsw, s); err != nil {
			return err
		}
		return writeFile(limit, s)
	}
	if err := writeFile(limit, s); err != nil {
		return err
	}
	if hasSwap {
		return writeFile(memsw, s)
	}
	return nil
}

// open opens the files kept for the group's life.
func (g *Group) open() error {
	var err error
	if g.uni != "" {
		if g.unifiedFD, err = sysOpen(g.uni, unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return fileErr("open", g.uni, err)
		}
		p := filepath.Join(g.uni, "cgroup.events")
		fd, err := sysOpen(p, unix.O_RDONLY|unix.O_NONBLOCK)
		if err != nil {
			return fileErr("open", p, err)
		}
		// A non-blocking fd makes os.NewFile register it with the runtime
		// poller (kernfs files support poll): WaitEmpty then sleeps on the
		// "populated" notification without a thread or an inotify instance.
		g.events, g.eventsFD = os.NewFile(uintptr(fd), p), fd
		g.pollable = g.events.SetReadDeadline(time.Time{}) == nil
	}
	for _, d := range g.dirs {
		if d.h.v2 {
			continue
		}
		p := filepath.Join(d.path, "cgroup.procs")
		fd, err := sysOpen(p, unix.O_WRONLY)
		if err != nil {
			return fileErr("open", p, err)
		}
		g.procsFDs = append(g.procsFDs, fd)
	}
	if g.cpuFile != "" {
		// Kept open: BeginRun reads the CPU baseline on every run.
		if g.cpuFD, err = sysOpen(g.cpuFile, unix.O_RDONLY); err != nil {
			g.cpuFD = -1
			return fileErr("open", g.cpuFile, err)
		}
	}
	if err := g.openQuota(); err != nil {
		return err
	}
	if g.mem == "" {
		return nil
	}
	oom, peak := "memory.oom_control", "memory.max_usage_in_bytes"
	if g.memV2 {
		oom, peak = "memory.events", "memory.peak"
	}
	p := filepath.Join(g.mem, oom)
	if g.oomFD, err = sysOpen(p, unix.O_RDONLY); err != nil {
		g.oomFD = -1
		return fileErr("open", p, err)
	}
	// memory.peak resets per open file (Linux 6.12): the peak read through
	// this fd then covers one run. Older kernels refuse to open it for
	// writing; the peak then covers the group's whole life.
	p = filepath.Join(g.mem, peak)
	g.peakResettable.Store(true)
	if g.peakFD, err = sysOpen(p, unix.O_RDWR); err != nil {
		g.peakResettable.Store(false)
		if g.peakFD, err = sysOpen(p, unix.O_RDONLY); err != nil {
			g.peakFD = -1 // memory.peak is missing before Linux 5.19
		}
	}
	return nil
}

// openQuota opens the file holding the CPU quota, which BeginRun writes
// again to start every run with the full quota of a period.
func (g *Group) openQuota() error {
	l := g.limits
	if l.CPUQuota <= 0 {
		return nil
	}
	var p string
	if g.m.mode == Unified {
		period := l.CPUPeriod
		if period <= 0 {
			period = 100 * time.Millisecond
		}
		p = filepath.Join(g.uni, "cpu.max")
		g.quotaVal = fmt.Appendf(nil, "%d %d", l.CPUQuota.Microseconds(), period.Microseconds())
	} else {
		for _, d := range g.dirs {
			if !d.h.v2 && d.h.has("cpu") {
				p = filepath.Join(d.path, "cpu.cfs_quota_us")
			}
		}
		g.quotaVal = strconv.AppendInt(nil, l.CPUQuota.Microseconds(), 10)
	}
	if p == "" {
		return nil // CanEnforce let no such group be made
	}
	fd, err := sysOpen(p, unix.O_WRONLY)
	if err != nil {
		return fileErr("open", p, err)
	}
	g.quotaFD = fd
	return nil
}

// closeFDs closes every kept file.
func (g *Group) closeFDs() {
	for _, fd := range append(g.procsFDs, g.unifiedFD, g.oomFD, g.peakFD, g.cpuFD, g.quotaFD) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	g.procsFDs, g.unifiedFD, g.oomFD, g.peakFD, g.cpuFD, g.quotaFD = nil, -1, -1, -1, -1, -1
	if g.events != nil {
		g.events.Close()
		g.events, g.eventsFD = nil, -1
	}
}

// destroy undoes a failed create: the group is new and empty.
func (g *Group) destroy() {
	g.closeFDs()
	g.deleted = true
	for i := len(g.dirs) - 1; i >= 0; i-- {
		_ = sysRmdir(g.dirs[i].path)
	}
}

// isDeleted reports whether Delete has run.
func (g *Group) isDeleted() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.deleted
}

// Name is the group's directory name, "<name>-<seq>".
func (g *Group) Name() string { return g.name }

// UnifiedFD returns an O_PATH fd of the group's cgroup2 directory (on v2,
// or in the unified tree of a hybrid host) for clone3 CLONE_INTO_CGROUP
// (SysProcAttr.CgroupFD), or -1 when there is none. The group owns it.
func (g *Group) UnifiedFD() int { return g.unifiedFD }

// NeedsV1Placement reports whether v1 hierarchies exist, so a process must
// also be written to the cgroup.procs files of ProcsFDs.
func (g *Group) NeedsV1Placement() bool { return len(g.procsFDs) > 0 }

// ProcsFDs returns the open O_WRONLY fds of cgroup.procs in every v1
// hierarchy of the group. The group owns them; writing a pid to each
// places that process, and costs only the write.
func (g *Group) ProcsFDs() []int { return slices.Clone(g.procsFDs) }

// Place writes pid into the cgroup.procs of every hierarchy of the group,
// skipping the cgroup2 dir when pid already is there (cloned into
// UnifiedFD). This is the slow path: each migration may wait for an RCU
// grace period; clone3 into UnifiedFD, or a process already placed, avoid
// it.
func (g *Group) Place(pid int) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.deleted {
		return fmt.Errorf("cgroup: place in deleted group %s", g.name)
	}
	s := []byte(strconv.Itoa(pid))
	if g.uni != "" && !g.inUnified(pid) {
		p := filepath.Join(g.uni, "cgroup.procs")
		if err := writeFile(p, string(s)); err != nil {
			return fmt.Errorf("cgroup: place %d: %w", pid, err)
		}
	}
	for i, fd := range g.procsFDs {
		if _, err := sysWrite(fd, s, "cgroup.procs"); err != nil {
			return fmt.Errorf("cgroup: place %d in %s: %w", pid, g.v1Dirs()[i], err)
		}
	}
	return nil
}

// inUnified reports whether pid already is in the group's cgroup2 dir
// (cloned into it): a write to cgroup.procs would take the global
// cgroup_threadgroup_rwsem, and maybe wait for an RCU grace period, only
// to find nothing to move.
func (g *Group) inUnified(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	h := g.dirs[0].h
	want := "0::" + path.Join(h.mroot, strings.TrimPrefix(g.uni, h.mount)) + "\n"
	return strings.Contains("\n"+string(b), "\n"+want)
}

// v1Dirs lists the group's v1 directories, in the order of procsFDs.
func (g *Group) v1Dirs() []string {
	var ds []string
	for _, d := range g.dirs {
		if !d.h.v2 {
			ds = append(ds, d.path)
		}
	}
	return ds
}

// Pids lists the processes in the group (and in any cgroup below it).
func (g *Group) Pids() ([]int, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return treePidsOf(g.dirs), nil
}
