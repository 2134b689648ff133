// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// backends lists the backends the run tests cover on this OS.
func backends() []string {
	if runtime.GOOS == "linux" {
		return []string{"linux", "portable"}
	}
	return []string{"portable"}
}

// forEachBackend runs f as a subtest per backend. The Linux backend
// must be available on Linux (SkipOrFail: skipped on a laptop without it,
// a failure under CI).
func forEachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			if b == "linux" {
				requireLinuxBackend(t)
			}
			f(t, b)
		})
	}
}

// requireLinuxBackend skips (or fails under CI) when `run --backend linux`
// cannot start a trivial command.
func requireLinuxBackend(t *testing.T) {
	t.Helper()
	testutil.RequireLinux(t)
	r := hooksupd(t, "", "run", "--backend", "linux", "--", "true")
	if r.code != 0 {
		testutil.SkipOrFail(t, "the linux backend is not available (exit %d): %s", r.code, r.stderr)
	}
}

func TestRunExitStatusPassthrough(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		for _, code := range []int{0, 1, 7, 42} {
			r := hooksupd(t, "", "run", "--backend", b, "--", "sh", "-c", "exit "+strconv.Itoa(code))
			if r.code != code {
				t.Errorf("exit %d: got %d", code, r.code)
			}
		}
		// Stdout and stderr are passed through.
		r := hooksupd(t, "hello-in", "run", "--backend", b, "--", "sh", "-c", "cat; echo to-err >&2")
		if r.stdout != "hello-in" || !strings.Contains(r.stderr, "to-err") {
			t.Errorf("stdio not passed through: stdout %q stderr %q", r.stdout, r.stderr)
		}
	})
}

func TestRunKilledBySignal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		// CMD's death signal is hooksupd's own (GNU timeout re-raises it):
		// the shell sees 128+N.
		r := runHS(t, nil, "", "run", "--backend", b, "--", "sh", "-c", "kill -USR1 $$")
		if want := 128 + int(syscall.SIGUSR1); r.code != want || r.signal != syscall.SIGUSR1 {
			t.Fatalf("got status %d (signal %v), want death by USR1 (%d)", r.code, r.signal, want)
		}
	})
}

func TestRunNotFoundAndNotExecutable(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badInterp := writeExec(t, dir, "badinterp", "#!/nonexistent/interpreter\n")
	cases := []struct {
		name string
		argv []string
		want int
	}{
		{"missing in PATH", []string{"hooksupd-no-such-command"}, 127},
		{"missing path", []string{filepath.Join(dir, "nope")}, 127},
		{"not executable", []string{plain}, 126},
		{"directory", []string{dir}, 126},
		{"missing interpreter", []string{badInterp}, 127},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hooksupd(t, "", append([]string{"run", "--backend", "portable", "--"}, c.argv...)...)
			if r.code != c.want {
				t.Fatalf("got exit %d, want %d", r.code, c.want)
			}
			if !strings.HasPrefix(r.stderr, "hooksupd: run: ") {
				t.Errorf("stderr does not name the program: %q", r.stderr)
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"run", "--bogus", "--", "true"},
		{"run", "--memory-max", "12Q", "--", "true"},
		{"run", "--cpu-max", "-5%", "--", "true"},
		{"run", "--cpu-max", "20", "--", "true"},
		{"run", "-p", "NoSuchProperty=1", "--", "true"},
		{"run", "-p", "MemoryMax", "--", "true"},
		{"run", "-k", "soon", "--", "true"},
		{"run", "-s", "NOSIG", "--", "true"},
		{"run", "--timeout", "soon", "--", "true"},
		{"run", "--env", "NOEQUALS", "--", "true"},
		{"run", "--backend", "magic", "--", "true"},
	} {
		r := hooksupd(t, "", args...)
		if r.code != 125 {
			t.Errorf("%v: got exit %d, want 125", args, r.code)
		}
		if !strings.Contains(r.stderr, "hooksupd") {
			t.Errorf("%v: stderr does not name the program: %q", args, r.stderr)
		}
	}
	r := hooksupd(t, "", "run", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: hooksupd run") || !strings.Contains(r.stdout, "--memory-max") {
		t.Errorf("run --help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestRunTimeoutKillsTree: the timeout kills the whole tree, including a
// background grandchild, and exits 124 (as GNU timeout).
func TestRunTimeoutKillsTree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		pidfile := filepath.Join(t.TempDir(), "pids")
		report := filepath.Join(t.TempDir(), "report.json")
		r := hooksupd(t, "", "run", "--backend", b, "--timeout", "700ms", "--report", report, "--",
			"sh", "-c", `sleep 60 & `+hostPid+`; `+hostKid+`; echo $me $kid > `+pidfile+`; sleep 60`)
		if r.code != 124 {
			t.Fatalf("got exit %d, want 124", r.code)
		}
		if r.elapsed > 700*time.Millisecond+2*time.Second+3*time.Second {
			t.Errorf("took %v for a 700ms timeout with a 2s grace", r.elapsed)
		}
		pids := readPids(t, pidfile, 2, time.Second)
		waitGone(t, 2*time.Second, pids...)
		rep := readReport(t, report)
		if rep["timed_out"] != true || rep["exit_code"] != float64(124) {
			t.Errorf("report: %v", rep)
		}
	})
}

// TestRunReapsLeftoversAfterExit: when CMD exits normally, what it left
// running in the background is killed too.
func TestRunReapsLeftoversAfterExit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		pidfile := filepath.Join(t.TempDir(), "pids")
		r := hooksupd(t, "", "run", "--backend", b, "--",
			"sh", "-c", `sleep 60 >/dev/null 2>&1 & `+hostPid+`; `+hostKid+`; echo $kid > `+pidfile+`; exit 3`)
		if r.code != 3 {
			t.Fatalf("got exit %d, want 3", r.code)
		}
		waitGone(t, 2*time.Second, readPids(t, pidfile, 1, time.Second)...)
	})
}

func TestRunReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		report := filepath.Join(t.TempDir(), "report.json")
		// Burn a little CPU so cpu_usec is non-zero.
		r := hooksupd(t, "", "run", "--backend", b, "--report", report, "--",
			"sh", "-c", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 5`)
		if r.code != 5 {
			t.Fatalf("got exit %d, want 5", r.code)
		}
		rep := readReport(t, report)
		for _, k := range []string{"exit_code", "child_exit_code", "signal", "timed_out", "oom_killed",
			"cpu_usec", "memory_peak_bytes", "wall_ms", "backend", "cgroup_mode", "mechanism"} {
			if _, ok := rep[k]; !ok {
				t.Errorf("report lacks %q: %v", k, rep)
			}
		}
		if rep["exit_code"] != float64(5) || rep["child_exit_code"] != float64(5) || rep["timed_out"] != false ||
			rep["oom_killed"] != false || rep["signal"] != float64(0) || rep["backend"] != b {
			t.Errorf("report values: %v", rep)
		}
		if cpu, _ := rep["cpu_usec"].(float64); cpu <= 0 {
			t.Errorf("cpu_usec %v: want > 0 after a busy loop", rep["cpu_usec"])
		}
		if wall, _ := rep["wall_ms"].(float64); wall < 0 || wall > 30000 {
			t.Errorf("wall_ms %v", rep["wall_ms"])
		}
		mech, _ := rep["mechanism"].(map[string]any)
		if mech["attach"] == nil || mech["kill"] == "" || mech["kill"] == nil {
			t.Errorf("mechanism: %v", rep["mechanism"])
		}
	})
}

// TestRunSignalStopsTree: SIGTERM, SIGINT or SIGHUP to hooksupd run is
// relayed to the tree, and after the grace a tree that ignores it is
// killed; CMD then died of SIGKILL, and so does hooksupd (137).
func TestRunSignalStopsTree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
			t.Run(sig.String(), func(t *testing.T) {
				pidfile := filepath.Join(t.TempDir(), "pids")
				report := filepath.Join(t.TempDir(), "report.json")
				// The tree ignores the signals (ignored dispositions are
				// inherited), so only the kill after the grace ends it.
				cmd, _, stderr := startHooksupd(t, "", "run", "--backend", b, "--grace", "500ms", "--report", report, "--",
					"sh", "-c", `trap "" TERM INT HUP; sleep 60 & `+hostPid+`; `+hostKid+`; echo $me $kid > `+pidfile+`; wait`)
				pids := readPids(t, pidfile, 2, 5*time.Second)
				start := time.Now()
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				code := waitStatus(t, cmd, 15*time.Second)
				took := time.Since(start)
				if code != 137 {
					t.Fatalf("got status %d, want 137; stderr %s", code, stderr)
				}
				if took < 400*time.Millisecond {
					t.Errorf("exited after %v: the 500ms grace was not given", took)
				}
				waitGone(t, 2*time.Second, pids...)
				if rep := readReport(t, report); rep["killed_after_grace"] != true || rep["exit_code"] != float64(137) {
					t.Errorf("report: %v", rep)
				}
			})
		}
	})
}

// TestRunEnvExact: with --inherit-env=false the child's environment is
// PATH plus what --env and --pass-env name, nothing else.
func TestRunEnvExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		r := hooksupdEnv(t, []string{"HOOKSUPD_TEST_PASSED=yes", "HOOKSUPD_TEST_SECRET=no"}, "",
			"run", "--backend", b, "--inherit-env=false", "--env", "A=1", "-E", "B=x=y", "--pass-env", "HOOKSUPD_TEST_PASSED",
			"--pass-env", "HOOKSUPD_TEST_UNSET", "--", "env")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		slices.Sort(got)
		want := []string{"A=1", "B=x=y", "HOOKSUPD_TEST_PASSED=yes", "PATH=" + os.Getenv("PATH")}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("env:\n got %q\nwant %q", got, want)
		}
		r = hooksupd(t, "", "run", "--backend", b, "--inherit-env=false", "--setenv", "A=1", "--", "env")
		got = strings.Split(strings.TrimSpace(r.stdout), "\n")
		slices.Sort(got)
		if want := []string{"A=1", "PATH=" + os.Getenv("PATH")}; !slices.Equal(got, want) {
			t.Errorf("run --inherit-env=false --setenv A=1 -- env: got %q, want %q", got, want)
		}
	})
}

// TestRunEnvInherited: by default CMD gets the caller's environment, as
// under timeout(1), with -E and Environment= on top.
func TestRunEnvInherited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		r := hooksupdEnv(t, []string{"HOOKSUPD_TEST_PASSED=yes", "HOOKSUPD_TEST_OVER=old"}, "",
			"run", "--backend", b, "-E", "HOOKSUPD_TEST_OVER=new", "-p", `Environment=C=1 "D=two words"`, "--", "env")
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		for _, want := range []string{"HOOKSUPD_TEST_PASSED=yes", "HOOKSUPD_TEST_OVER=new", "C=1", "D=two words", "PATH=" + os.Getenv("PATH")} {
			if !slices.Contains(got, want) {
				t.Errorf("env lacks %q: %q", want, got)
			}
		}
		if slices.Contains(got, "HOOKSUPD_TEST_OVER=old") {
			t.Errorf("-E did not replace the inherited value: %q", got)
		}
	})
}

// TestRunWorkingDirectory: CMD runs in the caller's directory, as under
// timeout(1), and relative command paths resolve from there.
func TestRunWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	writeExec(t, dir, "here.sh", "#!/bin/sh\npwd\n")
	cmd := exec.Command(binPath, "run", "--backend", "portable", "--", "./here.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), raceEnv)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run ./here.sh: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != dir {
		t.Errorf("pwd: got %q, want %q", got, dir)
	}
}

// TestRunPortableLimitsRefused: limits the backend cannot enforce are an
// error (125) naming the backend, unless --allow-uncapped.
func TestRunPortableLimitsRefused(t *testing.T) {
	for _, flag := range [][]string{{"--memory-max", "64M"}, {"--cpu-max", "20%"}, {"--pids-max", "10"}} {
		args := append(append([]string{"run", "--backend", "portable"}, flag...), "--", "true")
		r := hooksupd(t, "", args...)
		if r.code != 125 {
			t.Errorf("%v: got exit %d, want 125", flag, r.code)
		}
		if !strings.Contains(r.stderr, "portable") {
			t.Errorf("%v: stderr does not name the backend: %q", flag, r.stderr)
		}
	}
	r := hooksupd(t, "", "run", "--backend", "portable", "--memory-max", "64M", "--allow-uncapped", "--", "true")
	if r.code != 0 {
		t.Errorf("--allow-uncapped: got exit %d, want 0", r.code)
	}
}

// TestRunConcurrentRuns: two runs started from the same cgroup do not
// tear each other down (a new run must not treat a live one's groups as
// stale leftovers).
func TestRunConcurrentRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		pidfile := filepath.Join(t.TempDir(), "pid")
		first, _, _ := startHooksupd(t, "", "run", "--backend", b, "--", "sh", "-c", hostPid+`; echo $me > `+pidfile+`; sleep 3; exit 9`)
		pid := readPids(t, pidfile, 1, 5*time.Second)[0]
		if r := hooksupd(t, "", "run", "--backend", b, "--", "true"); r.code != 0 {
			t.Fatalf("second run: exit %d", r.code)
		}
		if !alive(pid) {
			t.Fatalf("the second run killed the first run's command")
		}
		if code := waitExit(t, first, 15*time.Second); code != 9 {
			t.Fatalf("first run: exit %d, want 9", code)
		}
	})
}

// TestRunMemoryLimitOOM: a 200 MiB allocation under --memory-max 64M is
// killed by the limit and reported as OOM (root, Linux backend).
func TestRunMemoryLimitOOM(t *testing.T) {
	testutil.RequireRoot(t)
	requireLinuxBackend(t)
	report := filepath.Join(t.TempDir(), "report.json")
	// tail keeps the last 10 lines; /dev/zero has no newline, so it holds
	// the whole 200 MiB "line" in memory.
	r := hooksupd(t, "", "run", "--backend", "linux", "--memory-max", "64M", "--report", report, "--",
		"sh", "-c", "head -c 200M /dev/zero | tail")
	rep := readReport(t, report)
	if rep["oom_killed"] != true {
		t.Fatalf("oom_killed not reported: exit %d, report %v", r.code, rep)
	}
	if r.code == 0 {
		t.Errorf("exit 0 after an OOM kill")
	}
	if peak, _ := rep["memory_peak_bytes"].(float64); peak > 80<<20 {
		t.Errorf("memory_peak_bytes %v exceeds the 64M limit", peak)
	}
	// The same command without the limit completes: the OOM came from it.
	if r := hooksupd(t, "", "run", "--backend", "linux", "--report", report, "--",
		"sh", "-c", "head -c 200M /dev/zero | tail | wc -c"); r.code != 0 || strings.TrimSpace(r.stdout) != "209715200" {
		t.Errorf("uncapped: exit %d, stdout %q", r.code, r.stdout)
	}
	if rep := readReport(t, report); rep["memory_peak_bytes"] != nil {
		if peak, _ := rep["memory_peak_bytes"].(float64); peak != 0 && peak < 150<<20 {
			t.Errorf("uncapped memory_peak_bytes %v: the allocator did not allocate 200 MiB", peak)
		}
	}
}

func readReport(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("report %s: %v", data, err)
	}
	return m
}

// TestRunOnlyStdioInherited: CMD gets fds 0, 1 and 2 and nothing else,
// even when hooksupd itself was started with more open.
func TestRunOnlyStdioInherited(t *testing.T) {
	testutil.RequireLinux(t)
	extra, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	forEachBackend(t, func(t *testing.T, b string) {
		cmd := exec.Command(binPath, "run", "--backend", b, "--", "sh", "-c", hostPid+"; ls /proc/$me/fd")
		cmd.Env = append(os.Environ(), raceEnv)
		cmd.ExtraFiles = []*os.File{extra} // fd 3 in hooksupd
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, []string{"0", "1", "2"}) {
			t.Errorf("CMD's open fds: %v, want [0 1 2]", got)
		}
	})
}

// TestParseRunValues covers the property and flag parsing in process.
func TestParseRunValues(t *testing.T) {
	for _, c := range []struct {
		prop, value string
		check       func(o *runOptions) bool
	}{
		{"CPUQuota", "20%", func(o *runOptions) bool {
			return o.limits.CPUQuota == 20*time.Millisecond && o.limits.CPUPeriod == cpuPeriod
		}},
		{"CPUQuota", "150%", func(o *runOptions) bool { return o.limits.CPUQuota == 150*time.Millisecond }},
		{"MemoryMax", "64M", func(o *runOptions) bool { return o.limits.MemoryMax == 64<<20 }},
		{"MemoryMax", "infinity", func(o *runOptions) bool { return o.limits.MemoryMax == 0 }},
		{"MemoryMax", "50%", func(o *runOptions) bool { return o.limits.MemoryMax > 0 && uint64(o.limits.MemoryMax) == totalRAM()/2 }},
		{"TasksMax", "16", func(o *runOptions) bool { return o.limits.PidsMax == 16 }},
		{"TasksMax", "infinity", func(o *runOptions) bool { return o.limits.PidsMax == 0 }},
		{"LimitNOFILE", "64", func(o *runOptions) bool { return o.limits.NoFile == 64 }},
		{"OOMPolicy", "kill", func(o *runOptions) bool { return o.oomPolicy == "kill" }},
		{"Nice", "5", func(o *runOptions) bool { return o.niceSet && o.nice == 5 }},
		{"WorkingDirectory", "/tmp", func(o *runOptions) bool { return o.dir == "/tmp" }},
		{"RuntimeMaxSec", "1m", func(o *runOptions) bool { return o.timeout == time.Minute }},
		{"Environment", `A=1 "B=x y" C='z\'`, func(o *runOptions) bool { return slices.Equal(o.env, []string{"A=1", "B=x y", `C=z\`}) }},
		{"MemorySwapMax", "0", func(o *runOptions) bool { return len(o.unenforceable) == 0 }},
		{"MemorySwapMax", "1G", func(o *runOptions) bool { return len(o.unenforceable) == 1 }},
		{"MemoryHigh", "1G", func(o *runOptions) bool { return o.limits.MemoryHigh == 1<<30 }},
		{"CPUWeight", "50", func(o *runOptions) bool { return o.limits.CPUWeight == 50 }},
		{"AllowedCPUs", "0", func(o *runOptions) bool {
			return len(o.unenforceable) == 1 && strings.Contains(o.unenforceable[0], "AllowedCPUs")
		}},
	} {
		o := &runOptions{}
		if err := applyProperty(o, c.prop, c.value); err != nil || !c.check(o) {
			t.Errorf("%s=%s: %v, options %+v", c.prop, c.value, err, o)
		}
	}
	for _, c := range [][2]string{{"CPUQuota", "20"}, {"CPUQuota", "0.5"}, {"MemoryMax", "0"}, {"MemoryMax", "12Q"},
		{"TasksMax", "0"}, {"OOMPolicy", "maybe"}, {"Nice", "20"}, {"Nice", "x"}, {"Environment", "NOEQUALS"},
		{"Environment", `"A=1`}, {"LimitNOFILE", "0"}, {"CPUWeight", "0"}, {"CPUWeight", "10001"}, {"MemoryHigh", "1Q"}, {"RuntimeMaxSec", "soon"}, {"Bogus", "1"}} {
		if err := applyProperty(&runOptions{}, c[0], c[1]); err == nil {
			t.Errorf("%s=%s: no error", c[0], c[1])
		}
	}
	o := runOptions{}
	fs, _ := runFlags(&o)
	for in, want := range map[string]string{
		"-k5 -- x":              "-k 5 -- x",
		"-vk 5 -s KILL x y":     "-v -k 5 -s KILL x y",
		"-vpMemoryMax=1G x":     "-v -p MemoryMax=1G x",
		"--kill-after=5 -v x":   "--kill-after=5 -v x",
		"--timeout 5 -v x -k1":  "--timeout 5 -v x -k1",
		"-timeout 5 x":          "-timeout 5 x",
		"-D /tmp -E A=1 -- -k1": "-D /tmp -E A=1 -- -k1",
		"--inherit-env=false x": "--inherit-env=false x",
	} {
		if got := strings.Join(expandShortFlags(fs.FlagSet, strings.Fields(in)), " "); got != want {
			t.Errorf("expandShortFlags(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"sleep": "sleep", "my prog": "my_prog", "..": "cmd", "": "cmd", ".hidden": "hidden"} {
		if got := groupName(in); got != want {
			t.Errorf("groupName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{512: "512B", 1024: "1K", 64 << 20: "64M", 61<<20 + 205<<10: "61.2M", 3 << 30: "3G"} {
		if got := formatRunBytes(in); got != want {
			t.Errorf("formatRunBytes(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{1460 * time.Millisecond: "1.46s", 12 * time.Millisecond: "12ms",
		123 * time.Second: "2min 3s", 5 * time.Microsecond: "5us"} {
		if got := formatSpan(in); got != want {
			t.Errorf("formatSpan(%v) = %q, want %q", in, got, want)
		}
	}
}

// hostKid is sh that sets $kid to the host pid of the shell's only child
// (after hostPid).
const hostKid = `read -r kid </proc/$me/task/$me/children`
