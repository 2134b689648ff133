// SPDX-License-Identifier: Apache-2.0

// Package container tests hooksupd started the way a container runtime
// starts a process, with no systemd: in a cgroup of its own, then in new
// cgroup, mount and PID namespaces (what `unshare --cgroup --mount --pid
// --fork --mount-proc` does), with cgroup2 mounted afresh so that only its
// own subtree is visible and writable. It is the setup of the Kubernetes
// DaemonSet in dist/k8s and of docs/fleet.md.
//
// The test needs root on a pure cgroup v2 host whose test process runs in
// the root cgroup, which is what the v2 VM gives (make test-vm); elsewhere
// it skips, and under the VM (VMTEST=1) every missing piece is a failure.
package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"golang.org/x/sys/unix"
)

// The test binary re-executes itself as the runtime's two processes.
const (
	stageEnv    = "HOOKSUPD_CONTAINER_STAGE" // "runtime" or "init"
	hooksupdEnv = "HOOKSUPD_CONTAINER_HOOKSUPD"
	configEnv   = "HOOKSUPD_CONTAINER_CONFIG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(stageEnv) {
	case "runtime":
		os.Exit(runtimeStage())
	case "init":
		initStage() // execs hooksupd
		os.Exit(1)
	}
	code := m.Run()
	testhook.Cleanup()
	os.Exit(code)
}

// runtimeStage runs in the container's cgroup, where the test started it,
// and starts the container's first process in new cgroup, mount and PID
// namespaces: the cgroup namespace's root is the cgroup this process is
// in. It prints that process's pid and waits for it, as a runtime's
// shim does; the test then moves it out of the container's cgroup.
func runtimeStage() int {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), stageEnv+"=init")
	cmd.Stdin, cmd.Stderr = nil, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWCGROUP | unix.CLONE_NEWNS | unix.CLONE_NEWPID,
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "runtime stage:", err)
		return 1
	}
	fmt.Printf("init %d\n", cmd.Process.Pid)
	os.Stdout.Close()
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "runtime stage: init:", err)
		return 1
	}
	return 0
}

// initStage is PID 1 of the container: it makes the mounts private,
// mounts cgroup2 (the namespace's view: its own subtree only) and a /proc
// of its PID namespace, and execs hooksupd serve.
func initStage() {
	fail := func(what string, err error) {
		fmt.Fprintf(os.Stderr, "init stage: %s: %v\n", what, err)
		os.Exit(1)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail("make / private", err)
	}
	// The host's cgroup2 mount goes first: the same filesystem cannot be
	// mounted on its own mount point (EBUSY), and the container must not
	// see the host's tree anyway.
	if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
		fail("unmount the host's cgroup2", err)
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("mount cgroup2", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail("mount proc", err)
	}
	bin := os.Getenv(hooksupdEnv)
	err := syscall.Exec(bin, []string{"hooksupd", "serve", "-c", os.Getenv(configEnv), "--log-level", "debug"},
		[]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
	fail("exec "+bin, err)
}

// requireV2Root returns the cgroup2 mount when the test can run: root, a
// pure cgroup v2 host, this process in the root cgroup with the memory
// and pids controllers handed down. It skips elsewhere, and fails when
// that happens in the v2 VM.
func requireV2Root(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("VMTEST") == "1" {
			t.Fatalf("the v2 VM must run this test: "+format, args...)
		}
		t.Skipf("needs a pure cgroup v2 host with the test in its root cgroup (make test-vm): "+format, args...)
	}
	const mnt = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		skip("%s is not cgroup2", mnt)
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil || strings.TrimSpace(string(own)) != "0::/" {
		skip("this process is in %q, not the root cgroup", strings.TrimSpace(string(own)))
	}
	sub, _ := os.ReadFile(filepath.Join(mnt, "cgroup.subtree_control"))
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(strings.Fields(string(sub)), c) {
			skip("the root cgroup does not hand down %s (subtree_control %q)", c, sub)
		}
	}
	return mnt
}

// hooksupdBinary is $HOOKSUPD_TEST_HOOKSUPD (the VM has no toolchain) or
// a build of cmd/hooksupd.
func hooksupdBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKSUPD_TEST_HOOKSUPD"); p != "" {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		testutil.SkipOrFail(t, "no go command to build hooksupd (or set HOOKSUPD_TEST_HOOKSUPD): %v", err)
	}
	out := filepath.Join(t.TempDir(), "hooksupd")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/hooksupd/hooksupd/cmd/hooksupd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hooksupd: %v\n%s", err, b)
	}
	return out
}

// TestContainerRuntimeStart: hooksupd as a container's PID 1 with a
// delegated cgroup namespace and no systemd moves itself into a leaf of
// its subtree, caps hook children in groups below it (a daemon hook's
// limits are in its group's files, an exec hook over its memory limit is
// OOM-killed and reported so), touches nothing outside the subtree, and
// leaves no group or process after SIGTERM.
func TestContainerRuntimeStart(t *testing.T) {
	mnt := requireV2Root(t)
	bin := hooksupdBinary(t)
	hook := testhook.Path(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "hooksupd.sock")
	conf := testutil.WriteConfig(t, dir, fmt.Sprintf("[server]\nsocket = %q\n\n", sock)+
		testutil.HookBlock("keep", "post_recall", hook, 10, `mode = "daemon"`, `args = ["daemon"]`,
			`limits.memory_max = "64M"`, `limits.pids_max = 16`)+
		testutil.HookBlock("hog", "pre_store", hook, 10, `args = ["memhog", "200"]`, `fail_mode = "closed"`,
			`limits.memory_max = "48M"`)+
		testutil.HookBlock("plain", "pre_delete", hook, 10, `args = ["allow"]`, `limits.pids_max = 8`))

	before := topLevelGroups(t, mnt)
	ctr := filepath.Join(mnt, fmt.Sprintf("hooksupd-ctr-%d", os.Getpid()))
	if err := os.Mkdir(ctr, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(t, ctr) })
	cgfd, err := unix.Open(ctr, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cgfd)

	// The runtime: started straight into the container's group.
	rt := exec.Command("/proc/self/exe")
	rt.Env = append(os.Environ(), stageEnv+"=runtime", hooksupdEnv+"="+bin, configEnv+"="+conf)
	var logs testutil.SyncBuffer
	rt.Stderr = &logs
	out, err := rt.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	rt.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	if err := rt.Start(); err != nil {
		t.Fatalf("start the runtime stage: %v", err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if rt.ProcessState == nil {
			_ = rt.Process.Kill() // its Pdeathsig child follows
			<-exited
		}
		t.Logf("hooksupd's log:\n%s", logs.String())
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var initPid int
	if _, serr := fmt.Sscanf(line, "init %d", &initPid); err != nil || serr != nil {
		t.Fatalf("runtime stage said %q (%v); log:\n%s", line, err, logs.String())
	}
	go func() { exited <- rt.Wait() }()
	// The shim leaves the container's group, so that hooksupd is alone in
	// it, as under a runtime (runc's parent is never in the container).
	if err := os.WriteFile(filepath.Join(mnt, "cgroup.procs"), []byte(strconv.Itoa(rt.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move the runtime stage out of %s: %v", ctr, err)
	}

	testutil.WaitFor(t, 60*time.Second, "hooksupd's socket", func() bool {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	c := testutil.Dial(t, sock)
	c.Ping(1)

	// hooksupd moved itself into the supervisor leaf of its subtree.
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", initPid))
	if want := "0::/" + filepath.Base(ctr) + "/supervisor"; strings.TrimSpace(string(cg)) != want {
		t.Errorf("hooksupd (pid %d here) is in %q, want %q", initPid, strings.TrimSpace(string(cg)), want)
	}

	// A daemon hook: its process is in a group of the subtree with its
	// limits.
	r := c.RoundTrip(`{"id":2,"op":"fire","event":"post_recall","payload":{},"trace":true}`)
	if r.Str("decision") != "allow" && r.Str("decision") != "modify" {
		t.Errorf("daemon hook fire: %s", r.Raw)
	}
	keep := groupOf(t, ctr, "keep-")
	for file, want := range map[string]string{"memory.max": "67108864", "pids.max": "16"} {
		if got, _ := os.ReadFile(filepath.Join(keep, file)); strings.TrimSpace(string(got)) != want {
			t.Errorf("%s/%s = %q, want %s", keep, file, got, want)
		}
	}

	// An exec hook over its memory limit: killed by it, reported so.
	r = c.RoundTrip(`{"id":3,"op":"fire","event":"pre_store","payload":{},"trace":true}`)
	var hooks []struct{ Name, Decision, Error string }
	_ = json.Unmarshal(r.Fields["hooks"], &hooks)
	if r.Str("decision") != "deny" || len(hooks) != 1 || hooks[0].Error != "oom_killed" {
		t.Errorf("memory hog fire: %s; want deny with the hook's error oom_killed", r.Raw)
	}
	r = c.RoundTrip(`{"id":4,"op":"fire","event":"pre_delete","payload":{},"trace":true}`)
	if r.Str("decision") != "allow" {
		t.Errorf("plain capped fire: %s", r.Raw)
	}

	if after := topLevelGroups(t, mnt); !slices.Equal(after, sortedWith(before, filepath.Base(ctr))) {
		t.Errorf("groups at the root changed beyond the container's: before %v, now %v", before, after)
	}

	// SIGTERM, as a runtime stops a container: a clean exit, no group or
	// process left in the subtree.
	if err := unix.Kill(initPid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("hooksupd did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("hooksupd did not exit within 60s of SIGTERM")
	}
	var left []string
	_ = filepath.WalkDir(ctr, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != ctr {
			if procs, _ := os.ReadFile(filepath.Join(p, "cgroup.procs")); len(bytes.TrimSpace(procs)) > 0 || filepath.Base(p) != "supervisor" {
				left = append(left, strings.TrimPrefix(p, ctr+"/"))
			}
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left in the container's subtree after the stop: %v", left)
	}
	if procs, _ := os.ReadFile(filepath.Join(ctr, "cgroup.procs")); len(bytes.TrimSpace(procs)) > 0 {
		t.Errorf("processes left in %s: %s", ctr, procs)
	}
	if !strings.Contains(logs.String(), "hooksupd stopped") {
		t.Errorf("no clean stop in hooksupd's log")
	}
}

// groupOf finds, below ctr, the group with processes whose name starts
// with prefix (a daemon hook's; spare groups of the same hook stay empty).
func groupOf(t *testing.T, ctr, prefix string) string {
	t.Helper()
	var found, names []string
	_ = filepath.WalkDir(ctr, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), prefix) {
			names = append(names, p)
			if procs, _ := os.ReadFile(filepath.Join(p, "cgroup.procs")); len(bytes.TrimSpace(procs)) > 0 {
				found = append(found, p)
			}
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("want one group %s* with processes below %s, found %v among %v", prefix, ctr, found, names)
	}
	return found[0]
}

func topLevelGroups(t *testing.T, mnt string) []string {
	t.Helper()
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func sortedWith(s []string, v string) []string {
	out := append(slices.Clone(s), v)
	slices.Sort(out)
	return out
}

// removeTree removes the groups below and at dir, deepest first.
func removeTree(t *testing.T, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(dirs) - 1; i >= 0; i-- {
		for unix.Rmdir(dirs[i]) == unix.EBUSY && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("could not remove %s", dir)
	}
}
