// SPDX-License-Identifier: Apache-2.0

//go:build linux

package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
)

const (
	mountPoint = "/sys/fs/cgroup"
	// roleEnv makes the test binary, re-executed as a child, play a role
	// instead of running tests (see TestMain).
	roleEnv = "HOOKSUPD_PROBE_ROLE"
	// hogSize is what the memhog child touches; the group allows 64 MiB.
	hogSize = 200 << 20
)

// controllers are the ones the VM enables for the tests' cgroup.
var controllers = []string{"cpu", "memory", "pids"}

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "memhog":
		memhog()
	case "sleeper":
		sleeper()
	case "sleep":
		time.Sleep(time.Hour)
	}
	os.Exit(3)
}

// memhog reports its cgroup, then touches hogSize bytes. Under a 64 MiB
// memory.max it must be OOM-killed before it prints "survived".
func memhog() {
	cg, _ := os.ReadFile("/proc/self/cgroup")
	fmt.Printf("cgroup %s", cg)
	buf := make([]byte, hogSize)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	fmt.Println("survived")
	os.Exit(0)
}

// sleeper starts a grandchild (which stays in the cgroup) and reports its
// pid, so that cgroup.kill is shown to reach descendants too.
func sleeper() {
	exe, err := os.Executable()
	if err != nil {
		os.Exit(4)
	}
	gc := exec.Command(exe)
	gc.Env = append(os.Environ(), roleEnv+"=sleep")
	if err := gc.Start(); err != nil {
		os.Exit(5)
	}
	fmt.Printf("ready %d\n", gc.Process.Pid)
	time.Sleep(time.Hour)
}

// unavailable skips on hosts that are not the VM and fails inside it
// (VMTEST=1), where every guarantee of this package must hold.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("VMTEST") == "1" {
		t.Fatalf("the VM must provide this: "+format, args...)
	}
	t.Skipf(format, args...)
}

func requireV2(t *testing.T) {
	t.Helper()
	if m := cgroups.Mode(); m != cgroups.Unified {
		unavailable(t, "cgroup mode is %s, want unified (pure cgroup v2)", modeName(m))
	}
	if os.Geteuid() != 0 {
		unavailable(t, "needs root to create cgroups")
	}
}

func modeName(m cgroups.CGMode) string {
	switch m {
	case cgroups.Legacy:
		return "legacy (v1)"
	case cgroups.Hybrid:
		return "hybrid"
	case cgroups.Unified:
		return "unified"
	}
	return "unavailable"
}

// ownCgroup is the cgroup2 path of this process, relative to mountPoint.
func ownCgroup(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	t.Fatalf("no cgroup2 entry in /proc/self/cgroup:\n%s", data)
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", value, path, err)
	}
}

// keyed returns the value of key in a flat-keyed cgroup file such as
// memory.events or cpu.stat.
func keyed(t *testing.T, path, key string) int64 {
	t.Helper()
	for line := range strings.SplitSeq(readFile(t, path), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return 0
}

// newGroup creates a cgroup below this process's own one with cpu, memory
// and pids available, and removes it (killing what is left in it) when
// the test ends. It returns the directory and the cgroup2 path.
func newGroup(t *testing.T, name string) (dir, rel string) {
	t.Helper()
	requireV2(t)
	parent := filepath.Join(mountPoint, ownCgroup(t))
	enabled := strings.Fields(readFile(t, filepath.Join(parent, "cgroup.subtree_control")))
	for _, c := range controllers {
		if !contains(enabled, c) {
			// Only possible outside the VM; a cgroup with processes in it
			// (a login session, say) cannot delegate controllers.
			if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0o644); err != nil {
				unavailable(t, "cannot enable %s below %s: %v", c, parent, err)
			}
		}
	}
	rel = filepath.Join(ownCgroup(t), fmt.Sprintf("probe-%d-%s", os.Getpid(), name))
	dir = filepath.Join(mountPoint, rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeGroup(t, dir) })
	for _, f := range []string{"cpu.max", "memory.max", "pids.max", "cgroup.kill"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("new group lacks %s: %v", f, err)
		}
	}
	return dir, rel
}

func removeGroup(t *testing.T, dir string) {
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove %s: %v", dir, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// command re-executes the test binary in role, started straight into the
// cgroup dir by clone3(CLONE_INTO_CGROUP).
func command(t *testing.T, ctx context.Context, dir, role string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: openDir(t, dir)}
	return cmd
}

// shell runs script with /bin/sh, started straight into the cgroup dir.
func shell(t *testing.T, ctx context.Context, dir, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: openDir(t, dir)}
	return cmd
}

func openDir(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

func killedBy(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func TestUnifiedHierarchy(t *testing.T) {
	requireV2(t)
	root := strings.Fields(readFile(t, filepath.Join(mountPoint, "cgroup.controllers")))
	for _, c := range controllers {
		if !contains(root, c) {
			t.Errorf("%s/cgroup.controllers = %q, lacks %s", mountPoint, root, c)
		}
	}
	cg := strings.TrimSpace(readFile(t, "/proc/self/cgroup"))
	if strings.Contains(cg, "\n") || !strings.HasPrefix(cg, "0::") {
		t.Errorf("/proc/self/cgroup = %q, want a single cgroup2 line", cg)
	}
	if os.Getenv("VMTEST") == "1" {
		sub := strings.Fields(readFile(t, filepath.Join(mountPoint, ownCgroup(t), "cgroup.subtree_control")))
		for _, c := range controllers {
			if !contains(sub, c) {
				t.Errorf("subtree_control of the tests' cgroup = %q, lacks %s", sub, c)
			}
		}
	}
}

func TestShell(t *testing.T) {
	out, err := exec.Command("/bin/sh", "-c", "echo $((6 * 7))").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("/bin/sh: %v, output %q", err, out)
	}
}

func TestMemoryMaxOOMKill(t *testing.T) {
	dir, rel := newGroup(t, "mem")
	writeFile(t, filepath.Join(dir, "memory.max"), strconv.Itoa(64<<20))
	if _, err := os.Stat(filepath.Join(dir, "memory.swap.max")); err == nil {
		writeFile(t, filepath.Join(dir, "memory.swap.max"), "0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := command(t, ctx, dir, "memhog")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if sig := killedBy(err); sig != syscall.SIGKILL || ctx.Err() != nil {
		t.Fatalf("memhog: %v (signal %v, ctx %v), want SIGKILL by the OOM killer; output:\n%s", err, sig, ctx.Err(), out.Bytes())
	}
	if want := "cgroup 0::" + rel + "\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("child output %q, want it to start with %q (placed by CLONE_INTO_CGROUP)", out.String(), want)
	}
	if strings.Contains(out.String(), "survived") {
		t.Errorf("child touched %d MiB under a 64 MiB memory.max", hogSize>>20)
	}
	if n := keyed(t, filepath.Join(dir, "memory.events"), "oom_kill"); n != 1 {
		t.Errorf("memory.events oom_kill = %d, want 1", n)
	}
}

func TestCgroupKill(t *testing.T) {
	dir, rel := newGroup(t, "kill")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := command(t, ctx, dir, "sleeper")
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	_ = pr.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(pr).ReadString('\n')
	var grandchild int
	if _, serr := fmt.Sscanf(line, "ready %d", &grandchild); err != nil || serr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("sleeper did not report its grandchild: %q, %v, %v", line, err, serr)
	}
	for _, pid := range []int{cmd.Process.Pid, grandchild} {
		if cg := strings.TrimSpace(readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid))); cg != "0::"+rel {
			t.Errorf("pid %d is in %q, want 0::%s", pid, cg, rel)
		}
	}
	if procs := strings.Fields(readFile(t, filepath.Join(dir, "cgroup.procs"))); len(procs) != 2 {
		t.Errorf("cgroup.procs = %q, want the child and the grandchild", procs)
	}
	writeFile(t, filepath.Join(dir, "cgroup.kill"), "1")
	if sig := killedBy(cmd.Wait()); sig != syscall.SIGKILL {
		t.Errorf("child ended with signal %v, want SIGKILL from cgroup.kill", sig)
	}
	// The grandchild was orphaned; it is gone once the group is empty.
	deadline := time.Now().Add(10 * time.Second)
	for keyed(t, filepath.Join(dir, "cgroup.events"), "populated") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("group still populated 10s after cgroup.kill: procs %q", readFile(t, filepath.Join(dir, "cgroup.procs")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPidsMax(t *testing.T) {
	dir, _ := newGroup(t, "pids")
	writeFile(t, filepath.Join(dir, "pids.max"), "4")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 12 background sleeps against a limit of 4 tasks: forks must fail.
	out, _ := shell(t, ctx, dir, "i=0; while [ $i -lt 12 ]; do sleep 5 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; kill $(jobs -p) 2>/dev/null; wait").CombinedOutput()
	if n := keyed(t, filepath.Join(dir, "pids.events"), "max"); n == 0 {
		t.Errorf("pids.events max = 0 after 12 forks under pids.max 4; output:\n%s", out)
	}
}

func TestCPUMax(t *testing.T) {
	dir, _ := newGroup(t, "cpu")
	writeFile(t, filepath.Join(dir, "cpu.max"), "20000 100000")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A busy loop for about a second at a 20 % quota is throttled in
	// most of its ten periods; one throttled period proves enforcement.
	cmd := shell(t, ctx, dir, "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	writeFile(t, filepath.Join(dir, "cgroup.kill"), "1")
	_ = cmd.Wait()
	if n := keyed(t, filepath.Join(dir, "cpu.stat"), "nr_throttled"); n == 0 {
		t.Errorf("cpu.stat nr_throttled = 0 after 1s of busy loop under cpu.max 20000 100000")
	}
}
