// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestReleaseStatsWholeTree: the final figures are the group's, covering
// processes the direct child left behind: a detached grandchild that burns
// CPU after the direct child exited, two children holding 30 MiB each at
// once, and the task peak.
func TestReleaseStatsWholeTree(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	dir := t.TempDir()
	flag := filepath.Join(dir, "done")
	// Two children each hold 30 MiB in a shell variable until both do; a
	// detached grandchild then burns CPU until it has written flag.
	script := `
hold() { x=$(head -c 31457280 /dev/zero | tr '\0' x); : > ` + dir + `/held$1; while [ ! -e ` + dir + `/go ]; do sleep 0.05; done; }
hold 1 & hold 2 &
while [ ! -e ` + dir + `/held1 ] || [ ! -e ` + dir + `/held2 ]; do sleep 0.05; done
: > ` + dir + `/go; wait
setsid sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; : > ` + flag + `; sleep 60' </dev/null >/dev/null 2>&1 &
exit 0`
	spec := lxSh(script)
	ctxP := lxStart(t, b, spec)
	if st := lxWait(t, ctxP, 30*time.Second); st.Code != 0 {
		t.Fatalf("exit %v", st)
	}
	lxEventually(t, 60*time.Second, "the grandchild's busy loop", func() bool {
		_, err := os.Stat(flag)
		return err == nil
	})
	st, err := ReleaseStats(ctxP)
	if err != nil {
		t.Fatal(err)
	}
	rus, _ := ctxP.Wait(t.Context())
	t.Logf("group: cpu %v peak %d pids_peak %d; rusage: cpu %v peak %d", st.CPU, st.MemoryPeak, st.PidsPeak, rus.CPU, rus.MemoryPeak)
	if st.CPU <= rus.CPU || st.CPU < 50*time.Millisecond {
		t.Errorf("CPU %v: want the grandchild's busy loop (>= 50ms) above the direct child's rusage %v", st.CPU, rus.CPU)
	}
	if st.MemoryPeak < 60<<20 {
		t.Errorf("MemoryPeak %d: want >= 60 MiB for two children holding 30 MiB at once", st.MemoryPeak)
	}
	if hasPidsPeak(t) && st.PidsPeak < 3 {
		t.Errorf("PidsPeak %d: want >= 3", st.PidsPeak)
	}
}

// hasPidsPeak reports whether the kernel has pids.peak (Linux 6.1+ in
// the cgroups hooksupd creates).
func hasPidsPeak(t *testing.T) bool {
	for _, p := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		d, err := os.MkdirTemp(p, "hooksupd-probe-")
		if err != nil {
			continue
		}
		_, serr := os.Stat(filepath.Join(d, "pids.peak"))
		os.Remove(d)
		return serr == nil
	}
	t.Log("no pids hierarchy to probe pids.peak in")
	return false
}

// TestReleaseStatsThrottled: a tree over its CPU quota is reported as
// throttled.
func TestReleaseStatsThrottled(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	spec := lxSh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done") // ~30ms of CPU here, 10x that under emulation
	spec.Limits = Limits{CPUQuota: 10 * time.Millisecond}
	if err := b.CanEnforce(spec.Limits); err != nil {
		testutil.SkipOrFail(t, "cpu quota: %v", err)
	}
	p := lxStart(t, b, spec)
	lxWait(t, p, 60*time.Second)
	st, err := ReleaseStats(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.ThrottledPeriods == 0 || st.CPUThrottled <= 0 {
		t.Errorf("a busy loop under a 10%% quota: throttled %d periods, %v", st.ThrottledPeriods, st.CPUThrottled)
	}
}

// TestSignalTree: a signal reaches every process of the tree as itself.
func TestSignalTree(t *testing.T) {
	for _, kind := range []string{"linux", "portable"} {
		t.Run(kind, func(t *testing.T) {
			var b Backend
			if kind == "linux" {
				lb := lxNew(t, linuxConfig{})
				lxNeedCgroups(t, lb)
				b = lb
			} else {
				b = newPortable(t)
			}
			dir := t.TempDir()
			// The parent and a child each record the signal they get.
			spec := lxSh(`trap 'echo usr1 > ` + dir + `/$$; exit 0' USR1
sh -c 'trap "echo usr1 > ` + dir + `/\$\$; exit 0" USR1; echo $$ > ` + dir + `/child; while :; do sleep 0.05; done' &
echo $$ > ` + dir + `/parent
while :; do sleep 0.05; done`)
			p := lxStart(t, b, spec)
			var pids []string
			lxEventually(t, 10*time.Second, "both pids written", func() bool {
				a, _ := os.ReadFile(filepath.Join(dir, "parent"))
				c, _ := os.ReadFile(filepath.Join(dir, "child"))
				pids = []string{strings.TrimSpace(string(a)), strings.TrimSpace(string(c))}
				return pids[0] != "" && pids[1] != ""
			})
			if err := SignalTree(p, syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			for _, pid := range pids {
				lxEventually(t, 10*time.Second, "USR1 reached "+pid, func() bool {
					b, _ := os.ReadFile(filepath.Join(dir, pid))
					return strings.TrimSpace(string(b)) == "usr1"
				})
			}
			if st := lxWait(t, p, 10*time.Second); st.Code != 0 {
				t.Errorf("exit %v, want 0 from the USR1 trap", st)
			}
		})
	}
}
