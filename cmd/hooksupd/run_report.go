// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// runReport is the JSON object --report writes.
type runReport struct {
	ExitCode            int          `json:"exit_code"`
	ChildExitCode       int          `json:"child_exit_code"`
	Signal              int          `json:"signal"`
	SignalName          string       `json:"signal_name,omitempty"`
	Result              string       `json:"result"`
	TimedOut            bool         `json:"timed_out"`
	KilledAfterGrace    bool         `json:"killed_after_grace"`
	OOMKilled           bool         `json:"oom_killed"`
	OOMKills            uint64       `json:"oom_kills"`
	CPUUsec             int64        `json:"cpu_usec"`
	CPUThrottledUsec    int64        `json:"cpu_throttled_usec"`
	CPUThrottledPeriods uint64       `json:"cpu_throttled_periods"`
	MemoryPeakBytes     int64        `json:"memory_peak_bytes"`
	PidsPeak            *int64       `json:"pids_peak"`
	WallMS              int64        `json:"wall_ms"`
	Backend             string       `json:"backend"`
	CgroupMode          string       `json:"cgroup_mode"`
	Mechanism           runMechanism `json:"mechanism"`
	Notes               []string     `json:"notes,omitempty"`
	Error               string       `json:"error,omitempty"`

	written bool
}

type runMechanism struct {
	Spawn  string `json:"spawn"`
	Attach string `json:"attach"`
	Kill   string `json:"kill"`
}

// fillReport records how the run ended and the tree's figures.
func fillReport(rep *runReport, st supervisor.ExitStatus, stats supervisor.Stats, rs *runState, spec *supervisor.Spec, mech supervisor.Mechanisms) {
	rep.ChildExitCode = st.Code
	rep.Signal = int(st.Signal)
	if st.Signal != 0 {
		rep.SignalName = signalName(st.Signal)
	}
	rep.TimedOut = rs.timedOut
	rep.KilledAfterGrace = rs.killedAfterGrace
	rep.OOMKills = stats.OOMKills
	rep.OOMKilled = st.OOMKilled || stats.OOMKills > 0
	rep.CPUUsec = stats.CPU.Microseconds()
	rep.CPUThrottledUsec = stats.CPUThrottled.Microseconds()
	rep.CPUThrottledPeriods = stats.ThrottledPeriods
	rep.MemoryPeakBytes = stats.MemoryPeak
	if stats.CPU == 0 && st.CPU > 0 {
		rep.CPUUsec = st.CPU.Microseconds()
	}
	if rep.MemoryPeakBytes == 0 {
		rep.MemoryPeakBytes = st.MemoryPeak
	}
	if stats.PidsPeak > 0 {
		n := stats.PidsPeak
		rep.PidsPeak = &n
	}
	switch {
	case mech.CgroupMode == "none" || mech.Backend == "portable":
		rep.Notes = append(rep.Notes, "no group: cpu_usec and memory_peak_bytes are CMD's rusage (its waited-for children included, nothing else), pids_peak is unknown")
	case rep.PidsPeak == nil:
		rep.Notes = append(rep.Notes, "pids_peak unknown: the kernel has no pids.peak")
	}
	if spec.Limits.CPUQuota == 0 {
		rep.Notes = append(rep.Notes, "no CPU quota: nothing throttled")
	}
	switch {
	case rs.oomEnded || rep.OOMKilled && st.Signal == 9:
		rep.Result = "oom-kill"
	case rs.timedOut:
		rep.Result = "timeout"
	case st.Signal != 0:
		rep.Result = "signal"
	case st.Code != 0:
		rep.Result = "exit-code"
	default:
		rep.Result = "success"
	}
}

// resultFor is the result of a run that never started.
func resultFor(code int) string {
	if code == exitRunOwnError {
		return "resources"
	}
	return "exit-code"
}

// summary is the -v line at the end, in the words of systemd-run --wait.
func summary(rep *runReport, st supervisor.ExitStatus) string {
	parts := []string{"Finished with result: " + rep.Result}
	if st.Signal != 0 {
		parts = append(parts, "Main processes terminated with: code=killed, status="+strings.TrimPrefix(signalName(st.Signal), "SIG"))
	} else {
		parts = append(parts, fmt.Sprintf("Main processes terminated with: code=exited, status=%d", st.Code))
	}
	parts = append(parts, "Service runtime: "+formatSpan(time.Duration(rep.WallMS)*time.Millisecond))
	cpu := "CPU time consumed: " + formatSpan(time.Duration(rep.CPUUsec)*time.Microsecond)
	if rep.CPUThrottledUsec > 0 {
		cpu += " (throttled " + formatSpan(time.Duration(rep.CPUThrottledUsec)*time.Microsecond) + ")"
	}
	parts = append(parts, cpu)
	if rep.MemoryPeakBytes > 0 {
		parts = append(parts, "Memory peak: "+formatRunBytes(rep.MemoryPeakBytes))
	}
	if rep.PidsPeak != nil {
		parts = append(parts, fmt.Sprintf("Tasks peak: %d", *rep.PidsPeak))
	}
	if rep.OOMKills > 0 {
		parts = append(parts, fmt.Sprintf("OOM kills: %d", rep.OOMKills))
	}
	return strings.Join(parts, "; ")
}

// formatRunBytes prints a size as systemd does: 1024-based, one decimal
// ("61.2M", "512B").
func formatRunBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	return s + string(units[i])
}

// formatSpan prints a duration the way systemd's summary does ("1.46s",
// "12ms", "2min 3.5s").
func formatSpan(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dus", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return trimFloat(d.Seconds()) + "s"
	}
	m := d / time.Minute
	return fmt.Sprintf("%dmin %ss", m, trimFloat((d - m*time.Minute).Seconds()))
}

// writeReport writes rep to path (no-op without --report). A non-zero
// start sets the wall time. It reports success.
func writeReport(path string, rep *runReport, start time.Time) bool {
	if path == "" {
		return true
	}
	rep.written = true
	if !start.IsZero() {
		rep.WallMS = time.Since(start).Milliseconds()
	}
	if rep.Result == "" {
		rep.Result = resultFor(rep.ExitCode)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(data, '\n'), 0o644)
	}
	if err != nil {
		errorf("run: --report: %v", err)
		return false
	}
	return true
}
