// SPDX-License-Identifier: Apache-2.0

//go:build unix

package supervisor

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func newPortable(t *testing.T) Backend {
	t.Helper()
	b, err := NewPortable(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// sh starts /bin/sh -c script on b with a minimal environment.
func sh(t *testing.T, b Backend, script string) Process {
	t.Helper()
	p, err := b.Start(context.Background(), &Spec{Pipes: PipeAll,
		Name: "t", Path: "/bin/sh", Args: []string{"-c", script},
		Env: []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Release() })
	return p
}

// readAll closes stdin, reads stdout to EOF and closes the taken ends.
func readAll(t *testing.T, p Process) string {
	t.Helper()
	_ = p.Stdin().Close()
	out, err := io.ReadAll(p.Stdout())
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Stdout().Close()
	_ = p.Stderr().Close()
	return string(out)
}

func waitExit(t *testing.T, p Process, within time.Duration) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("pid %d did not exit within %v: %v", p.Pid(), within, err)
	}
	return st
}

// gone reports whether pid no longer runs (absent, or a zombie waiting for
// its new parent to reap it).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func eventually(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPortableCanEnforce(t *testing.T) {
	b := newPortable(t)
	if err := b.CanEnforce(Limits{}); err != nil {
		t.Fatalf("zero limits: %v", err)
	}
	for _, tc := range []struct {
		l    Limits
		name string
	}{
		{Limits{MemoryMax: 1 << 20}, "memory_max"},
		{Limits{CPUQuota: time.Millisecond}, "cpu_max"},
		{Limits{PidsMax: 4}, "pids_max"},
		{Limits{NoFile: 64}, "nofile"},
	} {
		err := b.CanEnforce(tc.l)
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "portable backend cannot enforce "+tc.name) {
			t.Errorf("%+v: got %v", tc.l, err)
		}
	}
	if got := b.Mechanisms(); got.Backend != "portable" || got.Kill != "process group" {
		t.Errorf("mechanisms: %+v", got)
	}
}

func TestPortableLimitsNeedAllowUncapped(t *testing.T) {
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	spec := &Spec{Pipes: PipeAll, Path: "/bin/true", Limits: Limits{MemoryMax: 64 << 20}}
	if _, err := b.Start(context.Background(), spec); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("capped start: got %v, want ErrNotSupported", err)
	}
	spec.AllowUncapped = true
	p, err := b.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, p, 5*time.Second); !st.Success() {
		t.Fatalf("status %v", st)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestPortableEnvDirAndPipes(t *testing.T) {
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	dir := t.TempDir()
	env := []string{"A=1", "B=two words"}
	p, err := b.Start(context.Background(), &Spec{Pipes: PipeAll,
		Path: "/usr/bin/env", Env: env, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	out := readAll(t, p)
	if got := strings.Split(strings.TrimSpace(out), "\n"); !slices.Equal(got, env) {
		t.Fatalf("env = %q, want exactly %q", got, env)
	}
	waitExit(t, p, 5*time.Second)

	q := sh(t, b, `pwd; read line; echo "got $line"; echo oops >&2; exit 7`)
	if _, err := q.Stdin().Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	_ = q.Stdin().Close()
	stderr, _ := io.ReadAll(q.Stderr())
	stdout, _ := io.ReadAll(q.Stdout())
	_ = q.Stdout().Close()
	_ = q.Stderr().Close()
	if string(stdout) != "/\ngot hello\n" || string(stderr) != "oops\n" {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
	st := waitExit(t, q, 5*time.Second)
	if st.Code != 7 || st.Signal != 0 || st.Success() {
		t.Fatalf("status %+v", st)
	}
}

func TestPortableSuppliedStdio(t *testing.T) {
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := b.Start(context.Background(), &Spec{Pipes: PipeStdin,
		Path: "/bin/sh", Args: []string{"-c", "echo to-file"}, Stdout: f, Stderr: f,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Stdout() != nil || p.Stderr() != nil || p.Stdin() == nil {
		t.Fatalf("pipes: stdout %v stderr %v stdin %v", p.Stdout(), p.Stderr(), p.Stdin())
	}
	_ = p.Stdin().Close()
	waitExit(t, p, 5*time.Second)
	_ = p.Release()
	b2, _ := os.ReadFile(f.Name())
	if string(b2) != "to-file\n" {
		t.Fatalf("file = %q", b2)
	}
}

func TestPortableSignalStatus(t *testing.T) {
	b := newPortable(t)
	p := sh(t, b, `kill -9 $$`)
	st := waitExit(t, p, 5*time.Second)
	if st.Code != -1 || st.Signal != syscall.SIGKILL || st.Success() {
		t.Fatalf("status %+v (%v)", st, st)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("signal after exit: %v", err)
	}
}

func TestPortableSpawnError(t *testing.T) {
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	_, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/nonexistent/hook"})
	if !errors.Is(err, ErrSpawn) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Start(ctx, &Spec{Pipes: PipeAll, Path: "/bin/true"}); !errors.Is(err, ErrSpawn) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

// TestPortableKillTree: Kill reaches a grandchild through the process
// group (docs/pitfalls.md #1: a grandchild holding stdout).
func TestPortableKillTree(t *testing.T) {
	testutil.RequireLinux(t)
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	p := sh(t, b, `sleep 60 & echo $!; wait`)
	_ = p.Stdin().Close()
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, p, 5*time.Second)
	if st.Signal != syscall.SIGKILL {
		t.Fatalf("status %v", st)
	}
	eventually(t, 2*time.Second, func() bool { return gone(grandchild) }, "grandchild killed")
	// The pipe is at EOF once every holder is dead.
	if _, err := io.ReadAll(p.Stdout()); err != nil {
		t.Fatal(err)
	}
	_ = p.Stdout().Close()
	_ = p.Stderr().Close()
	_ = p.Release()
}

func TestPortableStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := newPortable(t)

	// Honours TERM: exits well inside the grace.
	p := sh(t, b, `trap 'exit 0' TERM; echo ready; while :; do sleep 0.01; done`)
	waitReady(t, p)
	start := time.Now()
	st, err := p.Stop(context.Background(), 5*time.Second)
	if err != nil || st.Signal == syscall.SIGKILL {
		t.Fatalf("stop: %v %v", st, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("graceful stop took %v", d)
	}
	_ = p.Release()

	// Ignores TERM: killed once the grace is over.
	q := sh(t, b, `trap '' TERM; echo ready; while :; do sleep 0.01; done`)
	waitReady(t, q)
	start = time.Now()
	st, err = q.Stop(context.Background(), 150*time.Millisecond)
	if err != nil || st.Signal != syscall.SIGKILL {
		t.Fatalf("stop: %v %v", st, err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("stop after grace took %v", d)
	}
	_ = q.Release()
}

func waitReady(t *testing.T, p Process) {
	t.Helper()
	if line, err := bufio.NewReader(p.Stdout()).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("ready: %q %v", line, err)
	}
}

// TestPortableReleaseIdempotent: Release from several goroutines, twice,
// leaves no fd and no goroutine behind, including the pipe ends nobody
// took.
func TestPortableReleaseIdempotent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	testutil.CheckFDLeak(t)
	b := newPortable(t)
	for range 20 {
		p, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/bin/sleep", Args: []string{"60"}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = p.Release() }()
		}
		wg.Wait()
		if err := p.Release(); err != nil {
			t.Fatal(err)
		}
		if err := p.Kill(); err != nil {
			t.Fatalf("kill after release: %v", err)
		}
	}
}

func TestPortableStats(t *testing.T) {
	testutil.RequireLinux(t)
	b := newPortable(t)
	p := sh(t, b, `echo ready; read x`)
	waitReady(t, p)
	s, err := p.Stats()
	if err != nil || s.MemoryCurrent <= 0 || s.Pids != 1 {
		t.Fatalf("live stats %+v %v", s, err)
	}
	_ = p.Stdin().Close()
	st := waitExit(t, p, 5*time.Second)
	if st.MemoryPeak <= 0 {
		t.Fatalf("final status %+v", st)
	}
}

func TestPortableCloseKillsAndRefuses(t *testing.T) {
	b, err := NewPortable(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/bin/sleep", Args: []string{"60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Close returned with the child alive")
	}
	if _, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/bin/true"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

// TestPortableOnlyStdio: the child gets fds 0, 1 and 2 and nothing else
// (docs/pitfalls.md #16), even while this process has other fds open.
func TestPortableOnlyStdio(t *testing.T) {
	if runtime.GOOS != "linux" {
		testutil.SkipOrFail(t, "needs /proc")
	}
	extra, err := os.Open("/dev/null") // an fd the child must not see
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	b := newPortable(t)
	p, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/bin/sleep", Args: []string{"60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	// Start returns after the exec succeeded, so this is the program's
	// table, read from outside (a child listing its own fds sees the fd of
	// the listing).
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		fds = append(fds, e.Name())
	}
	if got := strings.Join(fds, " "); got != "0 1 2" {
		t.Fatalf("child fds: %q, want \"0 1 2\"", got)
	}
}

// TestPortableRefusesSandbox: an isolation option the portable backend
// cannot provide fails Start with ErrNotSupported naming it, unless the
// spec allows running unsandboxed.
func TestPortableRefusesSandbox(t *testing.T) {
	b, err := NewPortable(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	spec := &Spec{Pipes: PipeAll, Name: "p", Path: "/bin/sh", Args: []string{"-c", "exit 0"}, Sandbox: Sandbox{PrivateNetwork: true}}
	if _, err := b.Start(context.Background(), spec); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "private_network") {
		t.Fatalf("private_network on the portable backend: %v", err)
	}
	spec.Sandbox.AllowUnsandboxed = true
	p, err := b.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if st, err := p.Wait(context.Background()); err != nil || !st.Success() {
		t.Errorf("allow_unsandboxed: %v %v", st, err)
	}
}
