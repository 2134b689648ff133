// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLinuxLauncherPool: fires take parked launchers, refills follow, and
// an idle pool stops its launchers (EOF makes them exit 0) and goes away.
func TestLinuxLauncherPool(t *testing.T) {
	b := lxNew(t, linuxConfig{idle: 300 * time.Millisecond, trimTick: 50 * time.Millisecond})
	if b.exe == nil {
		t.Skip("no launcher on this platform")
	}
	spec := &Spec{Pipes: PipeAll, Name: "pool", Path: "/bin/true"}
	for range 5 {
		p := lxStart(t, b, spec)
		lxWait(t, p, 5*time.Second)
		p.Release()
	}
	pl := b.pools[poolKey{name: "pool"}]
	var parked []int
	lxEventually(t, 5*time.Second, "no launcher parked after fires", func() bool {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		parked = parked[:0]
		for _, c := range pl.ready {
			parked = append(parked, c.pid)
		}
		return len(parked) > 0 && pl.preparing == 0
	})
	for _, pid := range parked {
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); !strings.HasPrefix(exe, "/memfd:hooksupd-launcher") {
			t.Errorf("parked pid %d runs %q", pid, exe)
		}
	}
	lxEventually(t, 5*time.Second, "idle pool not trimmed", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pools) == 0
	})
	for _, pid := range parked {
		if !lxGone(pid) {
			t.Errorf("trimmed launcher %d still runs", pid)
		}
	}
	if n := b.parked.Load(); n != 0 {
		t.Errorf("%d launchers counted as parked after the trim", n)
	}
	// A trimmed key works again.
	p := lxStart(t, b, spec)
	if st := lxWait(t, p, 5*time.Second); !st.Success() {
		t.Errorf("after trim: %+v", st)
	}
}

// TestLinuxDirectSpawn: without a launcher, a v2-only host still places
// children race-free (clone3); elsewhere a capped spec is refused unless
// it allows running uncapped, and an uncapped one is still tracked. A
// uid 0 child cannot have its capabilities dropped without a launcher:
// refused unless it allows running unsandboxed.
func TestLinuxDirectSpawn(t *testing.T) {
	b := lxNew(t, linuxConfig{direct: true})
	if b.exe != nil {
		t.Fatal("launcher loaded with direct=true")
	}
	if os.Geteuid() == 0 {
		_, err := b.Start(context.Background(), lxSh("exit 0"))
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "capabilities") {
			t.Errorf("uid 0 direct spawn: %v, want ErrNotSupported about capabilities", err)
		}
	}
	sh := lxSh(lxHostPid + "; echo $hostpid; read x")
	sh.Sandbox.AllowUnsandboxed = true
	p := lxStart(t, b, sh)
	if got := lxReadLine(t, p.Stdout(), 5*time.Second); got != strconv.Itoa(p.Pid()) {
		t.Errorf("pid %q, want %d", got, p.Pid())
	}
	capped := lxSh("exit 0")
	capped.Limits = Limits{MemoryMax: 64 << 20}
	capped.Sandbox.AllowUnsandboxed = true
	_, err := b.Start(context.Background(), capped)
	switch {
	case b.raceFree():
		if err != nil {
			t.Errorf("race-free host: %v", err)
		}
	case !errors.Is(err, ErrNotSupported):
		t.Errorf("capped direct spawn on %s: %v, want ErrNotSupported", b.Mechanisms().CgroupMode, err)
	}
	if b.cg == nil {
		return
	}
	capped.AllowUncapped = true
	q := lxStart(t, b, capped)
	if st := lxWait(t, q, 5*time.Second); !st.Success() {
		t.Errorf("allow_uncapped: %+v", st)
	}
}

// TestLinuxKilledGroupNotReused: after a tree kill the next fires of the
// same hook still run. On Linux 6.18 a child cloned (clone3
// CLONE_INTO_CGROUP) into a cgroup that was once cgroup.kill'ed is killed
// at birth, so such a group must be replaced, not reused.
func TestLinuxKilledGroupNotReused(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	for round := range 3 {
		p := lxStart(t, b, lxSh("echo ready; exec sleep 60"))
		lxReadLine(t, p.Stdout(), 5*time.Second)
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		lxWait(t, p, 5*time.Second)
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			q := lxStart(t, b, lxSh("echo ok"))
			if got := lxReadLine(t, q.Stdout(), 5*time.Second); got != "ok" {
				t.Fatalf("round %d fire %d: %q", round, i, got)
			}
			if st := lxWait(t, q, 5*time.Second); !st.Success() {
				t.Fatalf("round %d fire %d after a kill: %+v", round, i, st)
			}
			q.Release()
		}
	}
}

// TestLinuxNoGoroutinePerChild: live children cost no goroutine and no OS
// thread of the supervisor (one epoll watcher for all exits; the caller
// owns the pipes).
func TestLinuxNoGoroutinePerChild(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	warm := lxStart(t, b, lxSh("read x"))
	warm.Stdin().Close()
	lxWait(t, warm, 5*time.Second)
	time.Sleep(100 * time.Millisecond) // refills settle
	g0, t0 := runtime.NumGoroutine(), lxThreads()
	const n = 50
	for range n {
		lxStart(t, b, lxSh("read x"))
	}
	time.Sleep(200 * time.Millisecond)
	g1, t1 := runtime.NumGoroutine(), lxThreads()
	t.Logf("%d live children: goroutines %d -> %d, threads %d -> %d", n, g0, g1, t0, t1)
	if g1-g0 >= n/5 || t1-t0 >= n/5 {
		t.Errorf("goroutines %d -> %d, threads %d -> %d for %d children", g0, g1, t0, t1, n)
	}
}

func lxThreads() int {
	ents, _ := os.ReadDir("/proc/self/task")
	return len(ents)
}

// TestLinuxParkedCap: many hooks fired in bursts do not park more than
// maxParkedTotal launchers (plus one per pool a fire is waiting for).
func TestLinuxParkedCap(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	if b.exe == nil {
		t.Skip("no launcher on this platform")
	}
	const hooks = 40
	var wg sync.WaitGroup
	for h := range hooks {
		wg.Go(func() {
			for range 3 {
				if err := lxRunOnce(b, &Spec{Pipes: PipeAll, Name: "cap" + strconv.Itoa(h), Path: "/bin/sh", Args: []string{"-c", `read x; echo "$x"`}}, "x"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // refills settle
	count := 0
	b.mu.Lock()
	for _, pl := range b.pools {
		pl.mu.Lock()
		count += len(pl.ready) + pl.preparing
		pl.mu.Unlock()
	}
	b.mu.Unlock()
	t.Logf("%d hooks: %d launchers parked (counter %d)", hooks, count, b.parked.Load())
	if int64(count) != b.parked.Load() {
		t.Errorf("counter %d, pools hold %d", b.parked.Load(), count)
	}
	if count > maxParkedTotal+hooks {
		t.Errorf("%d launchers parked, cap %d", count, maxParkedTotal)
	}
}
