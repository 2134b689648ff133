// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"context"
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

// startTree starts sh with 50 sleeping children in g and waits until all
// 51 processes are in it.
func startTree(t *testing.T, g *Group) *helper {
	t.Helper()
	h := startSh(t, `i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done; wait`)
	if err := g.Place(h.pid()); err != nil {
		t.Fatal(err)
	}
	h.release(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids, err := g.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 51 {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d processes in the group", len(pids))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Pitfalls 4 and 10: the whole tree dies, not only the direct child, with
// every kill mechanism the host offers.
func TestKillTreeAndWaitEmpty(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		mode := requireCgroups(t)
		if legacyForTest {
			mode = Legacy
		}
		mechs := []killMech{killEach}
		if mode != Unified {
			mechs = append(mechs, killFreezeV1)
		}
		if mode != Legacy {
			mechs = append(mechs, killFreezeV2, killCgroupKill)
		}
		for _, mech := range mechs {
			t.Run(strings.ReplaceAll(mech.String()+"-"+strconv.Itoa(int(mech)), " ", "_"), func(t *testing.T) {
				testutil.CheckFDLeak(t)
				m := openTest(t)
				if mech == killFreezeV1 && m.v1["freezer"] == nil {
					testutil.SkipOrFail(t, "no v1 freezer")
				}
				if (mech == killFreezeV2 || mech == killCgroupKill) && !exists(filepath.Join(m.unified.root, mech.file())) {
					testutil.SkipOrFail(t, "no %s", mech.file())
				}
				m.kill = mech
				g := newGroup(t, m, Limits{PidsMax: 200})
				h := startTree(t, g)
				pids, _ := g.Pids()
				start := time.Now()
				if err := g.Kill(); err != nil {
					t.Fatalf("Kill: %v", err)
				}
				if err := g.WaitEmpty(ctxT(t, 10*time.Second)); err != nil {
					t.Fatalf("WaitEmpty: %v", err)
				}
				took := time.Since(start)
				t.Logf("%s: %d processes gone in %v", mech, len(pids), took)
				if took > 5*time.Second {
					t.Errorf("kill+wait took %v", took)
				}
				if left, _ := g.Pids(); len(left) != 0 {
					t.Errorf("processes left: %v", left)
				}
				if ws := h.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
					t.Errorf("sh status %v", ws)
				}
				for _, p := range pids {
					// Orphaned sleeps are reaped by init; none may still run.
					if b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil && !strings.Contains(string(b), ") Z") && inGroup(t, g, p) {
						t.Errorf("pid %d still alive in the group", p)
					}
				}
			})
		}
	})
}

func (k killMech) file() string {
	if k == killCgroupKill {
		return "cgroup.kill"
	}
	return "cgroup.freeze"
}

func inGroup(t *testing.T, g *Group, pid int) bool {
	for _, p := range treePidsOf(g.dirs) {
		if p == pid {
			return true
		}
	}
	return false
}

func TestWaitEmptyHonoursContext(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		g := newGroup(t, m, Limits{})
		h := startHelper(t, "sleep", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := g.WaitEmpty(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitEmpty on a live group = %v, want DeadlineExceeded", err)
		}
		if took := time.Since(start); took > 400*time.Millisecond {
			t.Errorf("WaitEmpty returned %v after a 100ms deadline", took)
		}
		// The expired deadline must not leak into the next wait.
		if err := g.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := g.WaitEmpty(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("WaitEmpty after kill: %v", err)
		}
	})
}

// Pitfall 9: rmdir of a cgroup that still (or seemingly) holds a process
// fails with EBUSY; rmdirRetry kills what is inside and retries.
func TestRmdirRetriesEBUSY(t *testing.T) {
	testutil.CheckFDLeak(t)
	m := openTest(t)
	g := newGroup(t, m, Limits{})
	h := startHelper(t, "sleep", nil)
	if err := g.Place(h.pid()); err != nil {
		t.Fatal(err)
	}
	d := g.dirs[len(g.dirs)-1].path
	if err := unix.Rmdir(d); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("rmdir of a populated cgroup: %v, want EBUSY", err)
	}
	tries, err := m.rmdirRetry(d)
	if err != nil {
		t.Fatalf("rmdirRetry: %v", err)
	}
	if tries < 2 {
		t.Errorf("rmdirRetry succeeded after %d tries, want a retry", tries)
	}
	if exists(d) {
		t.Errorf("%s still exists", d)
	}
	if ws := h.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
		t.Errorf("helper status %v", ws)
	}
}

// Delete of a group whose tree is still alive kills it, waits, and
// removes every directory.
func TestDeleteKillsWhatIsLeft(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		g, err := m.NewGroup("g", Limits{PidsMax: 200})
		if err != nil {
			t.Fatal(err)
		}
		startTree(t, g)
		dirs := g.dirs
		start := time.Now()
		if err := g.Delete(); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		t.Logf("Delete of a 51-process group: %v", time.Since(start))
		for _, d := range dirs {
			if exists(d.path) {
				t.Errorf("%s still exists", d.path)
			}
		}
		if err := g.Delete(); err != nil {
			t.Errorf("second Delete: %v", err)
		}
		if err := g.Place(os.Getpid()); err == nil {
			t.Error("Place after Delete succeeded")
		}
	})
}

// A group that got cgroup.kill is never handed out again: Linux 6.18 (at
// least) SIGKILLs every child later cloned (clone3 CLONE_INTO_CGROUP) into
// a cgroup that was once cgroup.kill'ed. A group killed another way is
// reused, and a child cloned into the group Get hands out after a kill
// runs.
func TestPoolReplacesCgroupKilledGroup(t *testing.T) {
	requireCgroups(t)
	for _, mech := range []killMech{killCgroupKill, killFreezeV2, killFreezeV1} {
		t.Run(strings.ReplaceAll(mech.String()+"-"+strconv.Itoa(int(mech)), " ", "_"), func(t *testing.T) {
			testutil.CheckFDLeak(t)
			m := openTest(t)
			switch {
			case mech == killFreezeV1 && m.v1["freezer"] == nil,
				mech != killFreezeV1 && (m.unified == nil || !exists(filepath.Join(m.unified.root, mech.file()))):
				t.Skipf("no %s on this host", mech)
			}
			m.kill = mech
			p := m.NewPool("k", Limits{PidsMax: 16}, 2)
			defer func() {
				if err := p.Close(); err != nil {
					t.Errorf("pool Close: %v", err)
				}
			}()
			g, err := p.Get()
			if err != nil {
				t.Fatal(err)
			}
			first, dirs := g.Name(), g.dirs
			h := startHelper(t, "sleep", nil)
			if err := g.Place(h.pid()); err != nil {
				t.Fatal(err)
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
			p.Put(g)
			g, err = p.Get()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Put(g)
			if reused := g.Name() == first; reused != (mech != killCgroupKill) {
				t.Errorf("after a %s kill: Get returned %s (first %s)", mech, g.Name(), first)
			}
			if mech == killCgroupKill {
				for _, d := range dirs {
					if exists(d.path) {
						t.Errorf("cgroup.kill'ed group kept: %s", d.path)
					}
				}
			}
			if g.UnifiedFD() < 0 {
				return
			}
			c := startHelper(t, "exit", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.UnifiedFD()})
			c.release(t)
			if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
				t.Errorf("child cloned into the group handed out after a %s kill: %v", mech, ws)
			}
		})
	}
}
