// SPDX-License-Identifier: Apache-2.0

// Package cgroup manages the groups (cgroups) hooksupd's children live in:
// mode detection (v1 / hybrid / v2), one subtree owned by the supervisor,
// per-child groups with memory / CPU / pids limits, race-free placement
// handles, tree kill, OOM detection, stats and stale cleanup.
//
// v1 and v2 are separate, honest implementations behind one Group type:
// on v2 a group is one directory; on v1 and hybrid it is one directory per
// controller hierarchy (memory, cpu, pids, freezer) plus, on hybrid hosts,
// one in the controller-less unified tree used for tracking and kill.
//
// The package never writes to a cgroup it did not create, and never moves
// a process it was not asked to move.
package cgroup

import (
	"time"

	"github.com/hooksupd/hooksupd/internal/errs"
)

// ErrNotSupported is wrapped by errors about missing cgroup features.
var ErrNotSupported = errs.ErrNotSupported

// Mode is the cgroup layout of the host.
type Mode int

// The layouts DetectMode can report.
const (
	Unavailable Mode = iota // no cgroup filesystem
	Legacy                  // v1 only
	Hybrid                  // v1 controllers plus a controller-less v2 tree
	Unified                 // v2 only
)

// String returns "none", "v1", "hybrid" or "v2".
func (m Mode) String() string {
	switch m {
	case Legacy:
		return "v1"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "v2"
	}
	return "none"
}

// Limits are the caps of one group. Zero fields are unlimited.
type Limits struct {
	MemoryMax int64 // bytes; swap is limited to 0 alongside
	CPUQuota  time.Duration
	CPUPeriod time.Duration // 0 means 100ms
	PidsMax   int64
	// MemoryHigh is the v2 memory.high throttle (no v1 equivalent).
	MemoryHigh int64
	// CPUWeight is v2 cpu.weight (1-10000, default 100), v1 cpu.shares
	// weight*1024/100; 0 leaves the default.
	CPUWeight uint64
}

// Stats are a group's resource figures.
type Stats struct {
	CPU           time.Duration
	MemoryCurrent int64
	MemoryPeak    int64 // 0 when the kernel does not report it
	OOMKills      uint64
	Pids          int64
	// CPUThrottled is the time the tree was held back by its CPU quota,
	// NrThrottled the number of periods it was; both 0 without a quota.
	CPUThrottled time.Duration
	NrThrottled  uint64
	// PidsPeak is the most tasks the group held at once, 0 when the kernel
	// does not report it (no pids.peak).
	PidsPeak int64
}

// Options configure a Manager.
type Options struct {
	// Name is the subtree's directory name (default "hooksupd").
	Name string
	// Parent overrides where the subtree goes, as a path relative to each
	// hierarchy's mount point. Empty means below the cgroup this process
	// is in (per hierarchy on v1), or, under systemd delegation, the
	// delegated cgroup.
	Parent string
}
