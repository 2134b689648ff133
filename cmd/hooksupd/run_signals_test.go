// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSupervisor starts `timeout ARGS...` or `hooksupd run ARGS...`
// through `sh -c 'trap "" IGN; exec "$@"'`, so that the signals in ign
// are ignored when the supervisor starts (as under nohup or in a
// background job); stdout is collected.
func startSupervisor(t *testing.T, env []string, ign string, name string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	script := `exec "$@"`
	if ign != "" {
		script = `trap "" ` + ign + `; exec "$@"`
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh", name}, args...)...)
	cmd.Env = append(append(os.Environ(), raceEnv), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A process left behind holding stdout or stderr (the bug a test is
	// looking for) must fail the test, not hang the package in Wait.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		checkRace(t, errb.String())
	})
	return cmd, &out, &errb
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunRelaysSignalsLikeGNU: a signal sent to the supervisor reaches
// CMD as itself, and the supervisor ends with CMD's own status: the same
// under GNU timeout and hooksupd run, for both backends.
func TestRunRelaysSignalsLikeGNU(t *testing.T) {
	gnu := gnuTimeout(t)
	cases := []struct {
		sig    syscall.Signal
		script string // CMD; touches $READY once its traps are set
		want   int
		out    string
	}{
		{syscall.SIGTERM, `trap "echo got-TERM; exit 7" TERM; : > $READY; while :; do sleep 0.05; done`, 7, "got-TERM\n"},
		{syscall.SIGINT, `trap "echo got-INT; exit 0" INT; : > $READY; while :; do sleep 0.05; done`, 0, "got-INT\n"},
		{syscall.SIGHUP, `trap "echo got-HUP; exit 3" HUP; : > $READY; while :; do sleep 0.05; done`, 3, "got-HUP\n"},
		{syscall.SIGQUIT, `trap "echo got-QUIT; exit 4" QUIT; : > $READY; while :; do sleep 0.05; done`, 4, "got-QUIT\n"},
		// CMD dies of the relayed signal: the supervisor dies of it too.
		{syscall.SIGTERM, `: > $READY; while :; do sleep 0.05; done`, 143, ""},
		{syscall.SIGHUP, `: > $READY; while :; do sleep 0.05; done`, 129, ""},
		{syscall.SIGQUIT, `: > $READY; exec sleep 60`, 131, ""},
		// SIGALRM is the timeout, now.
		{syscall.SIGALRM, `: > $READY; exec sleep 60`, 124, ""},
	}
	sups := []struct {
		name string
		argv func() []string
	}{
		{"gnu", func() []string { return []string{gnu, "30"} }},
		{"linux", func() []string { return []string{binPath, "run", "--backend", "linux", "--"} }},
		{"portable", func() []string { return []string{binPath, "run", "--backend", "portable", "--"} }},
	}
	for _, c := range cases {
		for _, s := range sups {
			t.Run(c.sig.String()+"/"+strings.Fields(c.script)[0]+"/"+s.name, func(t *testing.T) {
				if s.name == "linux" {
					requireLinuxBackend(t)
				}
				ready := filepath.Join(t.TempDir(), "ready")
				argv := append(s.argv(), "sh", "-c", c.script)
				cmd, out, errb := startSupervisor(t, []string{"READY=" + ready}, "", argv[0], argv[1:]...)
				waitFile(t, ready, 10*time.Second)
				if err := cmd.Process.Signal(c.sig); err != nil {
					t.Fatal(err)
				}
				if code := waitStatus(t, cmd, 20*time.Second); code != c.want {
					t.Errorf("status %d, want %d; stderr %q", code, c.want, errb.String())
				}
				if out.String() != c.out {
					t.Errorf("stdout %q, want %q", out.String(), c.out)
				}
				if strings.Contains(errb.String(), "goroutine ") {
					t.Errorf("a Go stack dump on stderr: %s", errb.String())
				}
			})
		}
	}
}

// TestRunIgnoredAtStart: SIGHUP and SIGINT ignored when the supervisor
// starts (nohup, a background job of a script) stay ignored in CMD, and a
// SIGHUP to the supervisor then does not end the run. (GNU timeout 9.1
// is no oracle here: it catches both and CMD gets them with their default
// action, so `kill -HUP $$` ends CMD.)
func TestRunIgnoredAtStart(t *testing.T) {
	for _, sup := range [][]string{{binPath, "run", "--backend", "portable", "--"}, {binPath, "run", "--"}} {
		t.Run(filepath.Base(sup[0])+"/"+strings.Join(sup[1:], " "), func(t *testing.T) {
			if len(sup) == 2 && sup[1] == "--" {
				requireLinuxBackend(t)
			}
			ready := filepath.Join(t.TempDir(), "ready")
			argv := append(append([]string{}, sup...), "sh", "-c", `kill -HUP $$; kill -INT $$; : > $READY; sleep 0.5; echo alive`)
			cmd, out, errb := startSupervisor(t, []string{"READY=" + ready}, "HUP INT", argv[0], argv[1:]...)
			waitFile(t, ready, 10*time.Second)
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			if code := waitStatus(t, cmd, 20*time.Second); code != 0 || out.String() != "alive\n" {
				t.Errorf("status %d, stdout %q, want 0 and alive; stderr %q", code, out.String(), errb.String())
			}
		})
	}
}

// TestRunRelaysToWholeTree: SIGUSR1 reaches every process of the tree,
// a grandchild too, and the run goes on; a relayed SIGQUIT that kills
// CMD leaves no grandchild behind.
func TestRunRelaysToWholeTree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		dir := t.TempDir()
		ready := filepath.Join(dir, "ready")
		script := `trap 'echo parent-USR1 >> $DIR/log' USR1
sh -c 'trap "echo child-USR1 >> $DIR/log; exit 0" USR1; : > $DIR/child; while :; do sleep 0.05; done' &
while [ ! -e $DIR/child ]; do sleep 0.01; done
: > $READY
wait; wait; echo done`
		cmd, out, errb := startSupervisor(t, []string{"READY=" + ready, "DIR=" + dir}, "", binPath, "run", "--backend", b, "--", "sh", "-c", script)
		waitFile(t, ready, 10*time.Second)
		if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if code := waitStatus(t, cmd, 20*time.Second); code != 0 || out.String() != "done\n" {
			t.Errorf("status %d, stdout %q; stderr %q", code, out.String(), errb.String())
		}
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		for _, want := range []string{"parent-USR1", "child-USR1"} {
			if !strings.Contains(string(log), want) {
				t.Errorf("log %q lacks %s: USR1 did not reach the whole tree", log, want)
			}
		}

		pidfile := filepath.Join(dir, "pids")
		// A grandchild in a session of its own escapes the process group:
		// only the group (cgroup) of the linux backend holds it.
		detach := ""
		if b == "linux" {
			detach = "setsid "
		}
		cmd, _, _ = startSupervisor(t, nil, "", binPath, "run", "--backend", b, "--", "sh", "-c",
			detach+`sleep 60 </dev/null >/dev/null 2>&1 & `+hostPid+`; `+hostKid+`; echo $kid > `+pidfile+`; exec sleep 60`)
		pids := readPids(t, pidfile, 1, 10*time.Second)
		if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		if code := waitStatus(t, cmd, 20*time.Second); code != 128+int(syscall.SIGQUIT) {
			t.Errorf("status %d after SIGQUIT, want %d", code, 128+int(syscall.SIGQUIT))
		}
		waitGone(t, 5*time.Second, pids...)
	})
}

// TestRunSecondSignalKillsAtOnce: a second terminating signal during the
// grace kills the tree without waiting for the grace to end.
func TestRunSecondSignalKillsAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd, _, errb := startSupervisor(t, []string{"READY=" + ready}, "", binPath, "run", "--backend", b, "-k", "60", "--",
			"sh", "-c", `trap "" TERM INT; : > $READY; while :; do sleep 0.05; done`)
		waitFile(t, ready, 10*time.Second)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		// Within the 60s grace: the bound of waitStatus fails the test
		// otherwise.
		if code := waitStatus(t, cmd, 20*time.Second); code != 137 {
			t.Errorf("status %d, want 137; stderr %q", code, errb.String())
		}
	})
}

// TestRunSurvivesBrokenStderr: with stderr a pipe nobody reads any more,
// hooksupd run does not die of SIGPIPE writing its messages: it cleans up,
// writes the report and returns the status.
func TestRunSurvivesBrokenStderr(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b string) {
		report := filepath.Join(t.TempDir(), "report.json")
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(binPath, "run", "--backend", b, "-v", "--report", report, "--timeout", "0.2", "--", "sleep", "10")
		cmd.Env = append(os.Environ(), raceEnv)
		cmd.Stderr = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if code := waitStatus(t, cmd, 20*time.Second); code != 124 {
			t.Errorf("status %d, want 124", code)
		}
		if rep := readReport(t, report); rep["timed_out"] != true {
			t.Errorf("report %v", rep)
		}
	})
}
