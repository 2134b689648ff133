// SPDX-License-Identifier: Apache-2.0

package service

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The process side of a status report, read from /proc and the cgroup
// filesystem by the service itself (it may read every hook's processes,
// whatever user they run as).

// cgroupRoots are where the unified hierarchy is mounted: a pure v2 host,
// or a hybrid one.
var cgroupRoots = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}

// unifiedPath is the cgroup v2 path of pid ("0::/a/b" in its cgroup
// file), or "".
func unifiedPath(pid string) string {
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

// cgroupDir is the directory of the v2 group at path, if mounted here.
func cgroupDir(path string) string {
	if path == "" {
		return ""
	}
	for _, root := range cgroupRoots {
		d := filepath.Join(root, path)
		if _, err := os.Stat(filepath.Join(d, "cgroup.procs")); err == nil {
			return d
		}
	}
	return ""
}

// processTree lists the processes of the tree rooted at pid: the members
// of its group when it has one of its own (every hook child does), else
// its descendants by parentage. group is the group's path, or "".
func processTree(pid int) (group string, procs []ProcessInfo) {
	sp := strconv.Itoa(pid)
	path := unifiedPath(sp)
	var pids []int
	if dir := cgroupDir(path); dir != "" && path != unifiedPath("self") {
		if data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
			group = path
			for _, f := range strings.Fields(string(data)) {
				if n, err := strconv.Atoi(f); err == nil {
					pids = append(pids, n)
				}
			}
		}
	}
	if group == "" {
		pids = descendants(pid)
	}
	for _, p := range pids {
		if pi, ok := readProcess(p); ok {
			procs = append(procs, pi)
		}
	}
	return group, treeOrder(pid, procs)
}

// descendants is pid and every process below it, by /proc's children
// lists.
func descendants(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out) && len(out) < 4096; i++ {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(out[i]) + "/task/*/children")
		for _, t := range tasks {
			data, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(data)) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// readProcess reads a process's parent, command line and resident memory.
func readProcess(pid int) (ProcessInfo, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcessInfo{}, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ProcessInfo{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	pi := ProcessInfo{PID: pid}
	if len(f) > 1 {
		pi.PPID, _ = strconv.Atoi(f[1])
	}
	if len(f) > 21 {
		if pages, err := strconv.ParseInt(f[21], 10, 64); err == nil {
			pi.RSSBytes = pages * int64(os.Getpagesize())
		}
	}
	cmd, _ := os.ReadFile(dir + "/cmdline")
	pi.Command = strings.TrimSpace(strings.ReplaceAll(string(bytes.TrimRight(cmd, "\x00")), "\x00", " "))
	if pi.Command == "" {
		if j := bytes.IndexByte(stat, '('); j >= 0 {
			pi.Command = "[" + string(stat[j+1:i]) + "]"
		}
	}
	if len(pi.Command) > 200 {
		pi.Command = pi.Command[:200] + "..."
	}
	return pi, true
}

// treeOrder sorts procs depth first from root, children by pid, and sets
// each one's Depth; processes whose parent is not in the list (reparented
// orphans of the group) follow at depth 1.
func treeOrder(root int, procs []ProcessInfo) []ProcessInfo {
	byParent := map[int][]int{}
	idx := map[int]int{}
	for i, p := range procs {
		idx[p.PID] = i
	}
	for _, p := range procs {
		if p.PID != root {
			byParent[p.PPID] = append(byParent[p.PPID], p.PID)
		}
	}
	for _, c := range byParent {
		sort.Ints(c)
	}
	var out []ProcessInfo
	seen := map[int]bool{}
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		i, ok := idx[pid]
		if !ok || seen[pid] {
			return
		}
		seen[pid] = true
		p := procs[i]
		p.Depth = depth
		out = append(out, p)
		for _, c := range byParent[pid] {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	var rest []int
	for _, p := range procs {
		if !seen[p.PID] {
			rest = append(rest, p.PID)
		}
	}
	sort.Ints(rest)
	for _, pid := range rest {
		walk(pid, 1)
	}
	return out
}

// serviceResources reads the whole service's memory, tasks and CPU: the
// unit's group when the service runs in one it was delegated (its own
// process in the "supervisor" leaf, the hooks beside it), else the sum of
// this process and the hooks' processes.
func serviceResources(hookProcs []ProcessInfo) ServiceResources {
	self := unifiedPath("self")
	unit := self
	if filepath.Base(self) == "supervisor" {
		unit = filepath.Dir(self)
	}
	if dir := cgroupDir(unit); dir != "" && unit != "/" {
		mem, errM := readInt(filepath.Join(dir, "memory.current"))
		tasks, errT := readInt(filepath.Join(dir, "pids.current"))
		cpu, errC := cpuUsage(dir)
		if errM == nil && errT == nil && errC == nil {
			return ServiceResources{Source: "cgroup " + unit, MemoryBytes: mem, Tasks: tasks, CPUSeconds: cpu}
		}
	}
	r := ServiceResources{Source: "sum of its processes: no delegated cgroup to read"}
	if me, ok := readProcess(os.Getpid()); ok {
		r.MemoryBytes += me.RSSBytes
	}
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		r.Tasks += int64(len(tasks))
	}
	r.CPUSeconds = selfCPU()
	for _, p := range hookProcs {
		r.MemoryBytes += p.RSSBytes
		r.Tasks++
	}
	return r
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// cpuUsage reads usage_usec of a group's cpu.stat, in seconds.
func cpuUsage(dir string) (float64, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return float64(n) / 1e6, err
		}
	}
	return 0, os.ErrNotExist
}

// selfCPU is this process's user+system time in seconds.
func selfCPU() float64 {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ is 100 on every Linux ABI Go supports
}
