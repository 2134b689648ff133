// SPDX-License-Identifier: Apache-2.0

package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/supervisor"
)

// reexecEnv makes the test binary act as a second supervisor process (one
// that a test can SIGKILL, or one running under a seccomp filter) instead
// of running tests. init runs before TestMain, so such a process never runs
// the suite.
const reexecEnv = "HOOKSUPD_TEST_REEXEC"

func init() {
	if role := os.Getenv(reexecEnv); role != "" {
		os.Exit(runReexec(role))
	}
}

func runReexec(role string) int {
	if err := placeSelf(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	switch role {
	case "crash":
		return crashSupervisor()
	case "serve":
		return serveSupervisor()
	case "seccomp":
		return seccompSupervisor()
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}

// linuxBackend opens a Linux backend (skipping, or failing under CI, where
// there is none) that the test may close itself; a second Close at the end
// of the test is not an error.
func linuxBackend(t *testing.T, log *logBuf) supervisor.Backend {
	t.Helper()
	var l supervisor.Logger
	if log != nil {
		l = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := supervisor.New(supervisor.Options{Kind: "linux", Logger: l})
	if errors.Is(err, supervisor.ErrNotSupported) {
		testutil.SkipOrFail(t, "linux backend: %v", err)
	}
	if err != nil {
		t.Fatalf("linux backend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, supervisor.ErrClosed) {
			t.Errorf("linux backend Close: %v", err)
		}
	})
	return b
}

// newDispatcher parses src (hooks.toml) and returns a Dispatcher over b,
// closed when the test ends (before b). A config the backend cannot
// enforce skips the test (fails it under CI).
func newDispatcher(t *testing.T, b supervisor.Backend, src string, log *logBuf) *executor.Dispatcher {
	t.Helper()
	cfg := parse(t, src)
	d, err := executor.New(cfg, executor.Options{Backend: b,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	var ce *config.ConfigError
	if errors.As(err, &ce) && strings.Contains(err.Error(), "cannot enforce") {
		testutil.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("dispatcher Close: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	})
	return d
}

// linuxTOML is hooksTOML with a priority for every block that sets none
// (hooks.toml requires one).
func linuxTOML(bin string, blocks ...string) string {
	for i, b := range blocks {
		if !strings.Contains(b, "priority =") {
			blocks[i] = "priority = 1\n" + b
		}
	}
	return hooksTOML(bin, blocks...)
}

// eventTOML declares a custom event with a chain deadline.
func eventTOML(name string, deadline time.Duration) string {
	return fmt.Sprintf("[[event]]\nname = %q\ndeadline_ms = %d\n\n", name, deadline.Milliseconds())
}

// dfire fires event with payload and fails the test on a Fire error (hook
// failures are in the Result).
func dfire(t *testing.T, d *executor.Dispatcher, event, payload string, within time.Duration) (*executor.Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	start := time.Now()
	res, err := d.Fire(ctx, event, nil, json.RawMessage(payload))
	if err != nil {
		t.Fatalf("Fire %s: %v", event, err)
	}
	return res, time.Since(start)
}

// traceOf returns the trace entry of hook in res.
func traceOf(t *testing.T, res *executor.Result, hook string) executor.Trace {
	t.Helper()
	for _, tr := range res.Hooks {
		if tr.Hook == hook {
			return tr
		}
	}
	t.Fatalf("no trace of hook %s in %+v", hook, res.Hooks)
	return executor.Trace{}
}

// resultMeta decodes a modify result's delta.metadata into v.
func resultMeta(t *testing.T, res *executor.Result, v any) {
	t.Helper()
	if res.Decision != executor.ActionModify {
		t.Fatalf("result %+v: want modify", res)
	}
	if err := json.Unmarshal(res.Delta["metadata"], v); err != nil {
		t.Fatalf("metadata %s: %v", res.Delta["metadata"], err)
	}
}

// cgMount is one mounted cgroup hierarchy.
type cgMount struct {
	point, root string
	v2          bool
	opts        []string // super options (v1: the controllers, name=...)
}

// cgroupMounts lists the cgroup hierarchies of this mount namespace.
func cgroupMounts() []cgMount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []cgMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || (b[0] != "cgroup" && b[0] != "cgroup2") {
			continue
		}
		out = append(out, cgMount{point: a[4], root: a[3], v2: b[0] == "cgroup2", opts: strings.Split(b[2], ",")})
	}
	return out
}

// cgroupDirs maps each line of a /proc/<pid>/cgroup text to the directory
// it names, keyed by the hierarchy ("0::" for cgroup2, else the v1
// controller list, e.g. "memory" or "cpu,cpuacct").
func cgroupDirs(text string) map[string]string {
	mounts := cgroupMounts()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		key, want := parts[1], strings.Split(parts[1], ",")
		if parts[0] == "0" && parts[1] == "" {
			key = "0::"
		}
		for _, m := range mounts {
			if m.v2 != (key == "0::") {
				continue
			}
			if !m.v2 && !containsAll(m.opts, want) {
				continue
			}
			rel := parts[2]
			if m.root != "/" {
				rel = strings.TrimPrefix(rel, m.root)
			}
			out[key] = filepath.Join(m.point, rel)
			break
		}
	}
	return out
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// ownCgroups are this process's cgroup directories per hierarchy.
func ownCgroups(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	return cgroupDirs(string(b))
}

// groupDirs returns the directories of a hook's group, given the text of
// its /proc/<pid>/cgroup: the hierarchies where it is not in the cgroup
// this process is in.
func groupDirs(t *testing.T, text string) map[string]string {
	t.Helper()
	return groupDirsFrom(t, text, ownCgroups(t))
}

// groupDirsFrom is groupDirs relative to the cgroups own of the supervisor
// that started the hook.
func groupDirsFrom(t *testing.T, text string, own map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, d := range cgroupDirs(text) {
		if own[k] != d {
			out[k] = d
		}
	}
	if len(out) == 0 {
		t.Fatalf("the hook is in no group of its own:\n%s", text)
	}
	return out
}

// pidGroupDirs is groupDirs for a live pid.
func pidGroupDirs(t *testing.T, pid int) map[string]string {
	t.Helper()
	return groupDirs(t, pidCgroups(t, pid))
}

// pidCgroups reads /proc/<pid>/cgroup.
func pidCgroups(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("pid %d: %v", pid, err)
	}
	return string(b)
}

// subtreeRoots returns the subtree roots (the parents of the groups).
func subtreeRoots(dirs map[string]string) []string {
	var roots []string
	for _, d := range dirs {
		if r := filepath.Dir(d); !slices.Contains(roots, r) {
			roots = append(roots, r)
		}
	}
	slices.Sort(roots)
	return roots
}

// childDirs lists the cgroups directly below dir whose names start with
// prefix ("" for all); nil when dir does not exist.
func childDirs(dir, prefix string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// noGroupsLeft fails the test when a subtree root still holds a group
// whose name starts with prefix (the test's hook names) within a grace
// period. A root named exactly "hooksupd" may have been claimed meanwhile
// by another instance on this host; any other root (a "hooksupd-<pid>"
// of an instance that is gone) must be gone entirely.
func noGroupsLeft(t *testing.T, roots []string, prefix string, within time.Duration) {
	t.Helper()
	left := func() []string {
		var out []string
		for _, r := range roots {
			if _, err := os.Stat(r); err != nil {
				continue
			}
			if filepath.Base(r) != "hooksupd" {
				out = append(out, r+" (subtree root, with "+strconv.Itoa(len(childDirs(r, "")))+" groups)")
				continue
			}
			for _, c := range childDirs(r, prefix) {
				out = append(out, filepath.Join(r, c))
			}
		}
		return out
	}
	l := left()
	for end := time.Now().Add(within); len(l) > 0 && time.Now().Before(end); l = left() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(l) > 0 {
		t.Errorf("cgroups left behind: %v", l)
	}
}

// readInt reads a file holding one integer.
func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// readKeyed reads "key value" from a flat-keyed cgroup file; ok is false
// when the file or key is missing.
func readKeyed(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, key+" "); found {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// countFDs counts this process's fds whose target contains match.
func countFDs(match string) int {
	n := 0
	for _, target := range testutil.OpenFDs() {
		if strings.Contains(target, match) {
			n++
		}
	}
	return n
}

// childrenOf lists the live (non-zombie) children of pid.
func childrenOf(pid int) []int {
	return procs(func(_ int, state string, ppid int, _ string) bool { return ppid == pid && state != "Z" })
}

// readPidLines parses a file of lines of pids ("PID CHILD..."); first are
// the first pids of each line, all every pid.
func readPidLines(t *testing.T, path string) (first, all []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		for i, f := range strings.Fields(line) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %q", path, line)
			}
			if i == 0 {
				first = append(first, pid)
			}
			all = append(all, pid)
		}
	}
	return first, all
}

// lineCount counts the lines of a file (0 when it does not exist).
func lineCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
