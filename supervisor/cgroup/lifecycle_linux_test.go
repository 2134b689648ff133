// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"fmt"
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

// crash drops a Manager the way a killed process does: its fds close, its
// directories and processes stay.
func crash(m *Manager) {
	m.mu.Lock()
	m.closed = true
	for g := range m.groups {
		g.mu.Lock()
		g.closeFDs()
		g.deleted = true
		g.mu.Unlock()
	}
	for p := range m.pools {
		for _, g := range p.stock {
			g.closeFDs()
			g.deleted = true
		}
	}
	m.mu.Unlock()
	m.unlockAll()
}

// Crash safety: a restarted instance kills and removes what the previous
// one left in its subtree.
func TestOpenRemovesStaleGroups(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		requireCgroups(t)
		name := testName()
		m1, err := Open(Options{Name: name})
		if err != nil {
			testutil.SkipOrFail(t, "open: %v", err)
		}
		g, err := m1.NewGroup("old", Limits{PidsMax: 32})
		if err != nil {
			t.Fatal(err)
		}
		h := startHelper(t, "sleep", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatal(err)
		}
		// A nested leftover too: stale cleanup goes deepest first.
		nested := filepath.Join(g.dirs[0].path, "nested")
		if err := os.Mkdir(nested, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs := g.dirs
		crash(m1)

		m2, err := Open(Options{Name: name})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer func() {
			if err := m2.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		if m2.name != name {
			t.Errorf("reopened as %q, want %q", m2.name, name)
		}
		if ws := h.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
			t.Errorf("stale process: status %v, want SIGKILL", ws)
		}
		for _, d := range append(dirs, cgdir{path: nested}) {
			if exists(d.path) {
				t.Errorf("stale %s still exists", d.path)
			}
		}
		for _, r := range m2.roots(name) {
			if !exists(r.path) {
				t.Errorf("subtree root %s missing", r.path)
			}
		}
	})
}

// Two live instances with one name must not sweep each other: the second
// one takes "<name>-<pid>", and the subtree of a dead "<name>-<pid>" is
// removed by the next Open.
func TestSubtreeLockAndStaleSiblings(t *testing.T) {
	testutil.CheckFDLeak(t)
	requireCgroups(t)
	name := testName()
	m1, err := Open(Options{Name: name})
	if err != nil {
		testutil.SkipOrFail(t, "open: %v", err)
	}
	defer m1.Close()
	g1, err := m1.NewGroup("live", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	live := startHelper(t, "sleep", nil)
	if err := g1.Place(live.pid()); err != nil {
		t.Fatal(err)
	}

	m2, err := Open(Options{Name: name})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if want := fmt.Sprintf("%s-%d", name, os.Getpid()); m2.name != want {
		t.Errorf("second instance uses %q, want %q", m2.name, want)
	}
	select {
	case <-live.done:
		t.Fatal("the second instance killed the first one's process")
	case <-time.After(50 * time.Millisecond):
	}
	// A third live Manager of the same process gets a name of its own.
	mx, err := Open(Options{Name: name})
	if err != nil {
		t.Fatalf("third live Open: %v", err)
	}
	if want := fmt.Sprintf("%s-%d-1", name, os.Getpid()); mx.name != want {
		t.Errorf("third live instance uses %q, want %q", mx.name, want)
	}
	if err := mx.Close(); err != nil {
		t.Fatal(err)
	}
	g2, err := m2.NewGroup("orphan", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	orphan := startHelper(t, "sleep", nil)
	if err := g2.Place(orphan.pid()); err != nil {
		t.Fatal(err)
	}
	roots2 := m2.roots(m2.name)
	crash(m2)
	// And a dead instance with another pid (above pid_max: never live).
	dead := startHelper(t, "sleep", nil)
	deadRoots := m1.roots(name + "-4194305")
	for _, r := range deadRoots {
		g := filepath.Join(r.path, "g-1")
		if err := os.MkdirAll(g, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(filepath.Join(g, "cgroup.procs"), strconv.Itoa(dead.pid())); err != nil {
			t.Fatal(err)
		}
	}

	// The first instance still holds name; a third Open sweeps the dead
	// sibling and takes "<name>-<pid>" itself.
	m3, err := Open(Options{Name: name})
	if err != nil {
		t.Fatalf("third Open: %v", err)
	}
	defer m3.Close()
	if ws := orphan.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
		t.Errorf("orphan of the dead instance: %v", ws)
	}
	if ws := dead.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
		t.Errorf("process of a dead sibling subtree: %v", ws)
	}
	for _, r := range deadRoots {
		if exists(r.path) {
			t.Errorf("dead sibling %s not removed", r.path)
		}
	}
	if m3.name == name {
		t.Errorf("third instance took %q while the first holds it", name)
	}
	for _, r := range roots2 {
		if r.path == filepath.Join(filepath.Dir(r.path), m3.name) {
			continue // reused by m3
		}
		if exists(r.path) {
			t.Errorf("dead sibling %s not removed", r.path)
		}
	}
	if !inGroup(t, g1, live.pid()) {
		t.Error("the first instance's process left its group")
	}
}

// Pitfall 11: no OOM kill of an earlier run may be attributed to the next
// run of a reused group.
func TestPoolReuseHasNoStaleOOM(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		l := Limits{MemoryMax: 64 << 20, PidsMax: 64}
		if err := m.CanEnforce(l); err != nil {
			testutil.SkipOrFail(t, "%v", err)
		}
		p := m.NewPool("pooled", l, 1)
		defer func() {
			if err := p.Close(); err != nil {
				t.Errorf("pool Close: %v", err)
			}
		}()
		g, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		first := g.Name()
		h := startHelper(t, "memhog 200", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatal(err)
		}
		h.release(t)
		h.wait(t, 20*time.Second)
		if oom, err := g.OOMKilled(); err != nil || !oom {
			t.Fatalf("run 1: OOMKilled = %v, %v; want true", oom, err)
		}
		if err := g.WaitEmpty(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		p.Put(g)

		g, err = p.Get()
		if err != nil {
			t.Fatal(err)
		}
		if g.Name() != first {
			t.Errorf("pool made a new group %q instead of reusing %q", g.Name(), first)
		}
		h = startHelper(t, "memhog 8", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatal(err)
		}
		h.release(t)
		if ws := h.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
			t.Fatalf("run 2: %v", ws)
		}
		if oom, err := g.OOMKilled(); err != nil || oom {
			t.Errorf("run 2 in the reused group: OOMKilled = %v, %v; want false", oom, err)
		}
		st, err := g.Stats()
		if err != nil || st.OOMKills != 0 {
			t.Errorf("run 2: Stats = %+v, %v; want no OOM kills", st, err)
		}
		if st.MemoryPeak >= 64<<20 {
			t.Errorf("run 2 peak %d is run 1's", st.MemoryPeak)
		}

		// A group that is not empty is not taken back.
		busy := startHelper(t, "sleep", nil)
		if err := g.Place(busy.pid()); err != nil {
			t.Fatal(err)
		}
		dirs := g.dirs
		p.Put(g)
		if ws := busy.wait(t, 5*time.Second); ws.Signal() != syscall.SIGKILL {
			t.Errorf("Put of a busy group: process %v", ws)
		}
		if exists(dirs[0].path) {
			t.Error("Put of a busy group kept it")
		}
		g3, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		if g3.Name() == first {
			t.Error("Get returned the deleted group")
		}
		p.Put(g3)
	})
}

// Pitfall 12: no inotify instance, whatever the group does.
func TestNoInotify(t *testing.T) {
	testutil.CheckFDLeak(t)
	count := func() int {
		n := 0
		for _, target := range testutil.OpenFDs() {
			if strings.Contains(target, "inotify") {
				n++
			}
		}
		return n
	}
	before := count()
	m := openTest(t)
	p := m.NewPool("p", Limits{PidsMax: 8}, 2)
	for range 3 {
		g, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
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
		if _, err := g.OOMKilled(); err != nil {
			t.Fatal(err)
		}
		p.Put(g)
	}
	if got := count(); got != before {
		t.Errorf("inotify fds: %d before, %d after", before, got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWaitEmptyUsesPoller(t *testing.T) {
	testutil.CheckFDLeak(t)
	m := openTest(t)
	if m.unified == nil {
		t.Skip("no cgroup2 tree")
	}
	g := newGroup(t, m, Limits{})
	if !g.pollable {
		t.Fatal("cgroup.events is not pollable by the runtime poller")
	}
	h := startHelper(t, "sleep", nil)
	if err := g.Place(h.pid()); err != nil {
		t.Fatal(err)
	}
	// Kill from outside after the wait has gone past its spin phase: the
	// poller must wake on the populated notification.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = unix.Kill(h.pid(), unix.SIGKILL)
	}()
	start := time.Now()
	if err := g.WaitEmpty(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 40*time.Millisecond || took > 2*time.Second {
		t.Errorf("WaitEmpty returned after %v; the kill came after 50ms", took)
	}
}
