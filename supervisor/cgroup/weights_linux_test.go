// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestCPUWeightWritten: a CPU weight lands in cpu.weight (v2) or, as
// systemd converts it, in cpu.shares (v1).
func TestCPUWeightWritten(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		m := openTest(t)
		l := Limits{CPUWeight: 50}
		if err := m.CanEnforce(l); err != nil {
			testutil.SkipOrFail(t, "%v", err)
		}
		g := newGroup(t, m, l)
		if m.mode == Unified {
			if got := readT(t, g.uni, "cpu.weight"); got != "50" {
				t.Errorf("cpu.weight = %s, want 50", got)
			}
			return
		}
		found := false
		for _, d := range g.dirs {
			if !d.h.v2 && d.h.has("cpu") {
				found = true
				if got := readT(t, d.path, "cpu.shares"); got != "512" {
					t.Errorf("cpu.shares = %s, want 512 (weight 50)", got)
				}
			}
		}
		if !found {
			t.Errorf("a group with a CPU weight has no cpu hierarchy: %v", g.dirs)
		}
	})
	for w, want := range map[uint64]uint64{1: 10, 100: 1024, 10000: 102400} {
		if got := cpuShares(w); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", w, got, want)
		}
	}
}

// TestMemoryHigh: memory.high is written on v2 and refused, naming it, on
// v1 and hybrid hosts.
func TestMemoryHigh(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		m := openTest(t)
		l := Limits{MemoryHigh: 48 << 20}
		err := m.CanEnforce(l)
		if m.mode != Unified {
			if err == nil || !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "memory_high") {
				t.Fatalf("CanEnforce(MemoryHigh) on %v = %v, want a not-supported error naming memory_high", m.mode, err)
			}
			if _, err := m.NewGroup("g", l); err == nil {
				t.Fatal("NewGroup made a group whose memory.high cannot be enforced")
			}
			return
		}
		if err != nil {
			testutil.SkipOrFail(t, "%v", err)
		}
		g := newGroup(t, m, l)
		if got := readT(t, g.uni, "memory.high"); got != "50331648" {
			t.Errorf("memory.high = %s, want 50331648", got)
		}
	})
	if err := (&Manager{mode: Unified}).canEnforceWeights(Limits{CPUWeight: 10001}); len(err) == 0 {
		t.Error("cpu weight 10001 accepted")
	}
}
