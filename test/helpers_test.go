// SPDX-License-Identifier: Apache-2.0

//go:build unix

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"github.com/hooksupd/hooksupd/supervisor"
)

// testEvent is a built-in event: its modify deltas are typed as the
// seed's MemoryDelta (metadata is any JSON).
const testEvent = "pre_store"

// newBackend returns a fresh backend of kind, closed when the test ends
// (before the fd leak check registered earlier runs, so fds the backend
// caches count as leaks only if Close does not free them). The Linux
// backend skips (fails under CI) where it is not supported.
func newBackend(t *testing.T, kind string) supervisor.Backend {
	t.Helper()
	if kind == "linux" && runtime.GOOS != "linux" {
		t.Skipf("linux backend on %s", runtime.GOOS)
	}
	var (
		b   supervisor.Backend
		err error
	)
	if kind == "portable" {
		b, err = supervisor.NewPortable(supervisor.Options{})
	} else {
		b, err = supervisor.New(supervisor.Options{Kind: kind})
	}
	switch {
	case err == nil:
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("%s backend Close: %v", kind, err)
			}
		})
		return b
	case errors.Is(err, supervisor.ErrNotSupported):
		testutil.SkipOrFail(t, "%s backend: %v", kind, err)
	default:
		t.Fatalf("%s backend: %v", kind, err)
	}
	return nil
}

// suite is one backend's environment for a test: a registry over a fresh
// backend, a captured log and per-hook metrics.
type suite struct {
	t    *testing.T
	kind string
	b    supervisor.Backend
	bin  string
	reg  *executor.Registry
	log  *logBuf

	mu      sync.Mutex
	metrics map[string]*executor.HookMetrics
}

// eachBackend runs fn as a subtest per backend: portable always, linux
// where it works.
func eachBackend(t *testing.T, fn func(t *testing.T, s *suite)) {
	for _, kind := range []string{"portable", "linux"} {
		t.Run(kind, func(t *testing.T) {
			testutil.CheckFDLeak(t)
			fn(t, newSuite(t, kind, newBackend(t, kind)))
		})
	}
}

func newSuite(t *testing.T, kind string, b supervisor.Backend) *suite {
	t.Helper()
	s := &suite{t: t, kind: kind, b: b, bin: testhook.Path(t), log: &logBuf{}, metrics: map[string]*executor.HookMetrics{}}
	s.reg = s.newRegistry(config.Policy{StrictModes: true})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", s.log.String())
		}
	})
	return s
}

// newRegistry returns a registry closed (and checked) when the test ends.
func (s *suite) newRegistry(p config.Policy) *executor.Registry {
	r := executor.NewRegistry(executor.RegistryOptions{
		Backend:         s.b,
		Logger:          slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Policy:          p,
		DaemonStopGrace: 500 * time.Millisecond,
		Metrics:         s.hookMetrics,
	})
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			s.t.Errorf("registry Close: %v", err)
		}
	})
	return r
}

func (s *suite) hookMetrics(name string) *executor.HookMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.metrics[name]
	if !ok {
		m = executor.NewHookMetrics()
		s.metrics[name] = m
	}
	return m
}

// hook is an exec-mode hook running the test hook with args.
func (s *suite) hook(name string, args ...string) *config.Hook {
	return &config.Hook{
		Name: name, Event: testEvent, Command: s.bin, Args: args,
		Mode: config.ModeExec, Enabled: true, Timeout: 5 * time.Second,
		FailMode: config.FailClosed, StdoutMaxBytes: 1 << 20, StderrTailBytes: 4096,
	}
}

// daemonHook is a daemon-mode hook running "testhook daemon args...".
func (s *suite) daemonHook(name string, args ...string) *config.Hook {
	h := s.hook(name, append([]string{"daemon"}, args...)...)
	h.Mode = config.ModeDaemon
	return h
}

// fireOn runs one fire on r (nil: the suite's registry) with a deadline of
// timeout and returns the decision, the elapsed time and the error.
func (s *suite) fireOn(r *executor.Registry, h *config.Hook, timeout time.Duration, payload string) (executor.Decision, time.Duration, error) {
	s.t.Helper()
	if r == nil {
		r = s.reg
	}
	ex, err := r.Executor(h)
	if err != nil {
		s.t.Fatalf("Executor(%s): %v", h.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	d, err := ex.Fire(ctx, testEvent, json.RawMessage(payload))
	return d, time.Since(start), err
}

func (s *suite) fire(h *config.Hook, timeout time.Duration, payload string) (executor.Decision, time.Duration, error) {
	s.t.Helper()
	return s.fireOn(nil, h, timeout, payload)
}

// mustFire fires and fails the test on an error.
func (s *suite) mustFire(h *config.Hook, payload string) executor.Decision {
	s.t.Helper()
	d, _, err := s.fire(h, 5*time.Second, payload)
	if err != nil {
		s.t.Fatalf("fire %s: %v", h.Name, err)
	}
	return d
}

// metadata decodes a modify decision's delta.metadata into v.
func metadata(t *testing.T, d executor.Decision, v any) {
	t.Helper()
	if d.Action != executor.ActionModify {
		t.Fatalf("decision %+v: want modify", d)
	}
	if err := json.Unmarshal(d.Delta["metadata"], v); err != nil {
		t.Fatalf("metadata %s: %v", d.Delta["metadata"], err)
	}
}

// daemonReply is the test hook daemon's metadata.
type daemonReply struct {
	Pid     int             `json:"pid"`
	N       int             `json:"n"`
	Payload json.RawMessage `json:"payload"`
}

// procState returns the state letter of pid ("" when it does not exist).
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) < i+3 {
		return ""
	}
	return s[i+2 : i+3]
}

// alive reports whether pid runs: it exists and is not a zombie (a dead
// orphan waits in Z until init reaps it).
func alive(pid int) bool {
	st := procState(pid)
	return st != "" && st != "Z"
}

func eventually(t *testing.T, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("not within %v: "+format, append([]any{within}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	eventually(t, within, func() bool { return !alive(pid) }, "pid %d gone", pid)
}

// procs scans /proc and returns the pids for which keep returns true,
// given the pid's stat fields (state, ppid) and its executable path.
func procs(keep func(pid int, state string, ppid int, exe string) bool) []int {
	var out []int
	for _, p := range testutil.Procs() {
		if keep(p.Pid, string(p.State), p.PPid, testutil.Exe(p.Pid)) {
			out = append(out, p.Pid)
		}
	}
	return out
}

// zombieChildren lists this process's children in state Z: children the
// supervisor failed to reap.
func zombieChildren() []int {
	me := os.Getpid()
	return procs(func(_ int, state string, ppid int, _ string) bool { return ppid == me && state == "Z" })
}

// liveHookProcs lists running processes of the test hook binary.
func liveHookProcs(bin string) []int {
	return procs(func(_ int, state string, _ int, exe string) bool {
		return state != "Z" && (exe == bin || exe == bin+" (deleted)")
	})
}

// noHookProcsLeft fails the test when a test hook process still runs
// (after a grace for asynchronous stops).
func noHookProcsLeft(t *testing.T, bin string, within time.Duration) {
	t.Helper()
	left := liveHookProcs(bin)
	for end := time.Now().Add(within); len(left) > 0 && time.Now().Before(end); left = liveHookProcs(bin) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("test hook processes still running after %v: %v", within, left)
	}
}

// logBuf is a concurrency-safe log sink a test can search.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// copyHook copies the test hook into dir with mode, for policy tests.
func copyHook(t *testing.T, bin, dir string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "hook")
	if err := os.WriteFile(p, b, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
