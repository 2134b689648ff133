// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// orphanScript leaves a double-forked grandchild, a grandchild in its own
// session and a plain background child, then reports ready.
const orphanScript = `(sleep 60 &) ; setsid sh -c 'sleep 60 & sleep 60' & sleep 60 & echo ready; wait`

// lxOrphanHelper is the "orphans" helper: a supervisor that starts hooks
// leaving orphans (launcher or direct spawn, capped and uncapped), reports
// ready and waits for its SIGKILL.
func lxOrphanHelper() int {
	cfg := linuxConfig{subtree: os.Getenv(lxHelperEnv + "_SUBTREE"), direct: os.Getenv(lxHelperEnv+"_DIRECT") == "1"}
	b, err := newLinux(Options{}, cfg)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if !b.keeper.active.Load() {
		fmt.Println("error no keeper:", b.pidNSNote())
		return 1
	}
	mark := os.Getenv(lxHelperEnv + "_MARK")
	for i := range 5 {
		spec := &Spec{Pipes: PipeAll, Name: "orphans", Path: "/bin/sh", Args: []string{"-c", orphanScript},
			Env: []string{"PATH=/usr/bin:/bin", mark}}
		// A direct spawn cannot drop a uid 0 child's capabilities.
		spec.Sandbox.AllowUnsandboxed = cfg.direct
		// private_pids: a namespace of its own beside the keeper's, ended
		// by its init's Pdeathsig.
		spec.Sandbox.PrivatePIDs = i == 4 && !cfg.direct
		if i%2 == 1 && b.raceFree() {
			spec.Limits = Limits{PidsMax: 32}
		}
		p, err := b.Start(context.Background(), spec)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		p.Stdout().SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
		if err != nil || line != "ready\n" {
			fmt.Println("error", line, err)
			return 1
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}

// lxMarked lists the processes whose environment holds mark.
var lxMarked = testutil.PidsWithEnv

// TestLinuxSIGKILLLeavesNoOrphans: a supervisor SIGKILLed while its hooks
// have double-forked and setsid grandchildren leaves no process of those
// trees behind within 1 s, with launchers and with direct clones: the
// keeper's death makes the kernel kill the hook PID namespace (and a
// private_pids hook's own namespace dies with its init).
func TestLinuxSIGKILLLeavesNoOrphans(t *testing.T) {
	testutil.RequireRoot(t)
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			mark := fmt.Sprintf("HOOKSUPD_ORPHAN_MARK=%d-%d-%v", os.Getpid(), time.Now().UnixNano(), direct)
			sub := lxSubtree()
			self, _ := os.Executable()
			cmd := exec.Command(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), lxHelperEnv+"=orphans", lxHelperEnv+"_SUBTREE="+sub,
				lxHelperEnv+"_MARK="+mark)
			if direct {
				cmd.Env = append(cmd.Env, lxHelperEnv+"_DIRECT=1")
			}
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
				for _, pid := range lxMarked(mark) { // only on failure
					unix.Kill(pid, unix.SIGKILL)
				}
				// The next start removes the killed supervisor's groups.
				if b, err := newLinux(Options{}, linuxConfig{subtree: sub}); err == nil {
					b.Close()
				}
			})
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "ready" {
				if strings.Contains(line, "no keeper") {
					testutil.SkipOrFail(t, "%s", line)
				}
				t.Fatalf("helper: %q %v", line, err)
			}
			// 5 hooks, each: sh, a double-forked sleep, a setsid sh with its
			// sleep, a background sleep. "ready" is printed while the
			// background branches may still be forking (slow under
			// emulation), so wait for at least 4 hooks' worth.
			for wait := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				n := len(lxMarked(mark))
				if n >= 4*5 {
					break
				}
				if time.Now().After(wait) {
					t.Fatalf("%d marked processes before the kill, want >= 20", n)
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			deadline := time.Now().Add(time.Second)
			for {
				left := lxMarked(mark)
				if len(left) == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d hook processes outlived the supervisor by 1s: %v", len(left), left)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestLinuxKeeperKilled: a keeper killed from outside takes the
// namespace's hooks with it (the kernel's rule), is reported, and the next
// Start runs in a new namespace.
func TestLinuxKeeperKilled(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{})
	if !b.keeper.active.Load() {
		testutil.SkipOrFail(t, "%s", b.pidNSNote())
	}
	p := lxStart(t, b, lxSh("echo up; exec sleep 60"))
	lxReadLine(t, p.Stdout(), 5*time.Second)
	b.keeper.mu.Lock()
	kpid := b.keeper.pid
	b.keeper.mu.Unlock()
	if err := unix.Kill(kpid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := lxWait(t, p, 5*time.Second); st.Signal != unix.SIGKILL {
		t.Errorf("hook after its keeper was killed: %v, want SIGKILL", st)
	}
	lxEventually(t, 5*time.Second, "keeper death not noticed", b.keeper.dead.Load)
	q := lxStart(t, b, lxSh("echo again"))
	if got := lxReadLine(t, q.Stdout(), 5*time.Second); got != "again" {
		t.Errorf("after a new keeper: %q", got)
	}
	b.keeper.mu.Lock()
	npid := b.keeper.pid
	b.keeper.mu.Unlock()
	if npid == kpid || !b.keeper.active.Load() {
		t.Errorf("keeper %d -> %d, active %v: want a new one", kpid, npid, b.keeper.active.Load())
	}
}
