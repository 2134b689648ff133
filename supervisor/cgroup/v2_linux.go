// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Where the subtree goes on cgroup v2, where controllers reach a cgroup
// only through its parent's cgroup.subtree_control, and a non-root cgroup
// with processes of its own cannot hand controllers to children.

// ensureParent creates the missing directories of a configured parent. On
// v2 it enables the controllers in the ones it created, so that they reach
// the subtree; existing directories are never written to.
func (m *Manager) ensureParent(h *hier) error {
	dir := h.mount
	for _, el := range strings.Split(strings.Trim(h.base, "/"), "/") {
		if el == "" {
			continue
		}
		dir = filepath.Join(dir, el)
		err := sysMkdir(dir)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fileErr("mkdir", dir, err)
		}
		m.created = append(m.created, dir)
		if h.v2 {
			enableControllers(dir)
		}
	}
	return nil
}

// v2Base decides, on a pure v2 host with no configured parent, where the
// subtree goes: below the cgroup own this process is in. It returns a
// reason when controllers cannot be had there.
//
// A non-root cgroup may hand controllers to its children only while it has
// no processes of its own. When own is delegated to this process and this
// process is alone in it, v2Base moves the process into own/supervisor
// (systemd's CGROUP_DELEGATION.md recipe) and enables the controllers in
// own; when the process already runs in such a leaf (a previous Open, or
// systemd's DelegateSubgroup=supervisor) the base is the leaf's parent.
func v2Base(mnt, own string) (base, why string, err error) {
	dir := filepath.Join(mnt, own)
	if !exists(filepath.Join(dir, "cgroup.type")) {
		// The real root (cgroup.type exists everywhere else, also at the
		// root of a cgroup namespace): exempt from the rule. Its
		// subtree_control is the host's; it is only read.
		return own, "", nil
	}
	if path.Base(own) == leafName {
		if parent := path.Dir(own); delegated(filepath.Join(mnt, parent)) {
			enableControllers(filepath.Join(mnt, parent))
			return parent, "", nil
		}
	}
	if !delegated(dir) {
		return own, fmt.Sprintf("%s is not delegated to this process (systemd: Delegate=yes; else set a parent)", dir), nil
	}
	pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return "", "", err
	}
	if len(pids) != 1 || pids[0] != os.Getpid() {
		return own, fmt.Sprintf("%s holds other processes, so it cannot hand controllers to children (no internal processes)", dir), nil
	}
	leaf := filepath.Join(dir, leafName)
	if err := sysMkdir(leaf); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", "", fileErr("mkdir", leaf, err)
	}
	if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
		return "", "", err
	}
	enableControllers(dir)
	return own, "", nil
}

// delegated reports whether dir is a cgroup delegated to this process: the
// xattr systemd sets on delegated cgroups, or — outside systemd units, e.g.
// the root of a container's cgroup namespace — a directory owned by us whose
// cgroup.subtree_control we may write.
func delegated(dir string) bool {
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return true
		}
	}
	switch path.Ext(dir) {
	case ".service", ".scope", ".slice", ".socket", ".mount", ".swap":
		return false // a systemd unit without Delegate=: systemd is its single writer
	}
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil || int(st.Uid) != os.Geteuid() {
		return false
	}
	return unix.Access(dir, unix.W_OK) == nil && unix.Access(filepath.Join(dir, "cgroup.subtree_control"), unix.W_OK) == nil
}

// wantedControllers are the v2 controllers groups use.
var wantedControllers = []string{"memory", "cpu", "pids"}

// enableControllers enables in dir's subtree_control the wanted
// controllers dir has. Each one is written alone: one missing controller
// must not keep the others off (the kernel rejects the whole write).
func enableControllers(dir string) {
	b, err := readFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return
	}
	have := strings.Fields(string(b))
	for _, c := range wantedControllers {
		if hasOpt(have, c) {
			_ = writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c)
		}
	}
}

// probeV2Controllers enables the controllers in the subtree root and
// records the ones groups will not get, and why.
func (m *Manager) probeV2Controllers() {
	h := m.unified
	enableControllers(h.root)
	b, _ := readFile(filepath.Join(h.root, "cgroup.subtree_control"))
	on := strings.Fields(string(b))
	b, _ = readFile(filepath.Join(h.root, "cgroup.controllers"))
	avail := strings.Fields(string(b))
	parent := filepath.Dir(h.root)
	for _, c := range wantedControllers {
		switch {
		case hasOpt(on, c):
			delete(m.missing, c)
		case m.missing[c] != "":
			m.missing[c] = fmt.Sprintf("cgroup v2 %s controller not available in %s: %s", c, h.root, m.missing[c])
		case !hasOpt(avail, c):
			m.missing[c] = fmt.Sprintf("cgroup v2 %s controller not available in %s: %s/cgroup.subtree_control does not enable it", c, h.root, parent)
		default:
			m.missing[c] = fmt.Sprintf("cgroup v2 %s controller could not be enabled in %s/cgroup.subtree_control", c, h.root)
		}
	}
}
