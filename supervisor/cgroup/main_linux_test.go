// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the helper program the tests put into groups
// (it needs no toolchain or shell, so it also runs in the cgroup v2 VM).
const helperEnv = "HOOKSUPD_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role))
	}
	goleak.VerifyTestMain(m)
}

// runHelper waits for one byte on stdin (so that the test can place it
// first), then plays its role.
func runHelper(role string) int {
	var b [1]byte
	if _, err := os.Stdin.Read(b[:]); err != nil {
		return 3
	}
	verb, arg, _ := strings.Cut(role, " ")
	switch verb {
	case "memhog": // touch arg MiB
		n, _ := strconv.Atoi(arg)
		var keep [][]byte
		for i := 0; i < n; i++ {
			c := make([]byte, 1<<20)
			for j := 0; j < len(c); j += 4096 {
				c[j] = 1
			}
			keep = append(keep, c)
		}
		runtime.KeepAlive(keep)
		return 0
	case "spin": // burn one CPU for arg
		d, _ := time.ParseDuration(arg)
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
		return 0
	case "burn": // use arg of CPU time (not wall time: a busy host stretches that)
		d, _ := time.ParseDuration(arg)
		runtime.LockOSThread()
		for {
			var ts unix.Timespec
			if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil || time.Duration(ts.Nano()) >= d {
				return 0
			}
		}
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "exit":
		return 0
	case "deleg":
		return runDelegHelper(arg)
	}
	return 2
}

var testSeq atomic.Int64

// testName is unique across test binaries running at once on this host.
func testName() string {
	return fmt.Sprintf("hooksupd-test-%d-%d", os.Getpid(), testSeq.Add(1))
}

// requireCgroups skips (fails under CI) unless the test can use cgroups.
func requireCgroups(t *testing.T) Mode {
	t.Helper()
	testutil.RequireRoot(t)
	mode := DetectMode()
	if mode == Unavailable {
		testutil.SkipOrFail(t, "no cgroup filesystem")
	}
	return mode
}

// requireUnified skips on v1 and hybrid hosts; on a v2 host a test that
// cannot run is a failure under CI.
func requireUnified(t *testing.T) {
	t.Helper()
	if mode := requireCgroups(t); mode != Unified {
		t.Skipf("needs a pure cgroup v2 host (runs in the v2 VM); this host is %v", mode)
	}
}

// eachMode runs f natively and, on a hybrid host, once more as if the host
// were pure v1 (the unified tree ignored), so that both the v2 and the v1
// paths run on every host that has them.
func eachMode(t *testing.T, f func(t *testing.T)) {
	mode := requireCgroups(t)
	t.Run(mode.String(), f)
	if mode == Hybrid {
		t.Run("v1", func(t *testing.T) {
			legacyForTest = true
			defer func() { legacyForTest = false }()
			f(t)
		})
	}
}

// openTest opens a Manager with a unique subtree and closes it (checking
// that the subtree is gone) when the test ends.
func openTest(t *testing.T) *Manager {
	t.Helper()
	requireCgroups(t)
	m, err := Open(Options{Name: testName()})
	if err != nil {
		testutil.SkipOrFail(t, "open: %v", err)
	}
	t.Cleanup(func() {
		roots := m.roots(m.name)
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, r := range roots {
			if exists(r.path) {
				t.Errorf("subtree root %s still exists after Close", r.path)
			}
		}
	})
	return m
}

// newGroup creates a group and deletes it when the test ends.
func newGroup(t *testing.T, m *Manager, l Limits) *Group {
	t.Helper()
	g, err := m.NewGroup("g", l)
	if err != nil {
		t.Fatalf("NewGroup(%+v): %v", l, err)
	}
	t.Cleanup(func() {
		if err := g.Delete(); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	return g
}

// helper is a started, gated helper process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// startHelper starts the test binary in role, blocked until release. It is
// killed and reaped when the test ends.
func startHelper(t *testing.T, role string, attr *syscall.SysProcAttr) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "GOMAXPROCS=1", "GODEBUG=")
	cmd.SysProcAttr = attr
	return start(t, cmd)
}

// startSh starts sh -c script, blocked on "read x" until release.
func startSh(t *testing.T, script string) *helper {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		testutil.SkipOrFail(t, "no sh: %v", err)
	}
	return start(t, exec.Command(sh, "-c", "read x; "+script))
}

func start(t *testing.T, cmd *exec.Cmd) *helper {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	h := &helper{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		stdin.Close()
	})
	return h
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

func (h *helper) release(t *testing.T) {
	t.Helper()
	if _, err := h.stdin.Write([]byte("go\n")); err != nil {
		t.Fatalf("release helper: %v", err)
	}
}

// wait waits for the helper to exit and returns its wait status.
func (h *helper) wait(t *testing.T, d time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(d):
		t.Fatalf("helper %d still running after %v", h.pid(), d)
	}
	return h.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// procCgroups reads /proc/<pid>/cgroup as controller (or "" for cgroup2) ->
// path.
func procCgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// relPath returns a group directory relative to its hierarchy's mount.
func relPath(d cgdir) string {
	return "/" + strings.TrimPrefix(strings.TrimPrefix(d.path, d.h.mount), "/")
}

// expectIn checks that pid is in every directory of g.
func expectIn(t *testing.T, g *Group, pid int) {
	t.Helper()
	cgs := procCgroups(t, pid)
	for _, d := range g.dirs {
		key := ""
		if !d.h.v2 {
			key = d.h.ctrls[0]
		}
		if got, want := cgs[key], relPath(d); got != want {
			t.Errorf("pid %d in %q hierarchy %s: got %s, want %s", pid, key, d.h.name, got, want)
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func readT(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
