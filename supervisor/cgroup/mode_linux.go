// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	cgroups "github.com/containerd/cgroups/v3"
)

// From containerd/cgroups/v3 the package takes mode detection and the
// /proc/self/cgroup parser. Its cgroup1/cgroup2 managers do not fit a
// per-fire path: no kept-open files, one inotify instance per event
// watcher, Delete that refuses while processes remain and retries rmdir
// for ~150 ms only, and they pull in D-Bus, eBPF and protobuf modules.
// The files themselves are read and written here with x/sys/unix.

// DetectMode reports the host's cgroup layout. It is probed once per
// process, with the algorithm of containerd's cgroups.Mode() (which it
// calls): statfs of /sys/fs/cgroup, then of /sys/fs/cgroup/unified — the
// same probe systemd documents and crun implements.
func DetectMode() Mode { return detectMode() }

var detectMode = sync.OnceValue(func() Mode {
	switch cgroups.Mode() {
	case cgroups.Legacy:
		return Legacy
	case cgroups.Hybrid:
		return Hybrid
	case cgroups.Unified:
		return Unified
	}
	return Unavailable
})

// v1Controllers are the v1 controllers a group may use, in the order
// hierarchies are listed.
var v1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer"}

// mount is one cgroup filesystem mount from /proc/self/mountinfo.
type mount struct {
	point  string   // where it is mounted
	root   string   // which cgroup of the hierarchy appears at point
	fstype string   // "cgroup" or "cgroup2"
	opts   []string // super options (v1: the bound controllers)
}

// parseMountinfo returns the cgroup and cgroup2 mounts of a mountinfo file.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		f := strings.Fields(s.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+3 > len(f) {
			continue
		}
		fstype := f[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		out = append(out, mount{
			point:  unescapeMount(f[4]),
			root:   unescapeMount(f[3]),
			fstype: fstype,
			opts:   strings.Split(f[sep+3], ","),
		})
	}
	return out, s.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// layout is where the hierarchies are mounted and where this process is in
// each of them.
type layout struct {
	unified    *mount            // the cgroup2 mount (v2, or hybrid's unified); nil on v1
	unifiedOwn string            // this process's cgroup in it, relative to unified.point
	v1         map[string]*mount // controller -> mount
	v1Own      map[string]string // controller -> own cgroup, relative to the mount point
}

// discover reads /proc/self/mountinfo and /proc/self/cgroup.
func discover(mode Mode) (*layout, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	defer mi.Close()
	mounts, err := parseMountinfo(mi)
	if err != nil {
		return nil, fmt.Errorf("cgroup: parse /proc/self/mountinfo: %w", err)
	}
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	defer cg.Close()
	v1paths, unifiedPath, err := cgroups.ParseCgroupFromReaderUnified(cg)
	if err != nil {
		return nil, fmt.Errorf("cgroup: parse /proc/self/cgroup: %w", err)
	}
	return buildLayout(mode, mounts, v1paths, unifiedPath)
}

// buildLayout matches mounts with the process's cgroup paths. It is split
// from discover so that it can be tested on canned input.
func buildLayout(mode Mode, mounts []mount, v1paths map[string]string, unifiedPath string) (*layout, error) {
	l := &layout{v1: map[string]*mount{}, v1Own: map[string]string{}}
	if mode == Unified || mode == Hybrid {
		want := "/sys/fs/cgroup"
		if mode == Hybrid {
			want = "/sys/fs/cgroup/unified"
		}
		for i := range mounts {
			m := &mounts[i]
			if m.fstype == "cgroup2" && (l.unified == nil || m.point == want) {
				l.unified = m
			}
		}
		if l.unified == nil {
			return nil, fmt.Errorf("cgroup: no cgroup2 mount found for mode %v: %w", mode, ErrNotSupported)
		}
		own, err := relativeTo(l.unified.root, unifiedPath)
		if err != nil {
			return nil, err
		}
		l.unifiedOwn = own
	}
	if mode == Legacy || mode == Hybrid {
		for _, c := range v1Controllers {
			for i := range mounts {
				m := &mounts[i]
				if m.fstype != "cgroup" || !hasOpt(m.opts, c) {
					continue
				}
				if l.v1[c] == nil || strings.HasPrefix(m.point, "/sys/fs/cgroup/") {
					l.v1[c] = m
				}
			}
			m := l.v1[c]
			if m == nil {
				continue
			}
			p, ok := v1paths[c]
			if !ok {
				delete(l.v1, c)
				continue
			}
			own, err := relativeTo(m.root, p)
			if err != nil {
				return nil, err
			}
			l.v1Own[c] = own
		}
	}
	return l, nil
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// relativeTo turns a cgroup path from /proc/self/cgroup into a path below a
// mount whose root is mountRoot (not "/" in a container without a cgroup
// namespace, where the host's path of the container is mounted).
func relativeTo(mountRoot, p string) (string, error) {
	p = path.Clean("/" + p)
	mountRoot = path.Clean("/" + mountRoot)
	if mountRoot == "/" {
		return p, nil
	}
	if p == mountRoot {
		return "/", nil
	}
	if rest, ok := strings.CutPrefix(p, mountRoot+"/"); ok {
		return "/" + rest, nil
	}
	return "", fmt.Errorf("cgroup: own cgroup %s is outside the mounted part %s of its hierarchy: %w", p, mountRoot, ErrNotSupported)
}
