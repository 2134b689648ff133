// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// killBound is the slack allowed past a deadline for the kill, the reap
// and the release (the brief's "timeout + 200 ms").
const killBound = 200 * time.Millisecond

func TestExecDecisions(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		d := s.mustFire(s.hook("allow", "allow"), `{"title":"x"}`)
		if d.Action != executor.ActionAllow {
			t.Errorf("allow: %+v", d)
		}
		d = s.mustFire(s.hook("deny", "deny", "no thanks"), `{}`)
		if d.Action != executor.ActionDeny || d.Reason != "no thanks" || d.Code != 451 {
			t.Errorf("deny: %+v", d)
		}
		d = s.mustFire(s.hook("ask", "ask"), `{}`)
		if d.Action != executor.ActionAskUser || d.Prompt != "proceed?" || !slices.Equal(d.Options, []string{"yes", "no"}) ||
			d.Default == nil || *d.Default != "no" {
			t.Errorf("ask_user: %+v", d)
		}
		d = s.mustFire(s.hook("modify", "modify", "title=new title", "priority=7"), `{}`)
		if d.Action != executor.ActionModify || string(d.Delta["title"]) != `"new title"` || string(d.Delta["priority"]) != "7" {
			t.Errorf("modify: %+v", d)
		}
		payload := `{"content":"hello","tags":["a","b"],"n":1.5}`
		var echoed json.RawMessage
		metadata(t, s.mustFire(s.hook("echo", "echo-payload"), payload), &echoed)
		if string(echoed) != payload {
			t.Errorf("echo: %s, want %s", echoed, payload)
		}
		noHookProcsLeft(t, s.bin, time.Second)
	})
}

// TestExecTimeout: a hook sleeping past its deadline is killed with its
// tree and the fire returns within timeout + 200 ms (docs/seed-compatibility.md).
func TestExecTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		pidfile := filepath.Join(t.TempDir(), "pid")
		const timeout = 300 * time.Millisecond
		_, elapsed, err := s.fire(s.hook("slow", "pidfile", pidfile, "sleep", "10000"), timeout, `{}`)
		if !errors.Is(err, executor.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if elapsed > timeout+killBound {
			t.Errorf("returned after %v, want <= %v", elapsed, timeout+killBound)
		}
		b, rerr := os.ReadFile(pidfile)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pid, _ := strconv.Atoi(string(b))
		if st := procState(pid); st != "" {
			t.Errorf("pid %d still exists (state %s) after Fire returned", pid, st)
		}
		if got := executor.KindOf(err).String(); got != "timeout" {
			t.Errorf("kind %q", got)
		}
	})
}

// TestExecFloodStdout: 10 MiB on stdout before reading stdin must not
// deadlock (docs/seed-compatibility.md): the cap kills the tree and the fire fails fast
// with a decode error.
func TestExecFloodStdout(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		_, elapsed, err := s.fire(s.hook("flood", "flood-stdout", strconv.Itoa(10<<20)), 10*time.Second, `{}`)
		if !errors.Is(err, executor.ErrDecode) || !strings.Contains(err.Error(), "stdout exceeded 1048576 bytes") {
			t.Fatalf("err = %v", err)
		}
		if elapsed > 3*time.Second {
			t.Errorf("took %v", elapsed)
		}
	})
}

// TestExecFloodStderr: stderr is drained while the envelope is written;
// only the tail is kept (seed H9).
func TestExecFloodStderr(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		d, elapsed, err := s.fire(s.hook("noisy", "flood-stderr", strconv.Itoa(10<<20)), 10*time.Second, `{}`)
		if err != nil || d.Action != executor.ActionAllow {
			t.Fatalf("decision %+v err %v", d, err)
		}
		if elapsed > 5*time.Second {
			t.Errorf("took %v", elapsed)
		}
		if !strings.Contains(s.log.String(), "stderr_bytes=10485760") {
			t.Errorf("stderr tail not logged with its size:\n%.2000s", s.log.String())
		}
	})
}

func TestExecBadOutput(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		if _, _, err := s.fire(s.hook("junk", "junk"), 5*time.Second, `{}`); !errors.Is(err, executor.ErrDecode) {
			t.Errorf("junk: %v", err)
		}
		// A valid decision does not excuse a non-zero exit.
		_, _, err := s.fire(s.hook("exit1", "exit1-after-decision"), 5*time.Second, `{}`)
		if !errors.Is(err, executor.ErrExit) || err.Error() != "hook child exited (code 1)" {
			t.Errorf("exit1: %v", err)
		}
	})
}

// TestExecUnreadStdin: a hook that answers without reading a 1 MiB
// envelope makes the write fail with EPIPE; that is not an I/O error when
// it then exits 0 with a decision (docs/seed-compatibility.md).
func TestExecUnreadStdin(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		payload := `{"content":"` + strings.Repeat("x", 1<<20) + `"}`
		d, _, err := s.fire(s.hook("deaf", "ignore-stdin"), 5*time.Second, payload)
		if err != nil || d.Action != executor.ActionAllow {
			t.Fatalf("decision %+v err %v", d, err)
		}
	})
}

// TestExecStderrNeverInErrors: stderr reaches the log only redacted, and
// never an error message (seed P2, #1894).
func TestExecStderrNeverInErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.hook("leaky", "stderr-exit", "3", "API_TOKEN=s3cr3t-value-123", "db password is hunter2")
		_, _, err := s.fire(h, 5*time.Second, `{}`)
		if !errors.Is(err, executor.ErrExit) || err.Error() != "hook child exited (code 3)" {
			t.Fatalf("err = %v", err)
		}
		log := s.log.String()
		if !strings.Contains(log, "API_TOKEN") {
			t.Errorf("stderr tail missing from the failure log:\n%s", log)
		}
		for _, secret := range []string{"s3cr3t-value-123", "hunter2"} {
			if strings.Contains(log, secret) || strings.Contains(err.Error(), secret) {
				t.Errorf("secret %q leaked:\n%s", secret, log)
			}
		}
	})
}

// TestExecGrandchildHoldsStdout: the direct child answers and exits while
// a grandchild keeps stdout open (docs/pitfalls.md #1). The fire ends
// well inside its timeout and the grandchild is killed.
func TestExecGrandchildHoldsStdout(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		d, elapsed, err := s.fire(s.hook("holder", "grandchild-holds-stdout"), 5*time.Second, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Grandchild int }
		metadata(t, d, &m)
		if elapsed > time.Second {
			t.Errorf("fire took %v with a grandchild holding stdout", elapsed)
		}
		waitGone(t, m.Grandchild, 2*time.Second)
		if !strings.Contains(s.log.String(), "left a process holding its output") {
			t.Errorf("lingering holder not logged")
		}
	})
}

// TestExecSetsidEscapee: a double-forked, setsid grandchild holding
// stdout. The fire still ends within its bound on every backend; the
// Linux backend's group kill reaches it, the portable backend's process
// group kill cannot (a documented limit).
func TestExecSetsidEscapee(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		d, elapsed, err := s.fire(s.hook("escapee", "setsid-daemon"), 3*time.Second, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Grandchild int }
		metadata(t, d, &m)
		if elapsed > time.Second {
			t.Errorf("fire took %v", elapsed)
		}
		if s.kind == "linux" {
			waitGone(t, m.Grandchild, 2*time.Second)
			return
		}
		if alive(m.Grandchild) {
			t.Logf("portable backend: setsid grandchild %d escaped the process group, as documented", m.Grandchild)
			_ = syscall.Kill(m.Grandchild, syscall.SIGKILL)
			waitGone(t, m.Grandchild, 2*time.Second)
		}
	})
}

// TestExecEnvExact: the child's environment is exactly the allowlist.
func TestExecEnvExact(t *testing.T) {
	t.Setenv("HOOKSUPD_TEST_PASSED", "passed value")
	t.Setenv("HOOKSUPD_TEST_SECRET", "must not leak")
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.hook("envy", "env")
		h.Env = map[string]string{"FOO": "bar", "HOOKSUPD_HOOK": "spoofed"}
		h.PassEnv = []string{"HOOKSUPD_TEST_PASSED", "HOOKSUPD_TEST_UNSET"}
		var m struct{ Env []string }
		metadata(t, s.mustFire(h, `{}`), &m)
		want := []string{
			"FOO=bar",
			"HOOKSUPD_EVENT=" + testEvent,
			"HOOKSUPD_HOOK=envy",
			"HOOKSUPD_TEST_PASSED=passed value",
			"PATH=/usr/local/bin:/usr/bin:/bin",
		}
		got := slices.Clone(m.Env)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("env:\n got %q\nwant %q", got, want)
		}
	})
}

// TestExecOnlyStdio: the child has fds 0, 1, 2 and nothing else
// (docs/pitfalls.md #16).
func TestExecOnlyStdio(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		var m struct{ FDs []int }
		metadata(t, s.mustFire(s.hook("fds", "fdlist"), `{}`), &m)
		if !slices.Equal(m.FDs, []int{0, 1, 2}) {
			t.Errorf("child fds %v, want [0 1 2]", m.FDs)
		}
	})
}

// TestExecPolicy: the spawn gate refuses, naming the rule.
func TestExecPolicy(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		dir := t.TempDir()
		bad := copyHook(t, s.bin, dir, 0o777)
		h := s.hook("ww", "allow")
		h.Command = bad
		_, _, err := s.fire(h, 5*time.Second, `{}`)
		if !errors.Is(err, executor.ErrPolicyRefused) || err.Error() != "policy: "+bad+" is world-writable (strict_modes)" {
			t.Errorf("world-writable: %v", err)
		}
		if err := os.Chmod(bad, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o775); err != nil {
			t.Fatal(err)
		}
		h.Name = "gw"
		if _, _, err := s.fire(h, 5*time.Second, `{}`); !errors.Is(err, executor.ErrPolicyRefused) ||
			err.Error() != "policy: "+dir+" is group-writable (strict_modes)" {
			t.Errorf("group-writable dir: %v", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		h.Name = "ok"
		if d, _, err := s.fire(h, 5*time.Second, `{}`); err != nil || d.Action != executor.ActionAllow {
			t.Errorf("fixed modes: %+v %v", d, err)
		}
		deny := s.newRegistry(config.Policy{StrictModes: true, DenyCommands: []string{dir + "/*"}})
		if _, _, err := s.fireOn(deny, h, 5*time.Second, `{}`); !errors.Is(err, executor.ErrPolicyRefused) ||
			!strings.Contains(err.Error(), "deny_commands") {
			t.Errorf("deny glob: %v", err)
		}
		allow := s.newRegistry(config.Policy{AllowCommands: []string{"/usr/libexec/*"}})
		if _, _, err := s.fireOn(allow, h, 5*time.Second, `{}`); !errors.Is(err, executor.ErrPolicyRefused) ||
			!strings.Contains(err.Error(), "allow_commands") {
			t.Errorf("allow glob: %v", err)
		}
	})
}

// TestExecConcurrencyDrop: max_concurrency slots are waited for within the
// fire's deadline, then the fire is dropped.
func TestExecConcurrencyDrop(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.hook("narrow", "sleep", "800")
		h.MaxConcurrency = 1
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.fire(h, 5*time.Second, `{}`); err != nil {
				t.Errorf("first fire: %v", err)
			}
		}()
		eventually(t, 2*time.Second, func() bool { st, _ := s.reg.State("narrow"); return st.Running }, "first fire running")
		_, elapsed, err := s.fire(h, 200*time.Millisecond, `{}`)
		if !errors.Is(err, executor.ErrDropped) || elapsed > 200*time.Millisecond+killBound {
			t.Errorf("second fire: %v after %v", err, elapsed)
		}
		wg.Wait()
	})
}

// TestExecLimits: a limit the backend cannot enforce is an error unless
// allow_uncapped; where it is enforced, memory exhaustion is reported as
// OOM, not as a plain signal.
func TestExecLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.hook("hog", "memhog", "256")
		h.Limits = config.Limits{MemoryMax: 64 << 20}
		if err := s.b.CanEnforce(supervisor.Limits{MemoryMax: h.Limits.MemoryMax}); err != nil {
			if _, _, ferr := s.fire(h, 10*time.Second, `{}`); !errors.Is(ferr, executor.ErrNotSupported) {
				t.Errorf("unenforceable limit: %v", ferr)
			}
			h.Name, h.Args, h.AllowUncapped = "hog-uncapped", []string{"memhog", "8"}, true
			if _, _, ferr := s.fire(h, 10*time.Second, `{}`); ferr != nil {
				t.Errorf("allow_uncapped: %v", ferr)
			}
			return
		}
		_, _, err := s.fire(h, 10*time.Second, `{}`)
		if !errors.Is(err, executor.ErrOOMKilled) || !strings.Contains(err.Error(), "memory_max") {
			t.Errorf("memhog over memory_max: %v", err)
		}
		h.Name, h.Args = "small", []string{"memhog", "8"}
		if _, _, err := s.fire(h, 10*time.Second, `{}`); err != nil {
			t.Errorf("memhog under memory_max: %v", err)
		}
	})
}
