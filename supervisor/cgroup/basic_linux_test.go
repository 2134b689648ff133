// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestDetectMode(t *testing.T) {
	testutil.RequireLinux(t)
	var st unix.Statfs_t
	want := Unavailable
	if unix.Statfs("/sys/fs/cgroup", &st) == nil {
		want = Legacy
		if st.Type == unix.CGROUP2_SUPER_MAGIC {
			want = Unified
		} else if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			want = Hybrid
		}
	}
	if got := DetectMode(); got != want || DetectMode() != got {
		t.Fatalf("DetectMode() = %v, want %v", got, want)
	}
	t.Logf("mode %v", want)
}

func TestOpenCreatesSubtreeAndCloseRemovesIt(t *testing.T) {
	testutil.CheckFDLeak(t)
	mode := requireCgroups(t)
	name := testName()
	m, err := Open(Options{Name: name})
	if err != nil {
		testutil.SkipOrFail(t, "open: %v", err)
	}
	defer m.Close()
	if m.Mode() != mode {
		t.Errorf("Mode() = %v, want %v", m.Mode(), mode)
	}
	lay, err := discover(mode)
	if err != nil {
		t.Fatal(err)
	}
	// Where the subtree must be, computed from /proc/self/cgroup.
	var want []string
	if mode == Hybrid {
		want = append(want, filepath.Join("/sys/fs/cgroup/unified", lay.unifiedOwn, name))
	}
	if mode == Unified && lay.unifiedOwn == "/" {
		want = append(want, filepath.Join("/sys/fs/cgroup", name))
	}
	for _, c := range v1Controllers {
		if mnt := lay.v1[c]; mnt != nil {
			want = append(want, filepath.Join(mnt.point, lay.v1Own[c], name))
		}
	}
	for _, d := range want {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("subtree root %s missing: %v", d, err)
		}
	}
	t.Logf("subtree: %s; kill: %s", m.Path(), m.KillMechanism())
	if !strings.Contains(m.Path(), name) {
		t.Errorf("Path() = %q does not name %q", m.Path(), name)
	}
	g, err := m.NewGroup("hook", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name() != "hook-1" {
		t.Errorf("Name() = %q, want hook-1", g.Name())
	}
	if g2, err := m.NewGroup("hook", Limits{}); err != nil || g2.Name() != "hook-2" {
		t.Errorf("second group: %v, %v", g2, err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, d := range append(want, m.roots(name)[0].path) {
		if exists(d) {
			t.Errorf("%s still exists after Close", d)
		}
	}
	if _, err := m.NewGroup("hook", Limits{}); err == nil {
		t.Error("NewGroup after Close succeeded")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewGroupValidatesName(t *testing.T) {
	testutil.CheckFDLeak(t)
	m := openTest(t)
	for _, n := range []string{"", ".", "..", "a/b", ".hidden", "x\x00", strings.Repeat("n", 200)} {
		if g, err := m.NewGroup(n, Limits{}); err == nil {
			g.Delete()
			t.Errorf("NewGroup(%q) succeeded", n)
		}
	}
	if _, err := Open(Options{Name: "../escape"}); err == nil {
		t.Error("Open with a name that is not a path element succeeded")
	}
}

func TestLimitsWritten(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		l := Limits{MemoryMax: 64 << 20, CPUQuota: 20 * time.Millisecond, CPUPeriod: 50 * time.Millisecond, PidsMax: 17}
		if err := m.CanEnforce(l); err != nil {
			testutil.SkipOrFail(t, "cannot enforce: %v", err)
		}
		g := newGroup(t, m, l)
		if m.Mode() == Unified {
			d := g.uni
			for file, want := range map[string]string{
				"memory.max": "67108864", "cpu.max": "20000 50000", "pids.max": "17", "memory.oom.group": "1",
			} {
				if got := readT(t, d, file); got != want {
					t.Errorf("%s = %q, want %q", file, got, want)
				}
			}
			if exists(filepath.Join(d, "memory.swap.max")) {
				if got := readT(t, d, "memory.swap.max"); got != "0" {
					t.Errorf("memory.swap.max = %q, want 0", got)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, d := range g.dirs {
			switch {
			case d.h.has("memory"):
				seen["memory"] = true
				if got := readT(t, d.path, "memory.limit_in_bytes"); got != "67108864" {
					t.Errorf("memory.limit_in_bytes = %q", got)
				}
				if exists(filepath.Join(d.path, "memory.memsw.limit_in_bytes")) {
					if got := readT(t, d.path, "memory.memsw.limit_in_bytes"); got != "67108864" {
						t.Errorf("memory.memsw.limit_in_bytes = %q", got)
					}
				}
				if got := readT(t, d.path, "memory.oom_control"); !strings.Contains(got, "oom_kill_disable 0") {
					t.Errorf("memory.oom_control = %q", got)
				}
			case d.h.has("cpu"):
				seen["cpu"] = true
				if q, p := readT(t, d.path, "cpu.cfs_quota_us"), readT(t, d.path, "cpu.cfs_period_us"); q != "20000" || p != "50000" {
					t.Errorf("cfs quota/period = %s/%s, want 20000/50000", q, p)
				}
			case d.h.has("pids"):
				seen["pids"] = true
				if got := readT(t, d.path, "pids.max"); got != "17" {
					t.Errorf("pids.max = %q", got)
				}
			}
		}
		if !seen["memory"] || !seen["cpu"] || !seen["pids"] {
			t.Errorf("group lacks a hierarchy: %v", seen)
		}

		// Raising a v1 limit later must work too (memsw first).
		for _, d := range g.dirs {
			if d.h.has("memory") {
				if err := setV1Memory(d.path, 128<<20); err != nil {
					t.Errorf("raise memory limit: %v", err)
				}
				if err := setV1Memory(d.path, 32<<20); err != nil {
					t.Errorf("lower memory limit: %v", err)
				}
			}
		}
	})
}

func TestCanEnforceNamesWhatIsMissing(t *testing.T) {
	m := &Manager{missing: map[string]string{"memory": "cgroup v1 memory controller not mounted"}}
	if err := m.CanEnforce(Limits{PidsMax: 3}); err != nil {
		t.Errorf("CanEnforce(pids) = %v", err)
	}
	err := m.CanEnforce(Limits{MemoryMax: 1 << 20})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "cgroup v1 memory controller not mounted") {
		t.Errorf("CanEnforce(memory) = %v", err)
	}
}

func TestPlaceInEveryHierarchy(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		g := newGroup(t, m, Limits{PidsMax: 64})
		h := startHelper(t, "sleep", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatal(err)
		}
		expectIn(t, g, h.pid())
		pids, err := g.Pids()
		if err != nil || len(pids) != 1 || pids[0] != h.pid() {
			t.Errorf("Pids() = %v, %v; want [%d]", pids, err, h.pid())
		}
		if err := g.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := g.WaitEmpty(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ws := h.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
			t.Errorf("helper status %v, want SIGKILL", ws)
		}
	})
}

// The fast placement path: clone3 CLONE_INTO_CGROUP into UnifiedFD (Go's
// SysProcAttr.UseCgroupFD), then one write per kept v1 procs fd.
func TestCloneIntoUnifiedFDAndProcsFDs(t *testing.T) {
	testutil.CheckFDLeak(t)
	m := openTest(t)
	if m.unified == nil {
		t.Skip("no cgroup2 tree on a pure v1 host")
	}
	g := newGroup(t, m, Limits{PidsMax: 64})
	if g.UnifiedFD() < 0 {
		t.Fatal("UnifiedFD() = -1")
	}
	h := startHelper(t, "sleep", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.UnifiedFD()})
	if g.NeedsV1Placement() != (m.Mode() != Unified) {
		t.Errorf("NeedsV1Placement() = %v on %v", g.NeedsV1Placement(), m.Mode())
	}
	for _, fd := range g.ProcsFDs() {
		if _, err := unix.Write(fd, []byte(strconv.Itoa(h.pid()))); err != nil {
			t.Fatal(err)
		}
	}
	expectIn(t, g, h.pid())

	// Place on a process cloned into the group skips the cgroup2 write.
	h2 := startHelper(t, "sleep", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.UnifiedFD()})
	if !g.inUnified(h2.pid()) || g.inUnified(os.Getpid()) {
		t.Errorf("inUnified: cloned %v, self %v", g.inUnified(h2.pid()), g.inUnified(os.Getpid()))
	}
	if err := g.Place(h2.pid()); err != nil {
		t.Fatal(err)
	}
	expectIn(t, g, h2.pid())
}

// Options.Parent puts the subtree below a given path in every hierarchy;
// the directories Open made for it go away at Close.
func TestOpenWithParent(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		mode := requireCgroups(t)
		if legacyForTest {
			mode = Legacy
		}
		lay, err := discover(mode)
		if err != nil {
			t.Fatal(err)
		}
		// Below our own cgroup in every hierarchy: here only the memory
		// cgroup is not the root, and every other own path is its prefix.
		own := lay.unifiedOwn
		if p, ok := lay.v1Own["memory"]; ok {
			own = p
		}
		parent := filepath.Join(own, testName()+"-parent", "deeper")
		name := testName()
		m, err := Open(Options{Name: name, Parent: parent})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range m.hs {
			if want := filepath.Join(h.mount, parent, name); h.root != want || !exists(want) {
				t.Errorf("%s root %s, want %s", h.name, h.root, want)
			}
		}
		l := Limits{MemoryMax: 64 << 20, PidsMax: 8, CPUQuota: 10 * time.Millisecond}
		if err := m.CanEnforce(l); err != nil {
			t.Errorf("CanEnforce below a created parent: %v", err)
		} else if g, err := m.NewGroup("g", l); err != nil {
			t.Errorf("NewGroup: %v", err)
		} else {
			h := startHelper(t, "sleep", nil)
			if err := g.Place(h.pid()); err != nil {
				t.Fatal(err)
			}
			expectIn(t, g, h.pid())
		}
		created := m.created
		if len(created) == 0 {
			t.Error("Open created no parent directory")
		}
		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for _, d := range created {
			if exists(d) {
				t.Errorf("parent directory %s left after Close", d)
			}
		}
	})
}
