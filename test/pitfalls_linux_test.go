// SPDX-License-Identifier: Apache-2.0

package test

// Pitfalls of docs/pitfalls.md that need Linux (cgroups, pidfds, threads).
// Those pinned on every backend are in pitfalls_test.go, the seccomp ones
// in pitfalls_seccomp_linux_test.go; README.md maps each pitfall to the
// tests that pin it.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

// TestPitfall03PdeathsigSurvivesThreadChurn: daemons started from
// goroutines that lock their OS thread and exit (so the runtime retires
// the thread), followed by 64 more retired threads, keep running: the
// Pdeathsig of a child is tied to the thread that cloned it, and only a
// spawning thread that lives as long as the supervisor makes it safe
// (golang/go#27505). TestAcceptCrashLeavesNothing checks the other half:
// the children die when the supervisor does.
func TestPitfall03PdeathsigSurvivesThreadChurn(t *testing.T) {
	testutil.CheckFDLeak(t)
	s := newSuite(t, "linux", newBackend(t, "linux"))
	const n = 4
	pids := make([]int, n)
	hooks := make([]*config.Hook, n)
	for i := range n {
		hooks[i] = s.daemonHook("churn" + strconv.Itoa(i))
		ex, err := s.reg.Executor(hooks[i])
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := ex.Fire(ctx, testEvent, json.RawMessage(`{}`))
			var r daemonReply
			if err == nil {
				err = json.Unmarshal(d.Delta["metadata"], &r)
			}
			pids[i] = r.Pid
			got <- err
		}()
		if err := <-got; err != nil {
			t.Fatalf("daemon %d: %v", i, err)
		}
	}
	churnThreads(64)
	time.Sleep(200 * time.Millisecond) // a daemon killed by a thread's exit is noticed by now
	for i, h := range hooks {
		st := s.state(h.Name)
		if !alive(pids[i]) || !st.Running || st.Pid != pids[i] || st.Restarts != 0 {
			t.Errorf("daemon %s (pid %d, state %s) after thread churn: %+v", h.Name, pids[i], procState(pids[i]), st)
			continue
		}
		if r := s.token(h, "again", 5*time.Second); r.Pid != pids[i] || r.N != 2 {
			t.Errorf("daemon %s: second reply %+v, want pid %d n 2", h.Name, r, pids[i])
		}
	}
}

// TestPitfall11OOMFromCounterNotSignal: OOM is read from the group's
// oom_kill counter across the fire. A hook that SIGKILLs itself is an
// exit, not an OOM kill; a group reused after an OOM kill does not report
// it again (no stale counter: containerd#7102); an uncapped hook killed by
// a signal is an exit too.
func TestPitfall11OOMFromCounterNotSignal(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t),
		`name = "steered"
event = "pre_store"
timeout_ms = 5000
fail_mode = "closed"
args = ["steer"]
limits.memory_max = "64M"`,
		`name = "suicidal"
event = "pre_delete"
timeout_ms = 5000
fail_mode = "closed"
args = ["selfkill"]`), &logBuf{})
	steps := []struct{ payload, kind string }{
		{`{"memhog_mib":200}`, "oom_killed"},
		{`{"selfkill":true}`, "exit"},
		{`{"memhog_mib":8}`, ""},
		{`{}`, ""},
	}
	for round := range 3 { // the hook's groups are reused between rounds
		for _, st := range steps {
			res, _ := dfire(t, d, "pre_store", st.payload, 10*time.Second)
			if tr := traceOf(t, res, "steered"); tr.Error != st.kind {
				t.Errorf("round %d, payload %s: error kind %q, want %q (%+v)", round, st.payload, tr.Error, st.kind, res)
			}
		}
	}
	res, _ := dfire(t, d, "pre_delete", `{}`, 10*time.Second)
	if tr := traceOf(t, res, "suicidal"); tr.Error != "exit" || !strings.Contains(res.Reason, "signal 9") {
		t.Errorf("uncapped self-kill: trace %+v, reason %q", tr, res.Reason)
	}
}

// TestPitfall12NoInotifyPerGroup: 50 live daemon hooks, each in its own
// capped group, cost no inotify instance (one per group would exhaust
// max_user_instances, 128 by default: containerd/cgroups#364).
func TestPitfall12NoInotifyPerGroup(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	s := newSuite(t, "linux", newBackend(t, "linux"))
	before := countFDs("inotify")
	hooks := make(chan *config.Hook, 50)
	for i := range 50 {
		h := s.daemonHook(fmt.Sprintf("ino%02d", i))
		h.Limits = config.Limits{MemoryMax: 64 << 20, PidsMax: 16}
		hooks <- h
	}
	close(hooks)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for h := range hooks {
				ex, err := s.reg.Executor(h)
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err = ex.Fire(ctx, testEvent, json.RawMessage(`{}`))
					cancel()
				}
				if err != nil {
					t.Errorf("%s: %v", h.Name, err)
				}
			}
		})
	}
	wg.Wait()
	running := 0
	for i := range 50 {
		if s.state(fmt.Sprintf("ino%02d", i)).Running {
			running++
		}
	}
	if after := countFDs("inotify"); after != before || running != 50 {
		t.Errorf("%d daemons running; inotify fds %d before, %d after", running, before, after)
	}
}

// TestPitfall13NoInternalProcesses: a capped hook's group holds the hook
// and nothing else; the subtree root holds no process (the supervisor is
// outside its subtree), its limits are in the group's files, and on
// cgroup v2 the controllers reach the group through subtree_control.
func TestPitfall13NoInternalProcesses(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t), `name = "inner"
event = "pre_link"
mode = "daemon"
timeout_ms = 5000
args = ["daemon"]
limits.memory_max = "64M"
limits.pids_max = 16
limits.cpu_max = "50%"`), &logBuf{})
	res, _ := dfire(t, d, "pre_link", `{}`, 10*time.Second)
	var r daemonReply
	resultMeta(t, res, &r)
	own := ownCgroups(t)
	seen := map[string]bool{}
	for key, dir := range pidGroupDirs(t, r.Pid) {
		root := filepath.Dir(dir)
		if got := pidsIn(t, dir); !slices.Equal(got, []int{r.Pid}) {
			t.Errorf("%s holds %v, want only the hook %d", dir, got, r.Pid)
		}
		if o := own[key]; o == root || strings.HasPrefix(o, root+"/") {
			t.Errorf("the supervisor (%s) is inside its own subtree %s", o, root)
		}
		if got := pidsIn(t, root); len(got) > 0 {
			t.Errorf("subtree root %s holds processes %v (internal processes)", root, got)
		}
		if v, ok := intFile(dir, "memory.max"); ok {
			seen["memory"] = v == 64<<20
			if ctl, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); !containsAll(strings.Fields(string(ctl)), []string{"memory", "pids", "cpu"}) {
				t.Errorf("%s/cgroup.subtree_control = %q, want memory pids cpu", root, ctl)
			}
		}
		if v, ok := intFile(dir, "memory.limit_in_bytes"); ok {
			seen["memory"] = v == 64<<20
		}
		if v, ok := intFile(dir, "pids.max"); ok {
			seen["pids"] = v == 16
		}
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.max")); err == nil {
			seen["cpu"] = strings.TrimSpace(string(b)) == "50000 100000"
		}
		if v, ok := intFile(dir, "cpu.cfs_quota_us"); ok {
			p, _ := intFile(dir, "cpu.cfs_period_us")
			seen["cpu"] = v*2 == p
		}
	}
	for _, c := range []string{"memory", "pids", "cpu"} {
		if !seen[c] {
			t.Errorf("the %s limit is not in the hook's group files (seen %v)", c, seen)
		}
	}
}

// pidsIn reads a cgroup's cgroup.procs.
func pidsIn(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	return pids
}

// intFile reads an integer cgroup file; ok is false when it is missing
// or not a number ("max").
func intFile(dir, name string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// TestPitfall14PlacementOffTheHotPath: a capped hook is accepted only
// with a race-free placement, and Mechanisms says which. With launchers,
// the hook of a fire is a process that already sat in its group before
// the fire began: no cgroup migration (and no RCU grace period) on the
// fire's path. Timing is left to the benchmarks.
func TestPitfall14PlacementOffTheHotPath(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t), `name = "placed"
event = "pre_store"
timeout_ms = 5000
args = ["cgroups"]
limits.memory_max = "64M"
limits.pids_max = 16`), &logBuf{})
	m := d.Status().Mechanisms
	t.Logf("mechanisms: %+v", m)
	if m.Backend != "linux" || m.Attach == "" || m.Attach == "none" || strings.Contains(m.Attach, "after start") {
		t.Fatalf("a capped hook was accepted with attach %q", m.Attach)
	}
	if !strings.Contains(m.Spawn, "launcher") {
		if !strings.Contains(m.Attach, "CLONE_INTO_CGROUP") {
			t.Errorf("no launcher and attach %q: not race-free", m.Attach)
		}
		return
	}
	dfire(t, d, "pre_store", `{}`, 10*time.Second) // makes the pool
	launchers := func() []int {
		var out []int
		for _, pid := range childrenOf(os.Getpid()) {
			if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); strings.Contains(exe, "hooksupd-launcher") {
				out = append(out, pid)
			}
		}
		return out
	}
	// The pool refills in the background: wait until it is done, so that
	// no launcher is parked between this look and the fire.
	var parked []int
	eventually(t, 5*time.Second, func() bool {
		before := launchers()
		time.Sleep(100 * time.Millisecond)
		parked = launchers()
		return len(parked) > 0 && slices.Equal(before, parked)
	}, "launchers parked after the first fire")
	placed := map[int]map[string]string{}
	for _, pid := range parked {
		placed[pid] = pidGroupDirs(t, pid) // in a group before any fire asked for it
	}
	res, _ := dfire(t, d, "pre_store", `{}`, 10*time.Second)
	var got struct {
		Pid    int
		Cgroup string
	}
	resultMeta(t, res, &got)
	want, ok := placed[got.Pid]
	if !ok {
		t.Fatalf("the hook ran as pid %d, not as one of the launchers parked before the fire %v", got.Pid, parked)
	}
	if now := groupDirs(t, got.Cgroup); !maps.Equal(now, want) {
		t.Errorf("the hook moved groups at the fire: parked in %v, ran in %v", want, now)
	}
}

// TestPitfall16NoInheritedFDs: the child sees fds 0, 1 and 2 only while
// this process holds a descriptor opened without O_CLOEXEC (CVE-2024-21626
// class). On the Linux backend the fd is opened after the backend and
// before its first launcher is cloned, so every launcher inherits it and
// must close it before the exec. The portable backend marks the fds it
// finds at creation close-on-exec, so there the fd is opened first (one
// opened without O_CLOEXEC later reaches its children: os/exec has no
// close_range).
func TestPitfall16NoInheritedFDs(t *testing.T) {
	for _, kind := range []string{"portable", "linux"} {
		t.Run(kind, func(t *testing.T) {
			testutil.CheckFDLeak(t)
			var fd int
			open := func() {
				var err error
				if fd, err = syscall.Open(os.DevNull, syscall.O_RDONLY, 0); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { syscall.Close(fd) })
			}
			s := newSuite(t, kind, newBackend(t, kind))
			// Opened after the backend exists: the Linux launchers are
			// cloned later, and the portable backend must sweep before
			// every start, not only when it is created.
			open()
			if flags, _ := fcntlGetFD(fd); flags&syscall.FD_CLOEXEC != 0 {
				t.Fatal("fd is close-on-exec: the test proves nothing")
			}
			h := s.hook("fds", "fdlist")
			for range 2 { // the second fire takes a launcher prepared in the background
				var m struct{ FDs []int }
				metadata(t, s.mustFire(h, `{}`), &m)
				if !slices.Equal(m.FDs, []int{0, 1, 2}) {
					t.Errorf("child fds %v, want [0 1 2] (inheritable fd %d open here)", m.FDs, fd)
				}
			}
		})
	}
}

// TestPitfall11DaemonOOM: a daemon child killed by its memory limit while
// it handles a request is reported as OOM-killed, as in exec mode, not as
// a child that closed its stdout (a dying process closes its files before
// it is reaped, so stdout's EOF usually arrives before the exit status);
// the next fire gets a fresh child.
func TestPitfall11DaemonOOM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t), `name = "steerd"
event = "pre_store"
mode = "daemon"
timeout_ms = 5000
fail_mode = "closed"
args = ["steer-daemon"]
limits.memory_max = "64M"`), &logBuf{})
	res, _ := dfire(t, d, "pre_store", `{}`, 10*time.Second)
	var first struct{ Pid int }
	resultMeta(t, res, &first)
	// Which of the two notifications wins is a race: several rounds make
	// the failure all but certain while the bug is there.
	for round := range 5 { // the restart backoff doubles each round
		res, _ = dfire(t, d, "pre_store", `{"memhog_mib":200}`, 10*time.Second)
		if tr := traceOf(t, res, "steerd"); tr.Error != "oom_killed" {
			t.Errorf("round %d: daemon over memory_max: error kind %q, reason %q; want oom_killed", round, tr.Error, res.Reason)
		}
		waitGone(t, first.Pid, 2*time.Second)
		var next struct{ Pid int }
		eventually(t, 5*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := d.Fire(ctx, "pre_store", nil, json.RawMessage(`{}`))
			return err == nil && res.Decision == executor.ActionModify && json.Unmarshal(res.Delta["metadata"], &next) == nil
		}, "a new daemon child answers after the OOM kill")
		if next.Pid == first.Pid {
			t.Fatalf("round %d: same child %d after an OOM kill", round, next.Pid)
		}
		first = next
	}
}
