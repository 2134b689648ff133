// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// cgroupFileScript prints the content of CMD's own cgroup file NAME (the
// first argument) in the hierarchy that has it: the v1 controller's
// (memory.limit_in_bytes in the memory hierarchy) or the v2 group's.
const cgroupFileScript = `f=$1
while IFS=: read -r _ ctl path; do
  if [ -z "$ctl" ]; then dirs="/sys/fs/cgroup/unified$path /sys/fs/cgroup$path"; else dirs="/sys/fs/cgroup/$ctl$path"; fi
  for d in $dirs; do
    if [ -e "$d/$f" ]; then cat "$d/$f"; exit 0; fi
  done
done < /proc/self/cgroup
echo "no $f" >&2; exit 1`

// cgroupV2 reports whether the host is cgroup v2 only.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// TestRunPropertiesReachTheGroup: each -p property ends up in the file the
// kernel enforces it with, in CMD's own group.
func TestRunPropertiesReachTheGroup(t *testing.T) {
	testutil.RequireRoot(t)
	requireLinuxBackend(t)
	v2 := cgroupV2()
	pick := func(v1, v2name string) string {
		if v2 {
			return v2name
		}
		return v1
	}
	ram := totalRAM()
	cases := []struct {
		args []string
		file string
		want string
	}{
		{[]string{"-p", "MemoryMax=64M"}, pick("memory.limit_in_bytes", "memory.max"), "67108864"},
		{[]string{"--memory-max", "96M"}, pick("memory.limit_in_bytes", "memory.max"), "100663296"},
		{[]string{"-p", "MemoryMax=1%"}, pick("memory.limit_in_bytes", "memory.max"), strconv.FormatUint(ram/100/4096*4096, 10)},
		{[]string{"-p", "TasksMax=7"}, "pids.max", "7"},
		{[]string{"--pids-max", "9"}, "pids.max", "9"},
		{[]string{"-p", "CPUQuota=150%"}, pick("cpu.cfs_quota_us", "cpu.max"), pick("150000", "150000 100000")},
		{[]string{"--cpu-max", "20%"}, pick("cpu.cfs_quota_us", "cpu.max"), pick("20000", "20000 100000")},
		{[]string{"-p", "CPUWeight=50"}, pick("cpu.shares", "cpu.weight"), pick("512", "50")},
		{[]string{"--cpu-weight", "200"}, pick("cpu.shares", "cpu.weight"), pick("2048", "200")},
		// A later setting wins, whichever spelling.
		{[]string{"--pids-max", "9", "-p", "TasksMax=11"}, "pids.max", "11"},
	}
	if v2 {
		cases = append(cases, struct {
			args []string
			file string
			want string
		}{[]string{"-p", "MemoryHigh=48M"}, "memory.high", "50331648"})
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			args := append(append([]string{"run", "--backend", "linux"}, c.args...), "--", "sh", "-c", cgroupFileScript, "sh", c.file)
			r := runHS(t, nil, "", args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
				t.Errorf("%s: status %d, %q; want %q", c.file, r.code, strings.TrimSpace(r.stdout), c.want)
			}
		})
	}
}

// TestRunProcessProperties: LimitNOFILE, Nice, WorkingDirectory and -D
// reach CMD.
func TestRunProcessProperties(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		dir := t.TempDir()
		for _, c := range []struct {
			args []string
			sh   string
			want string
		}{
			{[]string{"-p", "LimitNOFILE=64"}, "ulimit -n", "64"},
			{[]string{"--nofile", "70"}, "ulimit -n", "70"},
			{[]string{"-p", "Nice=7"}, "cut -d' ' -f19 /proc/self/stat", "7"},
			{[]string{"--nice", "3"}, "cut -d' ' -f19 /proc/self/stat", "3"},
			{[]string{"-D", dir}, "pwd", dir},
			{[]string{"--working-directory", dir}, "pwd", dir},
			{[]string{"-p", "WorkingDirectory=" + dir}, "pwd", dir},
		} {
			args := append(append([]string{"run", "--backend", b}, c.args...), "--", "sh", "-c", c.sh)
			r := runHS(t, nil, "", args...)
			if b == "portable" && c.sh == "ulimit -n" {
				// os/exec cannot set a child's rlimit: refused, as a cap.
				if r.code != 125 || !strings.Contains(r.stderr, "nofile") {
					t.Errorf("%v on portable: status %d, stderr %q; want 125", c.args, r.code, r.stderr)
				}
				continue
			}
			if r.code != 0 || strings.TrimSpace(r.stdout) != c.want {
				t.Errorf("%v: status %d, %q; want %q", c.args, r.code, strings.TrimSpace(r.stdout), c.want)
			}
		}
		if r := runHS(t, nil, "", "run", "--backend", b, "-D", filepath.Join(dir, "nope"), "--", "true"); r.code != 125 {
			t.Errorf("-D to a missing directory: status %d, want 125", r.code)
		}
	})
}

// TestRunUnenforceableProperties: a property this build or host cannot
// enforce is an error naming it, unless --allow-uncapped, which runs and
// says what it runs without.
func TestRunUnenforceableProperties(t *testing.T) {
	props := []string{"AllowedCPUs=0", "IOWeight=10", "IOReadBandwidthMax=/dev/sda 1M", "IOWriteBandwidthMax=/dev/sda 1M",
		"MemorySwapMax=1G", "MemoryHigh=1G"}
	if cgroupV2() {
		props = props[:len(props)-1] // MemoryHigh is enforced there
	}
	for _, prop := range props {
		name, _, _ := strings.Cut(prop, "=")
		r := runHS(t, nil, "", "run", "-p", prop, "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, name) {
			t.Errorf("-p %s: status %d, stderr %q; want 125 naming %s", prop, r.code, r.stderr, name)
		}
		r = runHS(t, nil, "", "run", "--allow-uncapped", "-p", prop, "--", "true")
		if r.code != 0 || !strings.Contains(r.stderr, name) {
			t.Errorf("--allow-uncapped -p %s: status %d, stderr %q; want 0 and a warning naming %s", prop, r.code, r.stderr, name)
		}
	}
}

// TestRunReportIsTheGroups: the report's figures are the group's: two
// 30 MiB children at once count 60 MiB, a detached grandchild's CPU time
// counts, and the task peak is there (where the kernel has pids.peak).
func TestRunReportIsTheGroups(t *testing.T) {
	testutil.RequireRoot(t)
	requireLinuxBackend(t)
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	flag := filepath.Join(dir, "burnt")
	// Two shells each hold 30 MiB in a variable until both do.
	script := `hold() { x=$(head -c 31457280 /dev/zero | tr '\0' x); : > ` + dir + `/held$1; while [ ! -e ` + dir + `/go ]; do sleep 0.05; done; }
hold 1 & hold 2 &
while [ ! -e ` + dir + `/held1 ] || [ ! -e ` + dir + `/held2 ]; do sleep 0.05; done
: > ` + dir + `/go; wait
setsid sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; : > ` + flag + `' </dev/null >/dev/null 2>&1 &
while [ ! -e ` + flag + ` ]; do sleep 0.05; done`
	r := runHS(t, nil, "", "run", "--backend", "linux", "-v", "--report", report, "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("status %d", r.code)
	}
	rep := readReport(t, report)
	// Both counted at once (rusage, which the report used to give, takes
	// the largest waited-for child: about 30 MiB).
	if peak, _ := rep["memory_peak_bytes"].(float64); peak < 60<<20 {
		t.Errorf("memory_peak_bytes %v: want >= 60 MiB for two children holding 30 MiB at once", rep["memory_peak_bytes"])
	}
	if cpu, _ := rep["cpu_usec"].(float64); cpu < 50000 {
		t.Errorf("cpu_usec %v: want the grandchild's busy loop (>= 50ms)", rep["cpu_usec"])
	}
	if hasPidsPeak() {
		if n, _ := rep["pids_peak"].(float64); n < 3 {
			t.Errorf("pids_peak %v: want >= 3", rep["pids_peak"])
		}
		if !strings.Contains(r.stderr, "Tasks peak: ") {
			t.Errorf("-v summary lacks the task peak: %q", r.stderr)
		}
	} else if rep["pids_peak"] != nil {
		t.Errorf("pids_peak %v without pids.peak in the kernel", rep["pids_peak"])
	}
	for _, want := range []string{"Finished with result: success", "Memory peak: ", "CPU time consumed: "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v summary lacks %q: %q", want, r.stderr)
		}
	}
	if rep["result"] != "success" || rep["killed_after_grace"] != false {
		t.Errorf("report: %v", rep)
	}

	// A busy loop under CPUQuota=10% is throttled, and the report says so.
	r = runHS(t, nil, "", "run", "--backend", "linux", "--report", report, "-p", "CPUQuota=10%", "--",
		"sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	rep = readReport(t, report)
	if n, _ := rep["cpu_throttled_periods"].(float64); r.code != 0 || n < 1 || rep["cpu_throttled_usec"].(float64) <= 0 {
		t.Errorf("status %d, throttled %v periods, %v usec", r.code, rep["cpu_throttled_periods"], rep["cpu_throttled_usec"])
	}
}

// hasPidsPeak reports whether the kernel has pids.peak in the pids
// hierarchy hooksupd's groups use.
func hasPidsPeak() bool {
	for _, p := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		d, err := os.MkdirTemp(p, "hooksupd-probe-")
		if err != nil {
			continue
		}
		_, serr := os.Stat(filepath.Join(d, "pids.peak"))
		os.Remove(d)
		return serr == nil
	}
	return false
}

// TestRunReportEveryExit: --report is written for 125, 126 and 127 too.
func TestRunReportEveryExit(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.json")
	for _, c := range []struct {
		args   []string
		want   int
		result string
	}{
		{[]string{"-p", "CPUQuota=20", "--", "true"}, 125, "resources"},
		{[]string{"--backend", "portable", "--memory-max", "64M", "--", "true"}, 125, "resources"},
		{[]string{"--", "."}, 126, "exit-code"},
		{[]string{"--", dir}, 126, "exit-code"},
		{[]string{"--", "hooksupd-no-such-command"}, 127, "exit-code"},
		{[]string{"--timeout", "0.2", "--", "sleep", "10"}, 124, "timeout"},
		{[]string{"--", "sh", "-c", "exit 3"}, 3, "exit-code"},
	} {
		os.Remove(report)
		r := runHS(t, nil, "", append([]string{"run", "--report", report}, c.args...)...)
		rep := readReport(t, report)
		if r.code != c.want || rep["exit_code"] != float64(c.want) || rep["result"] != c.result {
			t.Errorf("%v: status %d, report %v; want %d, result %s", c.args, r.code, rep, c.want, c.result)
		}
		if c.want >= 125 && rep["error"] == nil {
			t.Errorf("%v: the report has no error: %v", c.args, rep)
		}
	}
}

// TestRunOOMPolicy: by default (stop) one OOM kill ends the run with 137;
// OOMPolicy=continue lets the rest go on and returns CMD's status.
func TestRunOOMPolicy(t *testing.T) {
	testutil.RequireRoot(t)
	requireLinuxBackend(t)
	report := filepath.Join(t.TempDir(), "report.json")
	// The victim is tail; the shell then waits, which the stop ends.
	script := `head -c 200M /dev/zero | tail; echo survived; sleep 30; echo slept`
	for _, c := range []struct {
		policy []string
		want   int
		out    string
		result string
	}{
		{nil, 137, "", "oom-kill"},
		{[]string{"-p", "OOMPolicy=stop"}, 137, "", "oom-kill"},
		{[]string{"-p", "OOMPolicy=kill"}, 137, "", "oom-kill"},
		{[]string{"-p", "OOMPolicy=continue", "--timeout", "6"}, 124, "survived\n", "timeout"},
	} {
		start := time.Now()
		args := append(append([]string{"run", "--backend", "linux", "--report", report, "-p", "MemoryMax=64M"}, c.policy...), "--", "sh", "-c", script)
		r := runHS(t, nil, "", args...)
		rep := readReport(t, report)
		if r.code != c.want || rep["oom_killed"] != true || rep["result"] != c.result {
			t.Errorf("%v: status %d, report %v; want %d, oom_killed, result %s", c.policy, r.code, rep, c.want, c.result)
		}
		if c.out != "" && !strings.Contains(r.stdout, c.out) || strings.Contains(r.stdout, "slept") {
			t.Errorf("%v: stdout %q", c.policy, r.stdout)
		}
		if c.out == "" && time.Since(start) > 20*time.Second {
			t.Errorf("%v: the run went on after the OOM kill", c.policy)
		}
	}
}

// TestRunQuietByDefault: nothing from hooksupd on stderr at the default
// level, even right after a killed instance left groups behind (whose
// removal the cgroup package notes through slog's default logger), and
// for an unprivileged user without cgroups when no limit is asked for.
func TestRunQuietByDefault(t *testing.T) {
	testutil.RequireRoot(t)
	requireLinuxBackend(t)
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd, _, _ := startHooksupd(t, "", "run", "--backend", "linux", "--", "sh", "-c", hostPid+"; echo $me > "+pidfile+"; sleep 60")
	pids := readPids(t, pidfile, 1, 10*time.Second)
	_ = cmd.Process.Kill() // no cleanup: its groups stay behind
	_ = cmd.Wait()
	waitGone(t, 5*time.Second, pids...)
	if r := runHS(t, nil, "", "run", "--backend", "linux", "--", "true"); r.code != 0 || r.stderr != "" {
		t.Errorf("after a killed instance: status %d, stderr %q", r.code, r.stderr)
	}

	// An unprivileged user: the run works, silently; a limit is refused
	// with what is missing.
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
	// The test binary's directory is private: a copy nobody may run.
	dir, err := os.MkdirTemp("", "hooksupd-run-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hooksupd")
	data, err := os.ReadFile(binPath)
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want int
		err  string
	}{
		{[]string{"--", "true"}, 0, ""},
		{[]string{"-p", "MemoryMax=64M", "--", "true"}, 125, "MemoryMax="},
	} {
		hs := exec.Command(bin, append([]string{"run"}, c.args...)...)
		hs.Env = append(os.Environ(), raceEnv)
		hs.Dir = "/"
		hs.SysProcAttr = nobody
		var errb strings.Builder
		hs.Stderr = &errb
		err := hs.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.want || (c.err == "") != (errb.String() == "") || !strings.Contains(errb.String(), c.err) {
			t.Errorf("as nobody, run %v: status %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.want, c.err)
		}
		if c.err != "" && !strings.Contains(errb.String(), "delegated") {
			t.Errorf("as nobody, the refusal does not say what is missing: %q", errb.String())
		}
	}
}
