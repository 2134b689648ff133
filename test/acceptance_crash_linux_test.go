// SPDX-License-Identifier: Apache-2.0

package test

// Acceptance criterion "crash": a SIGKILLed supervisor leaves nothing
// behind once started again. The supervisors are re-executed test binaries
// (no Go toolchain is needed, as in the VM) running a Dispatcher from
// hooks.toml; see reexecEnv.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"github.com/hooksupd/hooksupd/supervisor"
)

// churnThreads retires n OS threads: each goroutine locks its thread and
// exits without unlocking, so the runtime ends the thread with it. Held
// for a moment, so that many threads exist at once and idle ones are used.
func churnThreads(n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			runtime.LockOSThread()
			time.Sleep(5 * time.Millisecond)
		})
	}
	wg.Wait()
}

// loadDispatcher loads the hooks.toml named by the environment and starts
// a Dispatcher with the backend its [supervisor] table asks for.
func loadDispatcher() (*executor.Dispatcher, error) {
	cfg, err := config.Load(os.Getenv(reexecEnv + "_CONFIG"))
	if err != nil {
		return nil, err
	}
	return executor.New(cfg, executor.Options{})
}

// daemonPids lists the pids of d's daemon hooks, in config order.
func daemonPids(d *executor.Dispatcher) []string {
	var out []string
	for _, h := range d.Status().Hooks {
		if h.Mode == config.ModeDaemon {
			out = append(out, strconv.Itoa(h.State.Pid))
		}
	}
	return out
}

// crashSupervisor is a supervisor to be SIGKILLed: it starts the daemon
// hooks (pre_link) from a goroutine whose OS thread then exits, retires 64
// more threads, fires the slow exec hook (accept_slow) 10 times (each
// appends "PID CHILD CHILD" to the pids file), prints "daemon BEFORE AFTER
// RESTARTS" per daemon and "ready", and waits to be killed.
func crashSupervisor() int {
	d, err := loadDispatcher()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		res, err := d.Fire(context.Background(), "pre_link", nil, json.RawMessage(`{}`))
		if err == nil && res.Decision != executor.ActionModify {
			err = fmt.Errorf("daemon fire: %+v", res)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		fmt.Println("error", err)
		return 1
	}
	before := daemonPids(d)
	churnThreads(64)
	for range 10 {
		go d.Fire(context.Background(), "accept_slow", nil, json.RawMessage(`{}`))
	}
	pids := os.Getenv(reexecEnv + "_PIDS")
	for end := time.Now().Add(30 * time.Second); lineCount(pids) < 10; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			fmt.Println("error", lineCount(pids), "of 10 hooks started")
			return 1
		}
	}
	time.Sleep(200 * time.Millisecond) // a daemon killed by the churn would be noticed by now
	for i, h := range slices.DeleteFunc(d.Status().Hooks, func(h executor.HookStatus) bool { return h.Mode != config.ModeDaemon }) {
		fmt.Println("daemon", before[i], h.State.Pid, h.State.Restarts)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}

// serveSupervisor runs a Dispatcher until its stdin ends: it fires the
// events named in _FIRE, prints "daemons PID..." and "ready"; each "fire"
// line on stdin fires them again and prints the daemons again; at EOF it
// closes the Dispatcher and prints "closed" and the error, if any.
func serveSupervisor() int {
	d, err := loadDispatcher()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fire := func() {
		for _, ev := range strings.Fields(os.Getenv(reexecEnv + "_FIRE")) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := d.Fire(ctx, ev, nil, json.RawMessage(`{}`))
			cancel()
			if err != nil || res.Decision != executor.ActionModify {
				fmt.Println("error", ev, res, err)
			}
		}
		fmt.Println(strings.Join(append([]string{"daemons"}, daemonPids(d)...), " "))
	}
	fire()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "fire" {
			fire()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fmt.Println("closed", d.Close(ctx))
	return 0
}

// placeSelf moves this process into the cgroups the parent test created
// for it (see privateCgroups), before it starts any supervisor.
func placeSelf() error {
	for _, dir := range strings.Split(os.Getenv(reexecEnv+"_CGROUPS"), "\n") {
		if dir == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0); err != nil {
			return err
		}
	}
	return nil
}

var privateSeq atomic.Int32

// privateCgroups creates, beneath this process's cgroup in every hierarchy
// a supervisor uses, a cgroup of its own for the supervisors a test
// re-executes. Their subtrees then live apart from every other instance on
// the host: on a hybrid host hierarchies such as pids are often shared
// with processes in other memory cgroups, whose instances would otherwise
// sweep the same stale subtrees concurrently (see README.md). Pure v2 (the
// VM) needs none: nil. The cgroups are removed when the test ends.
func privateCgroups(t *testing.T) []string {
	t.Helper()
	own := ownCgroups(t)
	if len(own) == 1 { // only the cgroup2 tree
		return nil
	}
	name := fmt.Sprintf("acc-%d-%d", os.Getpid(), privateSeq.Add(1))
	var dirs []string
	for key, dir := range own {
		ctrls := strings.Split(key, ",")
		if key != "0::" && !slices.ContainsFunc(ctrls, func(c string) bool {
			return slices.Contains([]string{"memory", "pids", "cpu", "cpuacct", "freezer"}, c)
		}) {
			continue
		}
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			if err := removeCgroupTree(d); err != nil {
				t.Errorf("removing %s: %v", d, err)
			}
		}
	})
	return dirs
}

// removeCgroupTree kills whatever is left below dir (processes this test
// started) and removes dir and its descendants, deepest first.
func removeCgroupTree(dir string) error {
	var all []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			all = append(all, p)
		}
		return nil
	})
	var err error
	for i := len(all) - 1; i >= 0; i-- {
		for try := 0; ; try++ {
			b, _ := os.ReadFile(filepath.Join(all[i], "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, _ := strconv.Atoi(f); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			rerr := unix.Rmdir(all[i])
			if rerr == nil || errors.Is(rerr, unix.ENOENT) {
				break
			}
			if try == 100 {
				err = errors.Join(err, rerr)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return err
}

// reexec is a supervisor process started from this test binary.
type reexec struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startReexec starts this test binary as a supervisor of role, in the
// cgroups cgs (none: this process's), with the extra environment env. It
// is killed when the test ends unless it has been waited for.
func startReexec(t *testing.T, role string, cgs []string, env ...string) *reexec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), reexecEnv+"="+role, reexecEnv+"_CGROUPS="+strings.Join(cgs, "\n")), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &reexec{t: t, cmd: cmd, in: in, lines: make(chan string, 64)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			r.wait()
		}
	})
	return r
}

// next returns the next line the supervisor prints, failing the test on
// an "error" line, at EOF, or after within.
func (r *reexec) next(within time.Duration) string {
	r.t.Helper()
	select {
	case line, ok := <-r.lines:
		if !ok {
			r.t.Fatalf("supervisor %d exited", r.cmd.Process.Pid)
		}
		if strings.HasPrefix(line, "error") {
			r.t.Fatalf("supervisor %d: %s", r.cmd.Process.Pid, line)
		}
		return line
	case <-time.After(within):
		r.t.Fatalf("supervisor %d said nothing within %v", r.cmd.Process.Pid, within)
	}
	return ""
}

// wait reaps the process and drains its output.
func (r *reexec) wait() {
	r.in.Close()
	r.cmd.Wait()
	for range r.lines {
	}
}

// TestAcceptCrashLeavesNothing: a supervisor is SIGKILLed while 10 exec
// hooks run, each with two grandchildren, and three daemons live. Its
// direct children die with it (Pdeathsig from the spawning thread, which
// must survive thread churn: docs/pitfalls.md #3); starting again with the same
// hooks.toml kills the grandchildren and removes every group (docs/pitfalls.md #4).
//
// "alone": the restarted instance takes over the crashed one's subtree.
// "beside-live": another instance holds the subtree name throughout, so
// the crashed one ran in "hooksupd-<pid>"; the restart removes that whole
// subtree and leaves the live instance's daemon alone.
func TestAcceptCrashLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	probe := linuxBackend(t, nil)
	if err := probe.CanEnforce(supervisor.Limits{MemoryMax: 64 << 20, PidsMax: 16}); err != nil {
		testutil.SkipOrFail(t, "%v", err)
	}
	probe.Close()
	for _, beside := range []bool{false, true} {
		name := "alone"
		if beside {
			name = "beside-live"
		}
		t.Run(name, func(t *testing.T) { crashAndRestart(t, beside) })
	}
}

func crashAndRestart(t *testing.T, beside bool) {
	bin := testhook.Path(t)
	dir := testutil.HookDir(t)
	pidsFile, cfgPath := filepath.Join(dir, "pids"), filepath.Join(dir, "hooks.toml")
	prefix := fmt.Sprintf("c%d", os.Getpid())
	blocks := []string{fmt.Sprintf(`name = "%s-slow"
event = "accept_slow"
timeout_ms = 30000
max_concurrency = 16
args = ["tree-sleep", %q, "2", "60000"]
limits.memory_max = "64M"
limits.pids_max = 16`, prefix, pidsFile)}
	for i := range 3 {
		blocks = append(blocks, fmt.Sprintf(`name = "%s-d%d"
event = "pre_link"
mode = "daemon"
timeout_ms = 5000
args = ["daemon"]
limits.pids_max = 8`, prefix, i))
	}
	const head = "[supervisor]\nbackend = \"linux\"\n\n"
	if err := os.WriteFile(cfgPath, []byte(eventTOML("accept_slow", 30*time.Second)+head+linuxTOML(bin, blocks...)), 0o644); err != nil {
		t.Fatal(err)
	}
	cgs := privateCgroups(t)

	var live *reexec
	livePid := 0
	if beside {
		liveCfg := filepath.Join(dir, "live.toml")
		if err := os.WriteFile(liveCfg, []byte(head+linuxTOML(bin, `name = "`+prefix+`-live"
event = "pre_link"
mode = "daemon"
timeout_ms = 5000
args = ["daemon"]
limits.pids_max = 8`)), 0o644); err != nil {
			t.Fatal(err)
		}
		live = startReexec(t, "serve", cgs, reexecEnv+"_CONFIG="+liveCfg, reexecEnv+"_FIRE=pre_link")
		livePid, _ = strconv.Atoi(strings.TrimPrefix(live.next(30*time.Second), "daemons "))
		if live.next(5*time.Second) != "ready" || livePid == 0 {
			t.Fatal("live instance did not start its daemon")
		}
	}

	crash := startReexec(t, "crash", cgs, reexecEnv+"_CONFIG="+cfgPath, reexecEnv+"_PIDS="+pidsFile)
	var daemons []int
	for line := crash.next(60 * time.Second); line != "ready"; line = crash.next(60 * time.Second) {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "daemon" {
			t.Fatalf("supervisor: %s", line)
		}
		before, _ := strconv.Atoi(f[1])
		after, _ := strconv.Atoi(f[2])
		if before == 0 || after != before || f[3] != "0" {
			t.Errorf("daemon %d after thread churn: pid %d, %s restarts; want the same child (docs/pitfalls.md #3)", before, after, f[3])
		}
		daemons = append(daemons, after)
	}
	hooks, all := readPidLines(t, pidsFile)
	if len(hooks) != 10 || len(all) != 30 || len(daemons) != 3 {
		t.Fatalf("%d hooks, %d processes, %d daemons; want 10, 30, 3", len(hooks), len(all), len(daemons))
	}
	super := crash.cmd.Process.Pid
	superCgroups := cgroupDirs(pidCgroups(t, super))
	var groups, roots []string
	for _, pid := range append(slices.Clone(hooks), daemons...) {
		if !alive(pid) {
			t.Fatalf("hook %d not running before the crash", pid)
		}
		dirs := groupDirsFrom(t, pidCgroups(t, pid), superCgroups)
		for _, d := range dirs {
			groups = append(groups, d)
		}
		for _, r := range subtreeRoots(dirs) {
			if !slices.Contains(roots, r) {
				roots = append(roots, r)
			}
		}
	}
	kids := childrenOf(super) // hooks, daemons and parked launchers
	for _, pid := range append(slices.Clone(hooks), daemons...) {
		if !slices.Contains(kids, pid) {
			t.Errorf("hook %d is not a direct child of the supervisor %d", pid, super)
		}
	}

	if err := crash.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	crash.wait()
	// The supervisor's children go with it, before anyone sweeps.
	waitDead(t, kids, 5*time.Second, "the supervisor's children did not die with it (Pdeathsig)")
	grandchildren := 0
	for _, pid := range all {
		if !slices.Contains(hooks, pid) && alive(pid) {
			grandchildren++
		}
	}
	t.Logf("after SIGKILL: %d of 20 grandchildren outlived the supervisor; subtrees %v", grandchildren, roots)

	// Start again with the same config: the stale subtree is swept.
	restart := startReexec(t, "serve", cgs, reexecEnv+"_CONFIG="+cfgPath)
	restart.next(30 * time.Second) // "daemons": none fired
	if line := restart.next(30 * time.Second); line != "ready" {
		t.Fatalf("restarted supervisor: %s", line)
	}
	waitDead(t, append(slices.Clone(all), kids...), 5*time.Second, "processes of the crashed supervisor survived the restart")
	for _, g := range groups {
		if _, err := os.Stat(g); err == nil {
			t.Errorf("group %s of the crashed supervisor still exists", g)
		}
	}
	noGroupsLeft(t, roots, prefix, 2*time.Second)
	if beside {
		fmt.Fprintln(live.in, "fire")
		if line := live.next(10 * time.Second); line != "daemons "+strconv.Itoa(livePid) || !alive(livePid) {
			t.Errorf("the live instance's daemon %d was touched by the restart (now %q)", livePid, line)
		}
		liveRoots := subtreeRoots(groupDirsFrom(t, pidCgroups(t, livePid), superCgroups))
		for _, r := range roots {
			if slices.Contains(liveRoots, r) {
				t.Errorf("the crashed instance ran in %s, the subtree of a live instance", r)
			}
		}
	}
	restart.in.Close()
	if line := restart.next(20 * time.Second); line != "closed <nil>" {
		t.Errorf("restarted supervisor: %s", line)
	}
	restart.wait()
	if live != nil {
		live.wait()
	}
	noGroupsLeft(t, roots, prefix, 2*time.Second)
	if cgs != nil {
		// Nobody else lives in the private cgroups: once both instances
		// have closed, no subtree may remain at all.
		for _, r := range roots {
			if _, err := os.Stat(r); err == nil {
				t.Errorf("subtree %s still exists after every instance closed", r)
			}
		}
	}
}

// waitDead fails the test when a pid of pids still runs after within,
// describing each survivor.
func waitDead(t *testing.T, pids []int, within time.Duration, what string) {
	t.Helper()
	survivors := func() []int {
		var out []int
		for _, pid := range pids {
			if alive(pid) {
				out = append(out, pid)
			}
		}
		return out
	}
	left := survivors()
	for end := time.Now().Add(within); len(left) > 0 && time.Now().Before(end); left = survivors() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(left) == 0 {
		return
	}
	var sb strings.Builder
	for _, pid := range left {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		cg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		fmt.Fprintf(&sb, "\n\tpid %d state %s exe %s cgroups %q", pid, procState(pid), exe, cg)
	}
	t.Fatalf("after %v: %s:%s", within, what, sb.String())
}
