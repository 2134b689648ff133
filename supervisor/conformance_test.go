// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

// TestMain checks the whole package for leaked goroutines and removes the
// test hook build.
func TestMain(m *testing.M) {
	code := m.Run()
	testhook.Cleanup()
	for _, fn := range testCleanups {
		fn()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testCleanups run after every test of the package (files shared by
// tests, such as the sandbox probe binary).
var testCleanups []func()

// conformanceBackend opens one backend for one test; it is closed when the
// test ends.
type conformanceBackend struct {
	name string
	open func(t testing.TB) Backend
}

// conformanceBackends are the backends every conformance case runs
// against; linux_test.go adds the Linux backend.
var conformanceBackends = []conformanceBackend{
	{"portable", func(t testing.TB) Backend {
		b, err := NewPortable(Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

// conform runs fn as a subtest per backend, each with a fresh backend and
// an fd-leak check that runs after the backend's Close.
func conform(t *testing.T, fn func(t *testing.T, b Backend)) {
	if runtime.GOOS == "windows" {
		t.Skip("the conformance cases run /bin/sh")
	}
	for _, cb := range conformanceBackends {
		t.Run(cb.name, func(t *testing.T) {
			testutil.CheckFDLeak(t)
			fn(t, cb.open(t))
		})
	}
}

func cfSh(script string) *Spec {
	return &Spec{Pipes: PipeAll, Name: "conf", Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}
}

func cfStart(t *testing.T, b Backend, spec *Spec) Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		p.Release()
		// Pipe ends handed out belong to the caller, who closes them.
		for _, f := range []*os.File{p.Stdin(), p.Stdout(), p.Stderr()} {
			if f != nil {
				f.Close()
			}
		}
	})
	return p
}

func cfWait(t *testing.T, p Process, within time.Duration) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// cfRead reads f to EOF within a bound.
func cfRead(t *testing.T, f *os.File, within time.Duration) string {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// cfLine reads one line byte by byte (no read-ahead past it).
func cfLine(t *testing.T, f *os.File) string {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer f.SetReadDeadline(time.Time{})
	var sb strings.Builder
	var c [1]byte
	for {
		if _, err := f.Read(c[:]); err != nil {
			t.Fatalf("read line (got %q): %v", sb.String(), err)
		}
		if c[0] == '\n' {
			return sb.String()
		}
		sb.WriteByte(c[0])
	}
}

func TestConformanceExitAndPipes(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`read x; me=$$; [ -r /proc/self/stat ] && read -r me _ </proc/self/stat; echo "got $x $me"; echo oops >&2; exit 3`))
		if _, err := p.Stdin().Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		p.Stdin().Close()
		var stderr string
		var wg sync.WaitGroup
		wg.Go(func() { stderr = cfRead(t, p.Stderr(), 5*time.Second) })
		out := cfRead(t, p.Stdout(), 5*time.Second)
		wg.Wait()
		if want := fmt.Sprintf("got hello %d\n", p.Pid()); out != want || stderr != "oops\n" {
			t.Errorf("stdout %q stderr %q, want %q and \"oops\\n\"", out, stderr, want)
		}
		st := cfWait(t, p, 5*time.Second)
		if st.Code != 3 || st.Signal != 0 || st.Success() || st.OOMKilled {
			t.Errorf("status = %+v", st)
		}
		select {
		case <-p.Done():
		default:
			t.Error("Done not closed after Wait")
		}
		// Many waiters, one answer.
		var wg2 sync.WaitGroup
		for range 8 {
			wg2.Go(func() {
				if again := cfWait(t, p, time.Second); again != st {
					t.Errorf("second Wait = %+v, first %+v", again, st)
				}
			})
		}
		wg2.Wait()
	})
}

func TestConformanceEnvAndDir(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		dir := t.TempDir()
		spec := cfSh(`echo "$A|${HOME-unset}|$(pwd -P)"`)
		spec.Env = []string{"A=1 2", "PATH=/usr/bin:/bin"}
		spec.Dir = dir
		p := cfStart(t, b, spec)
		p.Stdin().Close()
		real, err := filepath.EvalSymlinks(dir) // pwd -P: macOS's /tmp is a link
		if err != nil {
			t.Fatal(err)
		}
		if out := cfRead(t, p.Stdout(), 5*time.Second); out != "1 2|unset|"+real+"\n" {
			t.Errorf("got %q", out)
		}
		spec = cfSh(`pwd`)
		p = cfStart(t, b, spec)
		if out := cfRead(t, p.Stdout(), 5*time.Second); out != "/\n" {
			t.Errorf("empty Dir: pwd = %q, want /", out)
		}
	})
}

func TestConformanceSignal(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`echo ready; exec sleep 60`))
		cfLine(t, p.Stdout())
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		st := cfWait(t, p, 5*time.Second)
		if st.Signal != syscall.SIGTERM || st.Code != -1 {
			t.Errorf("status = %+v, want SIGTERM", st)
		}
		if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
		}
	})
}

// TestConformanceKillTree: Kill ends the child and the grandchildren that
// hold its stdout, so the reader sees EOF at once (docs/pitfalls.md #1).
func TestConformanceKillTree(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`sleep 60 & sleep 60 & echo ready; wait`))
		if line := cfLine(t, p.Stdout()); line != "ready" {
			t.Fatalf("got %q", line)
		}
		start := time.Now()
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		cfRead(t, p.Stdout(), 3*time.Second)
		st := cfWait(t, p, 3*time.Second)
		if st.Signal != syscall.SIGKILL {
			t.Errorf("status = %+v, want SIGKILL", st)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("kill to EOF took %v", d)
		}
	})
}

func TestConformanceStop(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		// Ignores SIGTERM: killed after the grace period.
		p := cfStart(t, b, cfSh(`trap "" TERM; echo ready; while :; do sleep 0.05; done`))
		cfLine(t, p.Stdout())
		const grace = 200 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		st, err := p.Stop(ctx, grace)
		d := time.Since(start)
		if err != nil || st.Signal != syscall.SIGKILL {
			t.Errorf("Stop = %+v, %v; want SIGKILL", st, err)
		}
		if d < grace || d > grace+2*time.Second {
			t.Errorf("Stop took %v, want about %v", d, grace)
		}
		// Honours SIGTERM: stops before the grace period ends.
		q := cfStart(t, b, cfSh(`echo ready; exec sleep 60`))
		cfLine(t, q.Stdout())
		start = time.Now()
		st, err = q.Stop(ctx, 10*time.Second)
		if err != nil || st.Signal != syscall.SIGTERM {
			t.Errorf("Stop = %+v, %v; want SIGTERM", st, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Stop of a TERM-honouring child took %v", d)
		}
	})
}

func TestConformanceWaitContext(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`exec sleep 60`))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want DeadlineExceeded", err)
		}
		select {
		case <-p.Done():
			t.Error("Done closed while the child runs")
		default:
		}
		if err := p.Release(); err != nil {
			t.Errorf("Release: %v", err)
		}
		if err := p.Release(); err != nil {
			t.Errorf("second Release: %v", err)
		}
		select {
		case <-p.Done():
		default:
			t.Error("Done not closed after Release")
		}
	})
}

func TestConformanceSpawnError(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		_, err := b.Start(context.Background(), &Spec{Pipes: PipeAll, Path: "/nonexistent/program"})
		if !errors.Is(err, ErrSpawn) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Start = %v, want ErrSpawn and ErrNotExist", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.Start(ctx, cfSh("true")); !errors.Is(err, context.Canceled) {
			t.Errorf("Start with a done ctx = %v", err)
		}
	})
}

// TestConformanceLimits: a limit the backend cannot enforce fails Start
// with ErrNotSupported unless the spec allows running uncapped.
func TestConformanceLimits(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		l := Limits{MemoryMax: 64 << 20, PidsMax: 32}
		spec := cfSh("exit 0")
		spec.Limits = l
		if err := b.CanEnforce(l); err != nil {
			if !errors.Is(err, ErrNotSupported) {
				t.Fatalf("CanEnforce = %v, want ErrNotSupported", err)
			}
			if _, err := b.Start(context.Background(), spec); !errors.Is(err, ErrNotSupported) {
				t.Fatalf("Start = %v, want ErrNotSupported", err)
			}
			spec.AllowUncapped = true
		}
		p := cfStart(t, b, spec)
		if st := cfWait(t, p, 5*time.Second); !st.Success() {
			t.Errorf("status = %+v", st)
		}
		if err := b.CanEnforce(Limits{}); err != nil {
			t.Errorf("CanEnforce(no limits) = %v", err)
		}
	})
}

func TestConformanceSuppliedStdio(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		f, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		spec := cfSh("echo out; echo err >&2")
		spec.Stdout, spec.Stderr = f, f
		spec.Pipes = PipeStdin
		p := cfStart(t, b, spec)
		if p.Stdout() != nil || p.Stderr() != nil {
			t.Error("pipes exposed for supplied files")
		}
		p.Stdin().Close()
		cfWait(t, p, 5*time.Second)
		if got, _ := os.ReadFile(f.Name()); string(got) != "out\nerr\n" {
			t.Errorf("file = %q", got)
		}
	})
}

func TestConformanceStats(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; echo ready; read x`))
		cfLine(t, p.Stdout())
		s, err := p.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if s.CPU <= 0 && runtime.GOOS == "linux" {
			t.Errorf("Stats = %+v, want CPU > 0", s)
		}
		p.Stdin().Close()
		st := cfWait(t, p, 5*time.Second)
		if st.CPU <= 0 && runtime.GOOS == "linux" {
			t.Errorf("exit status = %+v, want CPU > 0", st)
		}
	})
}

func TestConformanceCloseKills(t *testing.T) {
	conform(t, func(t *testing.T, b Backend) {
		p := cfStart(t, b, cfSh(`echo ready; exec sleep 60`))
		cfLine(t, p.Stdout())
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("child alive after Close")
		}
		if _, err := b.Start(context.Background(), cfSh("true")); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Close = %v, want ErrClosed", err)
		}
	})
}
