// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hooksupd/hooksupd/supervisor"
)

// plainMechanisms says what the backend's mechanisms mean for a hook, in
// the words of someone who runs hooks rather than writes kernels; `check
// --verbose` adds the mechanisms themselves.
func plainMechanisms(m supervisor.Mechanisms) [][2]string {
	cgroups := m.CgroupMode != "none" && m.CgroupMode != ""
	var out [][2]string
	if cgroups {
		out = append(out, [2]string{"limits", "each hook runs in a cgroup of its own: its memory, CPU and task limits hold from its first instruction, and an out-of-memory kill is reported as such"})
	} else {
		out = append(out, [2]string{"limits", "NOT enforced here: there are no cgroups to put hooks in (a hook with limits needs allow_uncapped to run)"})
	}
	switch {
	case strings.Contains(m.Kill, "cgroup.kill"), strings.Contains(m.Kill, "freeze"):
		out = append(out, [2]string{"timeouts", "a hook that runs over is killed with every process it started, at once, however it forked"})
	case strings.Contains(m.Kill, "process group"):
		out = append(out, [2]string{"timeouts", "a hook that runs over is killed with its process group; a process that leaves the group (setsid) can escape"})
	default:
		out = append(out, [2]string{"timeouts", "a hook that runs over is killed; its own children may survive it"})
	}
	for _, n := range m.Notes {
		switch {
		case strings.HasPrefix(n, "orphans: every hook"):
			out = append(out, [2]string{"orphans", "no hook process outlives hooksupd, even when hooksupd itself is killed"})
		case strings.HasPrefix(n, "orphans:"):
			out = append(out, [2]string{"orphans", "a hook's direct child dies with hooksupd; anything it left behind is cleaned up at the next start"})
		case strings.HasPrefix(n, "sandbox: capabilities dropped, seccomp, mount"):
			out = append(out, [2]string{"sandbox", "hooks run without privileges, with a system-call filter, and see their own filesystem view, network and process list"})
		case strings.HasPrefix(n, "sandbox: capabilities dropped"):
			out = append(out, [2]string{"sandbox", "hooks run without privileges and with a system-call filter; filesystem and network isolation are limited here"})
		case strings.HasPrefix(n, "sandbox:"), strings.HasPrefix(n, "no sandbox"):
			out = append(out, [2]string{"sandbox", "NONE: hooks run with hooksupd's own privileges"})
		}
	}
	if !hasKey(out, "orphans") {
		out = append(out, [2]string{"orphans", "a hook's children may outlive hooksupd if hooksupd is killed"})
	}
	return out
}

func hasKey(kvs [][2]string, k string) bool {
	for _, kv := range kvs {
		if kv[0] == k {
			return true
		}
	}
	return false
}

// writeBackend prints the backend in plain words, then, with verbose, the
// kernel mechanisms it chose.
func writeBackend(w io.Writer, m supervisor.Mechanisms, verbose bool) {
	fmt.Fprintf(w, "\nbackend %s (cgroup mode %s)\n", m.Backend, m.CgroupMode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range plainMechanisms(m) {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	if !verbose {
		fmt.Fprintf(w, "  (--verbose shows the kernel mechanisms)\n")
		return
	}
	fmt.Fprintf(w, "\nkernel mechanisms\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"spawn", m.Spawn}, {"attach", m.Attach}, {"kill", m.Kill},
		{"exit", m.Exit}, {"pipes", m.Pipes},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], orDefault(kv[1], "-"))
	}
	tw.Flush()
	for _, n := range m.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}
