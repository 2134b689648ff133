// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// shResult is how a command ended, as a shell sees it.
type shResult struct {
	stdout, stderr string
	code           int            // the shell's $?: 128+N when killed by signal N
	signal         syscall.Signal // the signal that killed it, or 0
}

// shellStatus is $? for ps.
func shellStatus(ps *os.ProcessState) (int, syscall.Signal) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), ws.Signal()
	}
	return ps.ExitCode(), 0
}

// runCmd runs name with args, environment extra on top of ours, and
// stdin; hooksupd dying of a signal is a result here, not a failure.
func runCmd(t *testing.T, env []string, stdin string, name string, args ...string) shResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "HOOKSUPD_CONFIG=/nonexistent/hooksupd-test.toml", raceEnv), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	r := shResult{stdout: out.String(), stderr: errb.String()}
	r.code, r.signal = shellStatus(cmd.ProcessState)
	t.Logf("%s %s -> status %d\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	checkRace(t, r.stderr)
	return r
}

// runHS runs hooksupd with args.
func runHS(t *testing.T, env []string, stdin string, args ...string) shResult {
	t.Helper()
	return runCmd(t, env, stdin, binPath, args...)
}

// waitStatus waits for cmd with a bound and returns the shell's $?.
func waitStatus(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	waitExit(t, cmd, limit)
	code, _ := shellStatus(cmd.ProcessState)
	return code
}

// gnuTimeout returns the path of GNU timeout, the oracle of these tests.
func gnuTimeout(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("timeout")
	if err != nil {
		testutil.SkipOrFail(t, "GNU timeout not installed: %v", err)
	}
	if out, _ := exec.Command(p, "--version").Output(); !strings.Contains(string(out), "GNU coreutils") {
		testutil.SkipOrFail(t, "%s is not GNU timeout", p)
	}
	return p
}

// TestRunLikeGNUTimeout runs each case under GNU timeout and under
// hooksupd run with the mapped flags, and wants the same status and
// output from both.
func TestRunLikeGNUTimeout(t *testing.T) {
	gnu := gnuTimeout(t)
	dir := t.TempDir()
	noShebang := writeExec(t, dir, "noshebang", "echo no-shebang $0 \"$@\"\n")
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		gnu  []string // timeout's arguments
		hs   []string // hooksupd run's arguments
		want int
	}{
		{"timeout fires", []string{"0.3", "sleep", "10"}, []string{"--timeout", "0.3", "--", "sleep", "10"}, 124},
		{"status passes", []string{"10", "sh", "-c", "exit 7"}, []string{"--timeout", "10", "--", "sh", "-c", "exit 7"}, 7},
		{"125 of CMD passes", []string{"10", "sh", "-c", "exit 125"}, []string{"--", "sh", "-c", "exit 125"}, 125},
		{"death signal re-raised", []string{"10", "sh", "-c", "kill -USR1 $$"}, []string{"--", "sh", "-c", "kill -USR1 $$"}, 138},
		{"CMD's own SIGKILL", []string{"10", "sh", "-c", "kill -KILL $$"}, []string{"--", "sh", "-c", "kill -KILL $$"}, 137},
		{"kill after", []string{"-k", "0.3", "0.3", "sh", "-c", `trap "" TERM; sleep 10`},
			[]string{"--timeout", "0.3", "-k", "0.3", "--", "sh", "-c", `trap "" TERM; sleep 10`}, 137},
		{"kill after (--kill-after=)", []string{"--kill-after=0.3", "0.3", "sh", "-c", `trap "" TERM; sleep 10`},
			[]string{"--timeout", "0.3", "--kill-after=0.3", "--", "sh", "-c", `trap "" TERM; sleep 10`}, 137},
		{"-vk0.3 (a cluster)", []string{"-vk0.3", "0.3", "sh", "-c", `trap "" TERM; sleep 10`},
			[]string{"--timeout", "0.3", "-vk0.3", "--", "sh", "-c", `trap "" TERM; sleep 10`}, 137},
		{"--foreground", []string{"--foreground", "0.3", "sleep", "10"}, []string{"--foreground", "--timeout", "0.3", "--", "sleep", "10"}, 124},
		{"-k 0 never kills", []string{"-k", "0", "0.2", "sh", "-c", `trap "" TERM; sleep 0.6`},
			[]string{"--timeout", "0.2", "-k", "0", "--", "sh", "-c", `trap "" TERM; sleep 0.6`}, 124},
		{"CMD handles TERM", []string{"0.3", "sh", "-c", `trap "exit 7" TERM; sleep 10 & wait`},
			[]string{"--timeout", "0.3", "--", "sh", "-c", `trap "exit 7" TERM; sleep 10 & wait`}, 124},
		{"preserve-status exit", []string{"--preserve-status", "0.3", "sh", "-c", `trap "exit 7" TERM; sleep 10 & wait`},
			[]string{"--timeout", "0.3", "--preserve-status", "--", "sh", "-c", `trap "exit 7" TERM; sleep 10 & wait`}, 7},
		{"preserve-status signal", []string{"--preserve-status", "0.3", "sleep", "10"},
			[]string{"--timeout", "0.3", "--preserve-status", "--", "sleep", "10"}, 143},
		{"-s INT", []string{"-s", "INT", "0.3", "sh", "-c", `trap "exit 3" INT; sleep 10 & wait`},
			[]string{"--timeout", "0.3", "-s", "INT", "--", "sh", "-c", `trap "exit 3" INT; sleep 10 & wait`}, 124},
		{"-s INT preserved", []string{"--preserve-status", "-s", "SIGINT", "0.3", "sh", "-c", `trap "exit 3" INT; sleep 10 & wait`},
			[]string{"--timeout", "0.3", "--preserve-status", "--signal=SIGINT", "--", "sh", "-c", `trap "exit 3" INT; sleep 10 & wait`}, 3},
		{"-s KILL", []string{"-s", "KILL", "0.3", "sleep", "10"}, []string{"--timeout", "0.3", "-s", "KILL", "--", "sleep", "10"}, 137},
		{"-s 9", []string{"-s", "9", "0.3", "sleep", "10"}, []string{"--timeout", "0.3", "-s", "9", "--", "sleep", "10"}, 137},
		{"0 is no timeout", []string{"0", "sleep", "0.3"}, []string{"--timeout", "0", "--", "sleep", "0.3"}, 0},
		{"tiny timeout fires", []string{"1e-300", "sleep", "10"}, []string{"--timeout", "1e-300", "--", "sleep", "10"}, 124},
		{"inf", []string{"inf", "true"}, []string{"--timeout", "inf", "--", "true"}, 0},
		{"1d", []string{"1d", "true"}, []string{"--timeout", "1d", "--", "true"}, 0},
		{"huge clamps", []string{"1e400", "true"}, []string{"--timeout", "1e400", "--", "true"}, 0},
		{"dot", []string{"10", "."}, []string{"--", "."}, 126},
		{"directory", []string{"10", dir}, []string{"--", dir}, 126},
		{"not executable", []string{"10", plain}, []string{"--", plain}, 126},
		{"not found", []string{"10", "hooksupd-no-such-command"}, []string{"--", "hooksupd-no-such-command"}, 127},
		{"missing path", []string{"10", filepath.Join(dir, "nope")}, []string{"--", filepath.Join(dir, "nope")}, 127},
		{"script without #!", []string{"10", noShebang, "a"}, []string{"--", noShebang, "a"}, 0},
		{"bad duration", []string{"soon", "true"}, []string{"--timeout", "soon", "--", "true"}, 125},
		{"bad signal", []string{"-s", "NOSIG", "1", "true"}, []string{"-s", "NOSIG", "--", "true"}, 125},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := runCmd(t, nil, "", gnu, c.gnu...)
			if g.code != c.want {
				t.Errorf("GNU timeout %q: status %d, the table says %d", c.gnu, g.code, c.want)
			}
			forEachBackend(t, func(t *testing.T, b string) {
				h := runHS(t, nil, "", append([]string{"run", "--backend", b}, c.hs...)...)
				if h.code != c.want {
					t.Errorf("hooksupd run %q: status %d, want %d (as GNU timeout)", c.hs, h.code, c.want)
				}
				if g.stdout != h.stdout {
					t.Errorf("stdout: GNU %q, hooksupd %q", g.stdout, h.stdout)
				}
				// Both are quiet about a timeout without -v; errors name
				// the program.
				if (g.stderr == "") != (h.stderr == "") {
					t.Errorf("stderr: GNU %q, hooksupd %q", g.stderr, h.stderr)
				}
			})
		})
	}
}

// TestRunVerbose: -v says which signal went out, as GNU timeout -v, and
// ends with a systemd-run --wait style summary; without -v, a timeout is
// silent.
func TestRunVerbose(t *testing.T) {
	gnu := gnuTimeout(t)
	g := runCmd(t, nil, "", gnu, "-v", "-k", "0.3", "0.3", "sh", "-c", `trap "" TERM; sleep 10`)
	h := runHS(t, nil, "", "run", "-v", "--timeout", "0.3", "-k", "0.3", "--", "sh", "-c", `trap "" TERM; sleep 10`)
	for _, want := range []string{"sending signal TERM to command", "sending signal KILL to command"} {
		if !strings.Contains(g.stderr, want) {
			t.Errorf("GNU stderr lacks %q: %q", want, g.stderr)
		}
		if !strings.Contains(h.stderr, want+" 'sh'") {
			t.Errorf("hooksupd stderr lacks %q: %q", want, h.stderr)
		}
	}
	for _, want := range []string{"Finished with result: timeout", "Main processes terminated with: code=killed, status=KILL",
		"CPU time consumed: ", "Service runtime: "} {
		if !strings.Contains(h.stderr, want) {
			t.Errorf("summary lacks %q: %q", want, h.stderr)
		}
	}
	if h.code != 137 {
		t.Errorf("status %d, want 137", h.code)
	}
	if r := runHS(t, nil, "", "run", "--timeout", "0.2", "--", "sleep", "10"); r.code != 124 || r.stderr != "" {
		t.Errorf("quiet timeout: status %d, stderr %q", r.code, r.stderr)
	}
	if r := runHS(t, nil, "", "run", "--", "true"); r.code != 0 || r.stderr != "" {
		t.Errorf("run -- true: status %d, stderr %q (no log line at the default level)", r.code, r.stderr)
	}
	if r := runHS(t, nil, "", "run", "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "hooksupd ") {
		t.Errorf("run --version: status %d, stdout %q", r.code, r.stdout)
	}
}

// TestRunHelpListsEverything: --help names every flag and every property
// with its GNU or systemd counterpart.
func TestRunHelpListsEverything(t *testing.T) {
	r := runHS(t, nil, "", "run", "--help")
	if r.code != 0 {
		t.Fatalf("status %d", r.code)
	}
	o := runOptions{}
	fs, _ := runFlags(&o)
	fs.VisitAll(func(f *flag.Flag) {
		want := "--" + f.Name
		if len(f.Name) == 1 {
			want = "-" + f.Name + ", --"
		}
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %s", want)
		}
	})
	for _, p := range knownProperties() {
		if !strings.Contains(r.stdout, p+"=") {
			t.Errorf("--help lacks the property %s=", p)
		}
	}
	for _, counterpart := range []string{"timeout -k", "timeout -s", "timeout --preserve-status", "timeout --foreground",
		"timeout -v", "systemd-run -D", "systemd-run -E", "systemd-run -p", "systemd-run --wait", "--log-level", "--version"} {
		if !strings.Contains(r.stdout, counterpart) {
			t.Errorf("--help lacks %q", counterpart)
		}
	}
}
