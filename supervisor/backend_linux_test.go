// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"github.com/hooksupd/hooksupd/supervisor/cgroup"
)

// lxHelperEnv makes the test binary act as a helper process (see
// lxHelper) instead of running tests.
const lxHelperEnv = "HOOKSUPD_LINUX_TEST_HELPER"

func init() {
	if h := os.Getenv(lxHelperEnv); h != "" {
		os.Exit(lxHelper(h))
	}
}

func init() {
	conformanceBackends = append(conformanceBackends, conformanceBackend{"linux", func(t testing.TB) Backend {
		return lxNew(t, linuxConfig{})
	}})
}

var lxSeq atomic.Int32

// lxSubtree is a cgroup subtree name unique to this test binary and call,
// so that package test binaries running in parallel never share groups.
func lxSubtree() string {
	return fmt.Sprintf("hooksupd-test-%d-%d", os.Getpid(), lxSeq.Add(1))
}

func lxLogger() Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// lxNew opens a Linux backend closed at the end of the test.
func lxNew(t testing.TB, cfg linuxConfig) *linuxBackend {
	t.Helper()
	testutil.RequireLinux(t)
	if cfg.subtree == "" {
		cfg.subtree = lxSubtree()
	}
	b, err := newLinux(Options{Logger: lxLogger()}, cfg)
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			testutil.SkipOrFail(t, "linux backend: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// lxNeedCgroups skips (fails under CI) without usable cgroups.
func lxNeedCgroups(t testing.TB, b *linuxBackend) {
	t.Helper()
	testutil.RequireRoot(t)
	if b.cg == nil {
		testutil.SkipOrFail(t, "cgroups unusable: %v", b.cgErr)
	}
}

// lxHostPid is sh that sets $hostpid to the shell's pid as the supervisor
// sees it: $$ and $! are pids in the hook PID namespace (pidns_linux.go),
// while /proc is the host's.
const lxHostPid = `read -r hostpid _ </proc/self/stat`

func lxSh(script string) *Spec {
	return &Spec{Pipes: PipeAll, Name: "t", Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}
}

// lxStart starts spec and releases the process at the end of the test.
func lxStart(t testing.TB, b Backend, spec *Spec) Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start %s %q: %v", spec.Path, spec.Args, err)
	}
	t.Cleanup(func() {
		p.Release()
		for _, f := range []*os.File{p.Stdin(), p.Stdout(), p.Stderr()} {
			if f != nil {
				f.Close()
			}
		}
	})
	return p
}

// lxHook is a testhook spec.
func lxHook(t testing.TB, args ...string) *Spec {
	return &Spec{Pipes: PipeAll, Name: "hook", Path: testhook.Path(t), Args: args, Env: []string{"PATH=/usr/bin:/bin"}}
}

// lxFire writes the envelope, closes stdin and returns the decision line's
// metadata, as an exec-mode fire does.
func lxFire(t testing.TB, p Process) map[string]json.RawMessage {
	t.Helper()
	if _, err := p.Stdin().Write([]byte(`{"event":"test","payload":{}}` + "\n")); err != nil {
		t.Fatalf("write envelope: %v", err)
	}
	p.Stdin().Close()
	line := lxReadLine(t, p.Stdout(), 10*time.Second)
	var d struct {
		Delta struct {
			Metadata map[string]json.RawMessage `json:"metadata"`
		} `json:"delta"`
	}
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatalf("decision %q: %v", line, err)
	}
	return d.Delta.Metadata
}

// lxReadLine reads one line (without "\n") from a non-blocking pipe.
func lxReadLine(t testing.TB, f *os.File, within time.Duration) string {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(within))
	defer f.SetReadDeadline(time.Time{})
	var sb strings.Builder
	var b [1]byte
	for {
		n, err := f.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return sb.String()
			}
			sb.WriteByte(b[0])
			continue
		}
		if err != nil {
			t.Fatalf("read line (got %q): %v", sb.String(), err)
		}
	}
}

// lxReadAll reads to EOF, failing the test after within.
func lxReadAll(t testing.TB, f *os.File, within time.Duration) string {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read to EOF: %v (got %q)", err, b)
	}
	return string(b)
}

func lxWait(t testing.TB, p Process, within time.Duration) ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	st, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// lxGone reports whether pid no longer runs (gone or a zombie).
func lxGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// lxProcs maps every process's pid to its (ppid, state).
func lxProcs() map[int][2]int {
	out := map[int][2]int{}
	for _, p := range testutil.Procs() {
		out[p.Pid] = [2]int{p.PPid, int(p.State)}
	}
	return out
}

// lxChildrenOf returns the direct children of pid.
func lxChildrenOf(pid int) []int {
	var kids []int
	for p, v := range lxProcs() {
		if v[0] == pid {
			kids = append(kids, p)
		}
	}
	slices.Sort(kids)
	return kids
}

// lxDescendants returns every descendant of pid.
func lxDescendants(pid int) []int {
	procs := lxProcs()
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		var next []int
		for p, v := range procs {
			if slices.Contains(frontier, v[0]) {
				out = append(out, p)
				next = append(next, p)
			}
		}
		frontier = next
	}
	return out
}

func lxEventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
	}
}

// lxCgroupFile returns /proc/<pid>/cgroup.
func lxCgroupFile(t testing.TB, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	return string(b)
}

// lxGroup returns the group of a Linux backend's process.
func lxGroup(p Process) *cgroup.Group {
	lp := p.(*linuxProcess)
	lp.mu.RLock()
	defer lp.mu.RUnlock()
	return lp.group
}

// lxSubtreeDirs lists the directories the backend's subtree has (or had)
// in each hierarchy, from cgroup.Manager.Path's "hierarchy:path" list.
func lxSubtreeDirs(t testing.TB, b *linuxBackend) []string {
	t.Helper()
	var dirs []string
	for _, part := range strings.Fields(b.cg.Path()) {
		if strings.HasPrefix(part, "/") { // pure v2: the directory itself
			dirs = append(dirs, part)
			continue
		}
		name, rel, _ := strings.Cut(part, ":")
		cands := []string{name}
		if name == "v2" {
			cands = []string{""}
		}
		cands = append(cands, strings.Split(name, ",")...)
		for _, c := range cands {
			if mnt := filepath.Join("/sys/fs/cgroup", c); lxIsDir(mnt) {
				dirs = append(dirs, filepath.Join(mnt, rel))
				break
			}
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no subtree directories in %q", b.cg.Path())
	}
	return dirs
}

func lxIsDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func TestLinuxMechanisms(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	m := b.Mechanisms()
	if m.Backend != "linux" || m.Exit != "pidfd+epoll" || m.Pipes != "epoll" {
		t.Errorf("mechanisms = %+v", m)
	}
	if b.exe != nil && !strings.Contains(m.Spawn, "launcher") {
		t.Errorf("launcher loaded but Spawn = %q", m.Spawn)
	}
	if b.cg != nil {
		if m.CgroupMode != b.cg.Mode().String() || m.Kill != b.cg.KillMechanism() {
			t.Errorf("mechanisms = %+v, cgroup mode %v", m, b.cg.Mode())
		}
		if b.cg.Mode() == cgroup.Hybrid && b.exe != nil && !strings.Contains(m.Attach, "CLONE_INTO_CGROUP") {
			t.Errorf("hybrid attach = %q", m.Attach)
		}
	}
	t.Logf("%+v", m)
}

// TestLinuxForkAtFirstInstruction: a hook that forks 20 children before it
// does anything else has all of them in its group (it was placed before
// its first instruction), and all die with a tree kill.
func TestLinuxForkAtFirstInstruction(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	spec := lxSh(`i=0; while [ $i -lt 20 ]; do sleep 60 & i=$((i+1)); done; echo ready; wait`)
	spec.Limits = Limits{MemoryMax: 256 << 20, PidsMax: 64}
	p := lxStart(t, b, spec)
	if line := lxReadLine(t, p.Stdout(), 10*time.Second); line != "ready" {
		t.Fatalf("got %q", line)
	}
	g := lxGroup(p)
	want := lxCgroupFile(t, p.Pid())
	if !strings.Contains(want, "/"+g.Name()+"\n") {
		t.Fatalf("hook not in group %s:\n%s", g.Name(), want)
	}
	kids := lxChildrenOf(p.Pid())
	if len(kids) != 20 {
		t.Fatalf("%d children, want 20", len(kids))
	}
	for _, k := range kids {
		if got := lxCgroupFile(t, k); got != want {
			t.Errorf("child %d cgroups:\n%s\nwant (the hook's):\n%s", k, got, want)
		}
	}
	if pids, _ := g.Pids(); len(pids) != 21 {
		t.Errorf("group holds %d pids, want 21", len(pids))
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	st := lxWait(t, p, 5*time.Second)
	if st.Signal != syscall.SIGKILL || st.OOMKilled {
		t.Errorf("status = %+v, want SIGKILL, not OOM", st)
	}
	lxEventually(t, 5*time.Second, "children still alive after the tree kill", func() bool {
		for _, k := range kids {
			if !lxGone(k) {
				return false
			}
		}
		return true
	})
}

// TestLinuxSetsidDaemonKilled: a double-forked, setsid'd grandchild that
// holds stdout leaves the process group but not the group: killing the
// tree ends it, and stdout reaches EOF (pitfalls 1 and 4).
func TestLinuxSetsidDaemonKilled(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	// hook -> subshell -> setsid sleep: the subshell exits at once, so the
	// holder is reparented away, in a session of its own, with stdout.
	p := lxStart(t, b, lxSh(`(setsid sh -c '`+lxHostPid+`; echo $hostpid; exec sleep 60' &); exit 0`)) // uncapped: still tracked
	holder, err := strconv.Atoi(lxReadLine(t, p.Stdout(), 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	lxWait(t, p, 5*time.Second) // the hook itself exits; the holder stays
	lxEventually(t, 2*time.Second, "holder did not become a session leader", func() bool {
		sid, _ := unix.Getsid(holder)
		return sid == holder
	})
	if lxGone(holder) {
		t.Fatal("holder already gone: the test proves nothing")
	}
	start := time.Now()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	lxReadAll(t, p.Stdout(), 2*time.Second) // EOF: every writer is dead
	lxEventually(t, 2*time.Second, "setsid holder survived the tree kill", func() bool { return lxGone(holder) })
	if d := time.Since(start); d > time.Second {
		t.Errorf("tree kill took %v", d)
	}

	// The timeout path: Stop while the hook still runs, with a holder
	// that ignores SIGTERM. After the grace period the tree is killed.
	q := lxStart(t, b, lxSh(`(setsid sh -c 'trap "" TERM; `+lxHostPid+`; echo $hostpid; while :; do sleep 0.05; done' &); sleep 60`))
	holder, err = strconv.Atoi(lxReadLine(t, q.Stdout(), 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const grace = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	st, err := q.Stop(ctx, grace)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signal != syscall.SIGTERM && st.Signal != syscall.SIGKILL {
		t.Errorf("status = %+v", st)
	}
	lxReadAll(t, q.Stdout(), 2*time.Second)
	lxEventually(t, 2*time.Second, "TERM-ignoring setsid holder survived Stop", func() bool { return lxGone(holder) })
	if d := time.Since(start); d > grace+time.Second {
		t.Errorf("Stop took %v (grace %v)", d, grace)
	}
}

// TestLinuxOnlyStdioFDs: the hook gets fds 0, 1 and 2 and nothing else,
// not even a descriptor the supervisor leaked without O_CLOEXEC
// (docs/pitfalls.md #16).
func TestLinuxOnlyStdioFDs(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	var leak [2]int
	if err := unix.Pipe(leak[:]); err != nil { // deliberately inheritable
		t.Fatal(err)
	}
	defer unix.Close(leak[0])
	defer unix.Close(leak[1])
	// List once the hook runs its own code: while the dynamic loader
	// starts it, it briefly holds libc.so.6 or ld.so.cache open.
	p := lxStart(t, b, lxSh("echo ready; read x"))
	lxReadLine(t, p.Stdout(), 5*time.Second)
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		fds = append(fds, e.Name())
	}
	slices.Sort(fds)
	if !slices.Equal(fds, []string{"0", "1", "2"}) {
		t.Errorf("hook fds = %v, want [0 1 2]", fds)
	}
	// (A Go hook would list two more fds of its own: since Go 1.25 the
	// runtime keeps cpu.cfs_quota_us and cpu.cfs_period_us open for its
	// cgroup-aware GOMAXPROCS.)
}

// TestLinuxEnvExact: the environment is exactly Spec.Env, in order.
func TestLinuxEnvExact(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	env := []string{"B=2", "A=1 with spaces", "EMPTY=", "PATH=/usr/bin:/bin"}
	spec := lxSh("echo ready; read x")
	spec.Env = env
	p := lxStart(t, b, spec)
	lxReadLine(t, p.Stdout(), 5*time.Second) // exec has finished setting up
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if !slices.Equal(got, env) {
		t.Errorf("environ = %q, want %q", got, env)
	}
	spec = lxSh("echo ready; read x")
	spec.Env = nil
	p = lxStart(t, b, spec)
	lxReadLine(t, p.Stdout(), 5*time.Second)
	if raw, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/environ"); len(raw) != 0 {
		t.Errorf("nil Env: environ = %q, want empty", raw)
	}
}

// TestLinuxChildAttributes: no_new_privs from the spawner thread, the
// process group, RLIMIT_NOFILE from the limits and no core dumps.
func TestLinuxChildAttributes(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	spec := lxSh(`echo "$(ulimit -n) $(ulimit -c)"; read x`)
	spec.Limits.NoFile = 99
	p := lxStart(t, b, spec)
	if got := lxReadLine(t, p.Stdout(), 5*time.Second); got != "99 0" {
		t.Errorf("nofile and core = %q, want \"99 0\"", got)
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if !strings.Contains(string(status), "NoNewPrivs:\t1") {
		t.Errorf("no_new_privs not set:\n%s", status)
	}
	if pgid, _ := unix.Getpgid(p.Pid()); pgid != p.Pid() {
		t.Errorf("pgid = %d, want %d", pgid, p.Pid())
	}
	// The caller's goroutines do not run on a no_new_privs thread.
	if v, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); v != 0 {
		t.Errorf("no_new_privs leaked to the test's thread")
	}
}

func TestLinuxCredential(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{})
	spec := lxSh(`echo "$(id -u) $(id -g) $(id -G)"; read x`)
	spec.Credential = &Credential{UID: 65534, GID: 65534, Groups: []uint32{65534}}
	p := lxStart(t, b, spec)
	if got := lxReadLine(t, p.Stdout(), 5*time.Second); got != "65534 65534 65534" {
		t.Errorf("id = %q", got)
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if !strings.Contains(string(status), "NoNewPrivs:\t1") {
		t.Errorf("no_new_privs lost with credentials")
	}
}

func TestLinuxStartErrors(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	ctx := context.Background()
	_, err := b.Start(ctx, &Spec{Pipes: PipeAll, Path: "/nonexistent/hook"})
	if !errors.Is(err, ErrSpawn) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing program: %v, want ErrSpawn and ErrNotExist", err)
	}
	_, err = b.Start(ctx, &Spec{Pipes: PipeAll, Path: "/bin/true", Dir: "/nonexistent"})
	if !errors.Is(err, ErrSpawn) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	_, err = b.Start(ctx, &Spec{Pipes: PipeAll, Name: "a/b", Path: "/bin/true"})
	if !errors.Is(err, ErrSpawn) {
		t.Errorf("bad name: %v", err)
	}
	// After failures the backend still works, with the same key.
	p := lxStart(t, b, &Spec{Pipes: PipeAll, Path: "/bin/true"})
	if st := lxWait(t, p, 5*time.Second); !st.Success() {
		t.Errorf("status = %+v", st)
	}
}

// TestLinuxSuppliedStdio: a Spec with its own files gets a launcher made
// for it (not a pooled one) and still starts inside its group.
func TestLinuxSuppliedStdio(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	spec := lxSh("echo to-file; cat /proc/self/cgroup")
	spec.Stdout = out
	spec.Pipes &^= PipeStdout
	spec.Limits.PidsMax = 16
	p := lxStart(t, b, spec)
	if p.Stdout() != nil || p.Stdin() == nil {
		t.Fatalf("Stdout = %v (want nil), Stdin = %v", p.Stdout(), p.Stdin())
	}
	p.Stdin().Close()
	if st := lxWait(t, p, 5*time.Second); !st.Success() {
		t.Fatalf("status %+v", st)
	}
	got, _ := os.ReadFile(out.Name())
	if !strings.HasPrefix(string(got), "to-file\n") {
		t.Errorf("file = %q", got)
	}
	if b.cg != nil && !strings.Contains(string(got), "/"+lxGroup(p).Name()+"\n") {
		t.Errorf("not in its group:\n%s", got)
	}
}
