// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
)

// token fires the daemon with a per-fire token and returns the reply,
// checking that the reply carries that token and no other (docs/seed-compatibility.md:
// order is the only correlation, so a stale reply would show up here).
func (s *suite) token(h *config.Hook, tok string, timeout time.Duration) daemonReply {
	s.t.Helper()
	d, _, err := s.fire(h, timeout, fmt.Sprintf(`{"token":%q}`, tok))
	if err != nil {
		s.t.Fatalf("fire %s token %s: %v", h.Name, tok, err)
	}
	var r daemonReply
	metadata(s.t, d, &r)
	var p struct{ Token string }
	_ = json.Unmarshal(r.Payload, &p)
	if p.Token != tok {
		s.t.Fatalf("fire with token %q got the reply for %q", tok, p.Token)
	}
	return r
}

func (s *suite) state(name string) executor.HookState {
	st, _ := s.reg.State(name)
	return st
}

func TestDaemonExchange(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("d")
		first := s.token(h, "a", 5*time.Second)
		for i, tok := range []string{"b", "c"} {
			r := s.token(h, tok, 5*time.Second)
			if r.Pid != first.Pid || r.N != i+2 {
				t.Fatalf("reply %+v: want pid %d n %d (one long-lived child)", r, first.Pid, i+2)
			}
		}
		st := s.state("d")
		if st.Mode != config.ModeDaemon || !st.Running || st.Pid != first.Pid || st.Restarts != 0 {
			t.Errorf("state %+v", st)
		}
		// Concurrent fires are serialised; each gets its own reply.
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.token(h, fmt.Sprint("c", i), 10*time.Second)
			}()
		}
		wg.Wait()
	})
}

// TestDaemonCrashRestart: a daemon that exits after every 3rd reply is
// noticed when it dies (not at the next fire), counted, restarted after
// the backoff, and the next fire works.
func TestDaemonCrashRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("crashy", "-crash-every", "3")
		var pid int
		for i, tok := range []string{"1", "2", "3"} {
			r := s.token(h, tok, 5*time.Second)
			if i == 0 {
				pid = r.Pid
			}
		}
		eventually(t, 2*time.Second, func() bool { return s.state("crashy").Restarts == 1 }, "death noticed without a fire")
		if got := s.hookMetrics("crashy").Snapshot().Restarts; got != 1 {
			t.Errorf("metrics restarts = %d", got)
		}
		waitGone(t, pid, 2*time.Second)
		eventually(t, 2*time.Second, func() bool { st := s.state("crashy"); return st.Running && st.Pid != pid }, "proactive restart")
		r := s.token(h, "4", 5*time.Second)
		if r.Pid == pid || r.N != 1 {
			t.Errorf("after restart: %+v", r)
		}
	})
}

// TestDaemonLateReply: a reply after the deadline must never reach the
// next fire: the child is killed at the timeout and the next fire gets its
// own answer from a new child.
func TestDaemonLateReply(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("late")
		old := s.token(h, "warm", 5*time.Second)
		const timeout = 300 * time.Millisecond
		_, elapsed, err := s.fire(h, timeout, `{"token":"stale","sleep_ms":700}`)
		if !errors.Is(err, executor.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if elapsed > timeout+killBound {
			t.Errorf("returned after %v", elapsed)
		}
		waitGone(t, old.Pid, time.Second)
		r := s.token(h, "fresh", 5*time.Second)
		if r.Pid == old.Pid {
			t.Errorf("same child after a timeout")
		}
		// Outlive the stale reply's schedule: still nothing stale arrives.
		time.Sleep(500 * time.Millisecond)
		s.token(h, "fresh2", 5*time.Second)
	})
}

// TestDaemonFramingErrors: a stray line, an unsolicited line, a crash
// without an answer and an over-long line each reset the child; the next
// fire works.
func TestDaemonFramingErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("framing")
		pid := s.token(h, "a", 5*time.Second).Pid

		_, _, err := s.fire(h, 5*time.Second, `{"stray":true}`)
		if !errors.Is(err, executor.ErrDecode) {
			t.Fatalf("stray: %v", err)
		}
		waitGone(t, pid, 2*time.Second)
		if st := s.state("framing"); st.Restarts != 1 {
			t.Errorf("restarts after stray: %+v", st)
		}
		r := s.token(h, "b", 5*time.Second)
		if r.Pid == pid {
			t.Errorf("stray: not restarted")
		}

		// The reply arrives, then a line nobody asked for.
		d, _, err := s.fire(h, 5*time.Second, `{"unsolicited":true}`)
		if err != nil || d.Action != executor.ActionModify {
			t.Fatalf("unsolicited: %+v %v", d, err)
		}
		eventually(t, 2*time.Second, func() bool { return s.state("framing").Restarts == 2 }, "unsolicited line resets")
		waitGone(t, r.Pid, 2*time.Second)
		r2 := s.token(h, "c", 5*time.Second)

		_, _, err = s.fire(h, 5*time.Second, `{"crash":true}`)
		if !errors.Is(err, executor.ErrExit) {
			t.Fatalf("crash: %v", err)
		}
		waitGone(t, r2.Pid, 2*time.Second)
		r3 := s.token(h, "d", 5*time.Second)

		// A reply line over stdout_max_bytes (1 MiB here).
		_, _, err = s.fire(h, 5*time.Second, `{"pad":2000000}`)
		if !errors.Is(err, executor.ErrDecode) || !strings.Contains(err.Error(), "exceeded 1048576 bytes") {
			t.Fatalf("long line: %v", err)
		}
		waitGone(t, r3.Pid, 2*time.Second)
		s.token(h, "e", 5*time.Second)
		if st := s.state("framing"); st.Restarts != 4 {
			t.Errorf("restarts: %+v", st)
		}
	})
}

// TestDaemonStderrFlood: a daemon writing 1 MiB of stderr per fire does
// not deadlock (seed H9).
func TestDaemonStderrFlood(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("loud")
		start := time.Now()
		for range 5 {
			if _, _, err := s.fire(h, 5*time.Second, `{"stderr":1048576}`); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("5 fires took %v", d)
		}
		if st := s.state("loud"); st.Restarts != 0 {
			t.Errorf("state %+v", st)
		}
	})
}

// TestDaemonReconcile: a reload keeps unchanged daemons (even when fields
// that do not affect the child change) and stops removed ones.
func TestDaemonReconcile(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		keep, drop := s.daemonHook("keep"), s.daemonHook("drop")
		keepPid := s.token(keep, "k", 5*time.Second).Pid
		dropPid := s.token(drop, "d", 5*time.Second).Pid

		keep2 := *keep
		keep2.Priority, keep2.Timeout, keep2.FailMode = 50, time.Second, config.FailOpen
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.reg.Reconcile(ctx, []config.Hook{keep2})

		if st := procState(dropPid); st != "" && st != "Z" {
			t.Errorf("removed daemon %d still running (state %s)", dropPid, st)
		}
		if _, ok := s.reg.State("drop"); ok {
			t.Errorf("removed hook still has state")
		}
		if r := s.token(&keep2, "k2", 5*time.Second); r.Pid != keepPid {
			t.Errorf("unchanged daemon restarted: %d -> %d", keepPid, r.Pid)
		}

		changed := keep2
		changed.Args = append(changed.Args, "-deny")
		s.reg.Reconcile(ctx, []config.Hook{changed})
		waitGone(t, keepPid, time.Second)
		d, _, err := s.fire(&changed, 5*time.Second, `{}`)
		if err != nil || d.Action != executor.ActionDeny {
			t.Errorf("changed daemon: %+v %v", d, err)
		}
	})
}

// TestDaemonPrestartAndClose: Prestart brings daemons up before any fire;
// Close stops them all.
func TestDaemonPrestartAndClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		r := s.newRegistry(config.Policy{StrictModes: true})
		hooks := []config.Hook{*s.daemonHook("p1"), *s.daemonHook("p2"), *s.hook("exec-one", "allow")}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Prestart(ctx, hooks); err != nil {
			t.Fatal(err)
		}
		var pids []int
		for _, name := range []string{"p1", "p2"} {
			st, ok := r.State(name)
			if !ok || !st.Running || st.Pid == 0 {
				t.Fatalf("%s after Prestart: %+v", name, st)
			}
			pids = append(pids, st.Pid)
		}
		start := time.Now()
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("daemon %d alive after Close", pid)
			}
		}
		// A daemon that exits on stdin EOF needs no grace.
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Errorf("Close took %v", d)
		}
		if _, err := r.Executor(&hooks[0]); !errors.Is(err, executor.ErrClosed) {
			t.Errorf("Executor after Close: %v", err)
		}
	})
}

// TestDaemonUnavailable: a daemon that cannot start fails its fire with
// the cause; fires inside the restart backoff fail fast rather than sleep.
func TestDaemonUnavailable(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *suite) {
		h := s.daemonHook("missing")
		h.Command = "/nonexistent/hook"
		if _, _, err := s.fire(h, 2*time.Second, `{}`); !errors.Is(err, executor.ErrSpawn) {
			t.Fatalf("first fire: %v", err)
		}
		_, elapsed, err := s.fire(h, 50*time.Millisecond, `{}`)
		if !errors.Is(err, executor.ErrDaemonUnavailable) || elapsed > 20*time.Millisecond {
			t.Errorf("within backoff: %v after %v", err, elapsed)
		}
		if !strings.Contains(err.Error(), "no such file") {
			t.Errorf("unavailable error lacks the cause: %v", err)
		}
	})
}
