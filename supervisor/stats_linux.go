// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"time"

	"github.com/prometheus/procfs"
)

// linuxProcStats reads a live child's figures from /proc: the fallback without
// a group. It covers the direct child only.
func linuxProcStats(pid int) (Stats, error) {
	proc, err := procfs.NewProc(pid)
	if err != nil {
		return Stats{}, err
	}
	st, err := proc.Stat()
	if err != nil {
		return Stats{}, err
	}
	s := Stats{
		CPU:           time.Duration(st.CPUTime() * float64(time.Second)),
		MemoryCurrent: int64(st.ResidentMemory()),
		Pids:          1,
	}
	if status, err := proc.NewStatus(); err == nil {
		s.MemoryPeak = int64(status.VmHWM)
	}
	return s, nil
}
