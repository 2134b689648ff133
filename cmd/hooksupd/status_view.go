// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/hooksupd/hooksupd/service"
)

// The parts of `hooksupd status` beyond the hook table: service-wide
// totals and resources, each hook's process tree, its recent warnings.

// writeTotals prints the fires of every hook added up and the whole
// service's memory, tasks and CPU.
func writeTotals(w io.Writer, r *service.Status) {
	t := r.Totals
	fmt.Fprintf(w, "fires    %d total, %d errors (%d timeouts, %d OOM kills): %s\n",
		t.Fires, t.Errors, t.Timeouts, t.OOMKills, formatCounts(t.Outcomes))
	res := r.Resources
	fmt.Fprintf(w, "service  memory %s, tasks %d, CPU %s (%s)\n",
		formatBytes(res.MemoryBytes), res.Tasks, formatSeconds(res.CPUSeconds), res.Source)
}

// hookMemory is the MEMORY column: a daemon's group now, an exec hook's
// mean peak per fire.
func hookMemory(h service.HookStatus) string {
	switch {
	case h.State.MemoryBytes > 0:
		return formatBytes(h.State.MemoryBytes)
	case h.MemoryPeakAvgBytes > 0:
		return formatBytes(h.MemoryPeakAvgBytes) + " peak"
	}
	return "-"
}

// writeTrees prints the process tree of each hook that has processes
// now, the way `systemctl status` shows a unit's cgroup.
func writeTrees(w io.Writer, r *service.Status) {
	first := true
	for _, h := range r.Hooks {
		if len(h.State.Processes) == 0 {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nprocesses")
			first = false
		}
		groups := "no group of its own"
		if len(h.State.Groups) > 0 {
			groups = strings.Join(h.State.Groups, ", ")
		}
		fmt.Fprintf(w, "  %s (%s): %s\n", h.Name, h.Mode, groups)
		for _, p := range h.State.Processes {
			fmt.Fprintf(w, "    %s└─%d %s\n", strings.Repeat("  ", p.Depth), p.PID, p.Command)
		}
	}
}

// writeWarnings prints each hook's last warnings, newest last.
func writeWarnings(w io.Writer, r *service.Status) {
	first := true
	for _, h := range r.Hooks {
		if len(h.State.Warnings) == 0 {
			continue
		}
		if first {
			fmt.Fprintf(w, "\nrecent warnings (last %d per hook)\n", service.WarningsPerHook)
			first = false
		}
		fmt.Fprintf(w, "  %s:\n", h.Name)
		for _, x := range h.State.Warnings {
			var b strings.Builder
			fmt.Fprintf(&b, "    %s %s %s", x.Time.Local().Format("15:04:05"), x.Level, x.Message)
			if x.Outcome != "" {
				b.WriteString(" outcome=" + x.Outcome)
			}
			if x.FireID != "" {
				b.WriteString(" fire_id=" + x.FireID)
			}
			if x.Err != "" {
				b.WriteString(" err=" + x.Err)
			}
			fmt.Fprintln(w, b.String())
		}
	}
}

func formatSeconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0fms", s*1000)
	}
	return fmt.Sprintf("%.2fs", s)
}
