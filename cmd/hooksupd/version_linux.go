// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor"
	"github.com/hooksupd/hooksupd/supervisor/cgroup"
	"github.com/hooksupd/hooksupd/supervisor/pidfd"
)

// kernelMechanisms probes what the Linux backend builds on, read-only:
// `hooksupd version` must be safe to run beside a serving daemon, so it
// opens no cgroup manager (which would clean up a stale subtree) and
// starts no launcher.
func kernelMechanisms() [][2]string {
	var out [][2]string
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		out = append(out, [2]string{"kernel", unix.ByteSliceToString(u.Sysname[:]) + " " +
			unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])})
	}
	mode := cgroup.DetectMode()
	out = append(out, [2]string{"cgroup", mode.String() + cgroupModeNote(mode)})
	if err := pidfd.Probe(); err != nil {
		out = append(out, [2]string{"pidfd", "no: " + err.Error() + " (the portable backend is used)"})
	} else {
		out = append(out, [2]string{"pidfd", "yes"})
	}
	if mode == cgroup.Unified || mode == cgroup.Hybrid {
		out = append(out, [2]string{"cgroup.kill", cgroupKill(mode)})
	}
	if supervisor.HasLauncher() {
		out = append(out, [2]string{"launcher", "built in"})
	} else {
		out = append(out, [2]string{"launcher", "none for this architecture (hooks are spawned directly)"})
	}
	return out
}

func cgroupModeNote(m cgroup.Mode) string {
	switch m {
	case cgroup.Unified:
		return " (unified hierarchy)"
	case cgroup.Hybrid:
		return " (v1 controllers, v2 hierarchy for tracking)"
	case cgroup.Legacy:
		return " (v1 controllers only)"
	}
	return " (no cgroup filesystem: limits cannot be enforced)"
}

// cgroupKill reports whether this process's own v2 group has cgroup.kill
// (Linux 5.14), which kills a tree in one write. The root group never has
// the file, so "unknown" there rather than a wrong "no".
func cgroupKill(m cgroup.Mode) string {
	rel := ownV2Group()
	if rel == "" || rel == "/" {
		return "unknown (running in the root group)"
	}
	root := "/sys/fs/cgroup"
	if m == cgroup.Hybrid {
		root = "/sys/fs/cgroup/unified"
	}
	if _, err := os.Stat(filepath.Join(root, rel, "cgroup.kill")); err == nil {
		return "yes"
	}
	return "no (trees are killed by freeze, kill and thaw)"
}

// ownV2Group returns the "0::" line's path of /proc/self/cgroup.
func ownV2Group() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return rest
		}
	}
	return ""
}
