// SPDX-License-Identifier: Apache-2.0

package service

import (
	"math"
	"os"
	"time"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// statusReport is the "status" of a status reply: Dispatcher.Status in a
// stable JSON shape (durations in milliseconds, sizes in bytes), plus the
// server's own figures.
type Status struct {
	Version       string  `json:"version"`
	PID           int     `json:"pid"`
	UptimeSeconds float64 `json:"uptime_s"`
	// StartedAt is when the service started (RFC 3339).
	StartedAt string `json:"started_at"`
	// Totals add up every hook's fires.
	Totals Totals `json:"totals"`
	// Resources are the whole service's (its process and every hook's).
	Resources         ServiceResources `json:"resources"`
	Config            string           `json:"config"`
	Mechanisms        Mechanisms       `json:"mechanisms"`
	TimeoutViolations uint64           `json:"timeout_violations"`
	Server            ServerStatus     `json:"server"`
	Hooks             []HookStatus     `json:"hooks"`
}

// mechanisms mirrors supervisor.Mechanisms.
type Mechanisms struct {
	Backend    string   `json:"backend"`
	CgroupMode string   `json:"cgroup_mode"`
	Spawn      string   `json:"spawn"`
	Attach     string   `json:"attach"`
	Kill       string   `json:"kill"`
	Exit       string   `json:"exit"`
	Pipes      string   `json:"pipes"`
	Notes      []string `json:"notes,omitempty"`
}

type ServerStatus struct {
	Socket           string            `json:"socket"`
	ConnectionsOpen  int64             `json:"connections_open"`
	ConnectionsTotal uint64            `json:"connections_total"`
	FiresInflight    int64             `json:"fires_inflight"`
	MaxInflight      int64             `json:"max_inflight"`
	Requests         map[string]uint64 `json:"requests"`
	Errors           map[string]uint64 `json:"errors"`
	SlowClientsShut  uint64            `json:"slow_clients_closed"`
	ReloadsOK        uint64            `json:"reloads_ok"`
	ReloadsFailed    uint64            `json:"reloads_failed"`
}

type HookStatus struct {
	Name      string            `json:"name"`
	Event     string            `json:"event"`
	Mode      string            `json:"mode"`
	Priority  int32             `json:"priority"`
	Enabled   bool              `json:"enabled"`
	Namespace string            `json:"namespace"`
	FailMode  string            `json:"fail_mode"`
	Fires     uint64            `json:"fires"`
	Outcomes  map[string]uint64 `json:"outcomes"`
	Errors    uint64            `json:"errors"`
	// SupervisorErrors counts fires that failed because the supervisor's
	// own machinery did (outcome "supervisor"), after retries within the
	// deadline; SupervisorRetries the starts it tried again. Neither is in
	// Errors: they are not the hook's failures.
	SupervisorErrors  uint64  `json:"supervisor_errors"`
	SupervisorRetries uint64  `json:"supervisor_retries"`
	Timeouts          uint64  `json:"timeouts"`
	Drops             uint64  `json:"drops"`
	P50Ms             float64 `json:"p50_ms"`
	P90Ms             float64 `json:"p90_ms"`
	P99Ms             float64 `json:"p99_ms"`
	MaxMs             float64 `json:"max_ms"`
	// MemoryPeakAvgBytes and CPUAvgMs: the mean memory peak and CPU time
	// of the hook's exec fires (0 for daemon hooks).
	MemoryPeakAvgBytes int64     `json:"memory_peak_avg_bytes,omitempty"`
	CPUAvgMs           float64   `json:"cpu_avg_ms,omitempty"`
	State              HookState `json:"state"`
}

// Totals are the service-wide fire counts.
type Totals struct {
	Fires    uint64            `json:"fires"`
	Errors   uint64            `json:"errors"`
	Timeouts uint64            `json:"timeouts"`
	OOMKills uint64            `json:"oom_kills"`
	Outcomes map[string]uint64 `json:"outcomes"`
}

// ServiceResources are the memory, tasks and CPU time of the whole
// service. Source says where they come from: "cgroup PATH" (the unit's
// group, as systemctl status shows it) or the processes summed.
type ServiceResources struct {
	Source      string  `json:"source"`
	MemoryBytes int64   `json:"memory_bytes"`
	Tasks       int64   `json:"tasks"`
	CPUSeconds  float64 `json:"cpu_s"`
}

// ProcessInfo is one process of a hook's tree.
type ProcessInfo struct {
	PID      int    `json:"pid"`
	PPID     int    `json:"ppid"`
	Depth    int    `json:"depth"` // 0 for the hook's direct child
	Command  string `json:"command"`
	RSSBytes int64  `json:"rss_bytes"`
}

type HookState struct {
	Running     bool    `json:"running"`
	PID         int     `json:"pid,omitempty"`
	Restarts    uint64  `json:"restarts"`
	MemoryBytes int64   `json:"memory_bytes"`
	CPUSeconds  float64 `json:"cpu_s"`
	LastError   string  `json:"last_error,omitempty"`
	// Groups are the cgroups of the hook's trees now, Processes their
	// processes (each tree depth first from its direct child).
	Groups    []string      `json:"groups,omitempty"`
	Processes []ProcessInfo `json:"processes,omitempty"`
	// Warnings are the last warnings logged about the hook, oldest first.
	Warnings []Warning `json:"warnings,omitempty"`
}

// statusReport builds the reply to the status op.
func (s *Server) Status() *Status {
	st := s.d.Status()
	r := &Status{
		Version:           s.version,
		PID:               os.Getpid(),
		UptimeSeconds:     math.Round(time.Since(s.started).Seconds()*1000) / 1000,
		StartedAt:         s.started.Format(time.RFC3339),
		Totals:            Totals{Outcomes: map[string]uint64{}},
		Config:            st.ConfigPath,
		Mechanisms:        toMechanisms(st.Mechanisms),
		TimeoutViolations: st.TimeoutViolations,
		Server: ServerStatus{
			Socket:           s.socketName,
			ConnectionsOpen:  s.stats.connsOpen.Load(),
			ConnectionsTotal: s.stats.connsTotal.Load(),
			FiresInflight:    s.inflight.Load(),
			MaxInflight:      s.maxInflight,
			Requests:         map[string]uint64{},
			Errors:           map[string]uint64{},
			SlowClientsShut:  s.stats.slowClosed.Load(),
			ReloadsOK:        s.stats.reloadsOK.Load(),
			ReloadsFailed:    s.stats.reloadsFailed.Load(),
		},
		Hooks: make([]HookStatus, 0, len(st.Hooks)),
	}
	for k, c := range s.stats.requests {
		r.Server.Requests[k] = c.Load()
	}
	for k, c := range s.stats.errors {
		r.Server.Errors[k] = c.Load()
	}
	var allProcs []ProcessInfo
	for _, h := range st.Hooks {
		m := h.Metrics
		outcomes := m.Outcomes
		if outcomes == nil {
			outcomes = map[string]uint64{}
		}
		hs := HookStatus{
			Name: h.Name, Event: h.Event, Mode: string(h.Mode), Priority: h.Priority,
			Enabled: h.Enabled, Namespace: h.Namespace, FailMode: string(h.FailMode),
			Fires: m.Fires, Outcomes: outcomes, Errors: hookErrors(m),
			SupervisorErrors: m.Outcomes[executor.KindSupervisor.String()], SupervisorRetries: m.SupervisorRetries,
			Timeouts: m.Timeouts, Drops: m.Drops,
			P50Ms: ms(m.P50), P90Ms: ms(m.P90), P99Ms: ms(m.P99), MaxMs: ms(m.Max),
			State: HookState{
				Running: h.State.Running, PID: h.State.Pid, Restarts: h.State.Restarts,
				MemoryBytes: h.State.MemoryCurrent, CPUSeconds: h.State.CPU.Seconds(),
				LastError: h.State.LastError, Warnings: s.warnings.For(h.Name),
			},
		}
		if m.ResourceFires > 0 {
			hs.MemoryPeakAvgBytes = m.MemorySum / int64(m.ResourceFires)
			hs.CPUAvgMs = ms(m.CPUSum / time.Duration(m.ResourceFires))
		}
		for _, pid := range h.State.Pids {
			g, procs := processTree(pid)
			if g != "" {
				hs.State.Groups = append(hs.State.Groups, g)
			}
			hs.State.Processes = append(hs.State.Processes, procs...)
			allProcs = append(allProcs, procs...)
		}
		r.Totals.Fires += m.Fires
		r.Totals.Errors += hs.Errors
		r.Totals.Timeouts += m.Timeouts
		r.Totals.OOMKills += m.Outcomes["oom_killed"]
		for k, v := range outcomes {
			r.Totals.Outcomes[k] += v
		}
		r.Hooks = append(r.Hooks, hs)
	}
	r.Resources = serviceResources(allProcs)
	return r
}

func toMechanisms(m supervisor.Mechanisms) Mechanisms {
	return Mechanisms{Backend: m.Backend, CgroupMode: m.CgroupMode, Spawn: m.Spawn, Attach: m.Attach,
		Kill: m.Kill, Exit: m.Exit, Pipes: m.Pipes, Notes: m.Notes}
}

// ms converts a duration to milliseconds with microsecond precision.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
