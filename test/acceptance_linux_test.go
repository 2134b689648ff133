// SPDX-License-Identifier: Apache-2.0

package test

// Acceptance criteria of the Linux supervisor, pinned through hooks.toml,
// executor.Dispatcher and the Linux backend with the real test hook
// program. See README.md for the list and the pitfalls they also pin.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"github.com/hooksupd/hooksupd/supervisor"
)

// TestAcceptMemoryOOM: a hook allocating 200 MiB under memory_max = "64M"
// is reported as OOM-killed (the trace's error kind, and errors.Is on the
// executor's error), while a neighbouring exec hook and a daemon hook
// fired at the same time answer normally, and the daemon keeps its child.
func TestAcceptMemoryOOM(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	log := &logBuf{}
	b := linuxBackend(t, nil)
	bin := testhook.Path(t)
	d := newDispatcher(t, b, linuxTOML(bin,
		`name = "hog"
event = "pre_store"
timeout_ms = 5000
fail_mode = "closed"
args = ["memhog", "200"]
limits.memory_max = "64M"`,
		`name = "neighbour"
event = "pre_delete"
timeout_ms = 5000
args = ["echo-payload"]
limits.memory_max = "64M"`,
		`name = "resident"
event = "pre_link"
mode = "daemon"
timeout_ms = 5000
args = ["daemon"]
limits.memory_max = "64M"`), log)

	res, _ := dfire(t, d, "pre_link", `{"token":"warm"}`, 10*time.Second)
	var warm daemonReply
	resultMeta(t, res, &warm)

	fire := func(event, payload string) (*executor.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.Fire(ctx, event, nil, json.RawMessage(payload))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 3 {
			res, err := fire("pre_store", `{}`)
			if err != nil {
				t.Errorf("hog fire %d: %v", i, err)
				continue
			}
			tr := res.Hooks[0]
			if res.Decision != executor.ActionDeny || res.Code != 503 || tr.Error != "oom_killed" || tr.Decision != "error" || !tr.Ran {
				t.Errorf("hog fire %d: result %+v, trace %+v; want deny 503 with error kind oom_killed", i, res, tr)
			}
		}
	})
	wg.Go(func() {
		for i := range 20 {
			payload := fmt.Sprintf(`{"i":%d}`, i)
			res, err := fire("pre_delete", payload)
			if err != nil || res.Decision != executor.ActionModify || string(res.Delta["metadata"]) != payload {
				t.Errorf("neighbour fire %d: %+v %v", i, res, err)
			}
		}
	})
	wg.Go(func() {
		for i := range 20 {
			tok := "t" + strconv.Itoa(i)
			res, err := fire("pre_link", `{"token":"`+tok+`"}`)
			if err != nil || res.Decision != executor.ActionModify {
				t.Errorf("resident fire %d: %+v %v", i, res, err)
				continue
			}
			var r daemonReply
			var p struct{ Token string }
			if json.Unmarshal(res.Delta["metadata"], &r) != nil || json.Unmarshal(r.Payload, &p) != nil || r.Pid != warm.Pid || p.Token != tok {
				t.Errorf("resident fire %d: reply %s, want pid %d token %s", i, res.Delta["metadata"], warm.Pid, tok)
			}
		}
	})
	wg.Wait()

	// errors.Is through the executor of the same hooks.toml block.
	reg := executor.NewRegistry(executor.RegistryOptions{Backend: b, Policy: d.Config().Policy})
	defer reg.Close(context.Background())
	ex, err := reg.Executor(&d.Config().Hooks[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ex.Fire(ctx, "pre_store", json.RawMessage(`{}`))
	if !errors.Is(err, executor.ErrOOMKilled) || !errors.Is(err, supervisor.ErrOOMKilled) || executor.KindOf(err).String() != "oom_killed" {
		t.Errorf("executor error = %v (kind %q), want ErrOOMKilled", err, executor.KindOf(err).String())
	}

	for _, h := range d.Status().Hooks {
		switch h.Name {
		case "resident":
			if !h.State.Running || h.State.Pid != warm.Pid || h.State.Restarts != 0 {
				t.Errorf("resident after the OOM kills: %+v, want pid %d and no restart", h.State, warm.Pid)
			}
		case "hog":
			if n := h.Metrics.Outcomes["oom_killed"]; n != 3 {
				t.Errorf("hog metrics: %d oom_killed outcomes, want 3 (%+v)", n, h.Metrics.Outcomes)
			}
		}
	}
	// The supervisor itself still answers.
	if res, _ := dfire(t, d, "pre_delete", `{"after":true}`, 10*time.Second); res.Decision != executor.ActionModify {
		t.Errorf("fire after the OOM kills: %+v", res)
	}
}

// TestAcceptPidsLimit: a hook trying to start 200 processes under
// pids_max = 20 gets no more than 20 tasks in its group; the hook itself
// reports the forks that worked and its group's pids.current.
func TestAcceptPidsLimit(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t),
		`name = "forkbomb"
event = "pre_store"
timeout_ms = 5000
args = ["forkmany", "200"]
env = { GOMAXPROCS = "1" }
limits.pids_max = 20`), &logBuf{})
	res, _ := dfire(t, d, "pre_store", `{}`, 10*time.Second)
	var m struct {
		OK          int    `json:"ok"`
		Failed      int    `json:"failed"`
		Err         string `json:"err"`
		PidsCurrent string `json:"pids_current"`
		PidsMax     string `json:"pids_max"`
	}
	resultMeta(t, res, &m)
	t.Logf("forks: %d ok, %d refused (%s); pids.current %s of pids.max %s", m.OK, m.Failed, m.Err, m.PidsCurrent, m.PidsMax)
	if m.OK+m.Failed != 200 || m.OK > 20 || m.Failed == 0 {
		t.Errorf("%d forks ok, %d refused: want at most 20 ok", m.OK, m.Failed)
	}
	if !strings.Contains(m.Err, syscall.EAGAIN.Error()) {
		t.Errorf("fork refused with %q, want EAGAIN", m.Err)
	}
	if m.PidsMax != "20" {
		t.Errorf("pids.max of the hook's group = %q, want 20", m.PidsMax)
	}
	if cur, err := strconv.Atoi(m.PidsCurrent); err != nil || cur > 20 || cur <= m.OK {
		t.Errorf("pids.current = %q with %d live children, want %d..20", m.PidsCurrent, m.OK, m.OK+1)
	}
}

// TestAcceptCPUQuota: a busy loop under cpu_max = "20%" uses 15-25% of one
// CPU over 3 s, read from its group's CPU usage. A quota is a cap: on a
// host saturated by others the loop gets less, which is a failure only
// when the group's throttling counter shows that the quota held it back.
func TestAcceptCPUQuota(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	pidfile := filepath.Join(testutil.HookDir(t), "pid")
	d := newDispatcher(t, linuxBackend(t, nil), eventTOML("accept_cpu", 10*time.Second)+linuxTOML(testhook.Path(t),
		fmt.Sprintf(`name = "burner"
event = "accept_cpu"
timeout_ms = 10000
args = ["pidfile", %q, "cpuburn", "4000"]
limits.cpu_max = "20%%"`, pidfile)), &logBuf{})
	done := make(chan *executor.Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		res, err := d.Fire(ctx, "accept_cpu", nil, json.RawMessage(`{}`))
		if err != nil {
			t.Errorf("Fire: %v", err)
		}
		done <- res
	}()
	var pid int
	eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(pidfile)
		pid, _ = strconv.Atoi(string(b))
		return pid > 0
	}, "the burner wrote its pid")
	dirs := pidGroupDirs(t, pid)
	usage := cpuUsage(t, dirs)
	time.Sleep(300 * time.Millisecond)
	u0, th0, t0 := usage(), throttled(dirs), time.Now()
	time.Sleep(3 * time.Second)
	u1, th1, elapsed := usage(), throttled(dirs), time.Since(t0)
	share := float64(u1-u0) / float64(elapsed)
	periods := int64(elapsed / (100 * time.Millisecond))
	t.Logf("CPU share %.3f of one CPU over %v; throttled in %d of %d periods", share, elapsed, th1-th0, periods)
	switch {
	case share > 0.25:
		t.Errorf("CPU share = %.3f, over the 20%% quota", share)
	case share >= 0.15:
	case th0 < 0:
		t.Errorf("CPU share = %.3f and no throttling counter to tell load from the quota", share)
	case (th1-th0)*10 >= periods*9:
		// Throttled in nearly every period: the quota, not foreign load,
		// bounded the hook, so it must have had its 20%.
		t.Errorf("CPU share = %.3f while throttled in %d of %d periods, want 0.15..0.25", share, th1-th0, periods)
	default:
		t.Logf("host too busy to reach the quota; only the upper bound was checked")
	}
	select {
	case res := <-done:
		if res == nil || res.Decision != executor.ActionAllow {
			t.Errorf("burner result %+v", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the burner's fire did not end")
	}
}

// cpuUsage returns a reader of the group's total CPU time: cpu.stat
// usage_usec of its cgroup2 directory, else v1 cpuacct.usage.
func cpuUsage(t *testing.T, dirs map[string]string) func() time.Duration {
	t.Helper()
	if d, ok := dirs["0::"]; ok {
		if _, ok := readKeyed(filepath.Join(d, "cpu.stat"), "usage_usec"); ok {
			return func() time.Duration {
				us, _ := readKeyed(filepath.Join(d, "cpu.stat"), "usage_usec")
				return time.Duration(us) * time.Microsecond
			}
		}
	}
	for k, d := range dirs {
		if slices.Contains(strings.Split(k, ","), "cpuacct") {
			return func() time.Duration { return time.Duration(readInt(t, filepath.Join(d, "cpuacct.usage"))) }
		}
	}
	t.Fatalf("no CPU usage file in the hook's group %v", dirs)
	return nil
}

// throttled reads nr_throttled of the group's cpu controller; -1 when no
// directory of the group has one.
func throttled(dirs map[string]string) int64 {
	for _, d := range dirs {
		if n, ok := readKeyed(filepath.Join(d, "cpu.stat"), "nr_throttled"); ok {
			return n
		}
	}
	return -1
}

// TestAcceptTimeoutKillsTree: a hook that double-forks a setsid'd daemon
// holding its stdout and never answers. The fire returns within
// timeout + 200 ms, and no process of the tree is alive when it does
// (pitfalls 1, 4 and 10: the asynchronous cgroup.kill is waited for).
func TestAcceptTimeoutKillsTree(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	bin := testhook.Path(t)
	file := filepath.Join(testutil.HookDir(t), "pids")
	const timeout = time.Second
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(bin, fmt.Sprintf(`name = "escapee"
event = "pre_store"
timeout_ms = %d
fail_mode = "closed"
args = ["setsid-daemon-hang", %q]
limits.memory_max = "64M"
limits.pids_max = 32`, timeout.Milliseconds(), file)), &logBuf{})
	for round := range 3 { // a killed group is replaced, not reused: every round counts
		os.Remove(file)
		res, elapsed := dfire(t, d, "pre_store", `{}`, 10*time.Second)
		if tr := traceOf(t, res, "escapee"); tr.Error != "timeout" || res.Decision != executor.ActionDeny || res.Code != 503 {
			t.Errorf("round %d: result %+v, trace %+v; want deny 503 with error kind timeout", round, res, tr)
		}
		if elapsed > timeout+killBound {
			t.Errorf("round %d: returned after %v, want <= %v", round, elapsed, timeout+killBound)
		}
		_, pids := readPidLines(t, file)
		if len(pids) != 2 {
			t.Fatalf("round %d: hook reported %v, want its pid and the holder's", round, pids)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("round %d: pid %d (state %s) survived the timeout", round, pid, procState(pid))
			}
		}
	}
	noHookProcsLeft(t, bin, 0)
}

// TestAcceptStdioAndEnvFromConfig: through hooks.toml, a capped hook sees
// fds 0, 1 and 2 only, even while the supervisor holds a descriptor
// opened without O_CLOEXEC, and an environment of exactly what the config
// names (docs/pitfalls.md #16).
func TestAcceptStdioAndEnvFromConfig(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.CheckFDLeak(t)
	t.Setenv("ACCEPT_TEST_PASSED", "passed value")
	t.Setenv("ACCEPT_TEST_SECRET", "must not leak")
	d := newDispatcher(t, linuxBackend(t, nil), linuxTOML(testhook.Path(t),
		`name = "fds"
event = "pre_store"
timeout_ms = 5000
args = ["fdlist"]
limits.memory_max = "64M"`,
		`name = "envy"
event = "pre_delete"
timeout_ms = 5000
args = ["env"]
env = { FOO = "bar" }
pass_env = ["ACCEPT_TEST_PASSED", "ACCEPT_TEST_UNSET"]
limits.pids_max = 16`), &logBuf{})
	// Opened after the backend and before its first launcher: every child
	// the backend clones from now on inherits it unless it is closed.
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	for range 3 {
		res, _ := dfire(t, d, "pre_store", `{}`, 10*time.Second)
		var m struct{ FDs []int }
		resultMeta(t, res, &m)
		if !slices.Equal(m.FDs, []int{0, 1, 2}) {
			t.Errorf("hook fds %v, want [0 1 2] (the supervisor holds inheritable fd %d)", m.FDs, fd)
		}
		res, _ = dfire(t, d, "pre_delete", `{}`, 10*time.Second)
		var e struct{ Env []string }
		resultMeta(t, res, &e)
		want := []string{"ACCEPT_TEST_PASSED=passed value", "FOO=bar", "HOOKSUPD_EVENT=pre_delete",
			"HOOKSUPD_HOOK=envy", "PATH=/usr/local/bin:/usr/bin:/bin"}
		got := slices.Sorted(slices.Values(e.Env))
		if !slices.Equal(got, want) {
			t.Errorf("env:\n got %q\nwant %q", got, want)
		}
	}
	if flags, err := fcntlGetFD(fd); err != nil || flags&syscall.FD_CLOEXEC != 0 {
		t.Errorf("the test's fd lost its inheritability (flags %#x, %v): the check proved nothing", flags, err)
	}
}

func fcntlGetFD(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
