// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestNewGroupUnderSignals creates groups with every limit on a thread that
// receives a stream of harmless signals (SIGURG, which the Go runtime
// already handles for preemption). On cgroup v1 a write to
// memory.limit_in_bytes fails with EINTR whenever a signal is pending
// (mem_cgroup_resize_max checks for one before anything else), so a single
// unretried write fails here within a few creations.
func TestNewGroupUnderSignals(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		m := openTest(t)
		l := Limits{MemoryMax: 64 << 20, PidsMax: 64, CPUQuota: 50 * time.Millisecond}
		if err := m.CanEnforce(l); err != nil {
			testutil.SkipOrFail(t, "%v", err)
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent int
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if unix.Tgkill(unix.Getpid(), tid, unix.SIGURG) == nil {
					sent++
				}
			}
		})
		var errs []error
		const n = 100
		for i := 0; i < n && len(errs) < 5; i++ {
			g, err := m.NewGroup("sig", l)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if g.mem != "" && !g.memV2 {
				b, err := readFile(g.mem + "/memory.limit_in_bytes")
				if err != nil || strings.TrimSpace(string(b)) != strconv.FormatInt(l.MemoryMax, 10) {
					errs = append(errs, err)
				}
			}
			if err := g.Delete(); err != nil {
				errs = append(errs, err)
			}
		}
		close(stop)
		wg.Wait()
		t.Logf("%d signals sent to the creating thread", sent)
		for _, err := range errs {
			t.Error(err)
		}
	})
}

// TestEINTRRetriedEverywhere makes every system call on cgroup files fail
// once with EINTR before it is really made (through the fault hook) and
// checks that a manager opens, a group is created with its limits written,
// runs, is killed and removed, and that the hook saw writes, so it does
// stand in front of them.
func TestEINTRRetriedEverywhere(t *testing.T) {
	eachMode(t, func(t *testing.T) {
		testutil.CheckFDLeak(t)
		var mu sync.Mutex
		seen := map[string]int{}
		fail := true
		fault = func(op, path string) error {
			mu.Lock()
			defer mu.Unlock()
			fail = !fail
			if !fail {
				return nil
			}
			seen[op]++
			return unix.EINTR
		}
		t.Cleanup(func() { fault = nil })
		m := openTest(t)
		l := Limits{MemoryMax: 64 << 20, PidsMax: 64, CPUQuota: 50 * time.Millisecond}
		if err := m.CanEnforce(l); err != nil {
			testutil.SkipOrFail(t, "%v", err)
		}
		g, err := m.NewGroup("eintr", l)
		if err != nil {
			t.Fatalf("NewGroup under EINTR: %v", err)
		}
		memFile, pidsFile := "memory.max", "pids.max"
		if !g.memV2 {
			memFile = "memory.limit_in_bytes"
		}
		if got := readT(t, g.mem, memFile); got != strconv.FormatInt(l.MemoryMax, 10) {
			t.Errorf("%s = %q, want %d", memFile, got, l.MemoryMax)
		}
		if got := readT(t, g.pidsDir, pidsFile); got != "64" {
			t.Errorf("%s = %q, want 64", pidsFile, got)
		}
		h := startHelper(t, "sleep", nil)
		if err := g.Place(h.pid()); err != nil {
			t.Fatalf("Place under EINTR: %v", err)
		}
		expectIn(t, g, h.pid())
		if err := g.BeginRun(); err != nil {
			t.Fatalf("BeginRun under EINTR: %v", err)
		}
		if _, err := g.Stats(); err != nil {
			t.Fatalf("Stats under EINTR: %v", err)
		}
		if err := g.Kill(); err != nil {
			t.Fatalf("Kill under EINTR: %v", err)
		}
		h.wait(t, 10*time.Second)
		if err := g.Delete(); err != nil {
			t.Fatalf("Delete under EINTR: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, op := range []string{"mkdir", "open", "write", "read", "pread", "rmdir", "flock", "access"} {
			if seen[op] == 0 {
				t.Errorf("no %s went through the fault hook (seen %v)", op, seen)
			}
		}
		t.Logf("EINTR injected: %v", seen)
	})
}
