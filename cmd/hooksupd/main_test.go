// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"go.uber.org/goleak"
)

// binPath is the hooksupd binary built once by TestMain; every test runs
// it as a user would.
var binPath string

func TestMain(m *testing.M) {
	// A prebuilt binary (a VM without a Go toolchain) can be tested as is.
	if bin := os.Getenv("HOOKSUPD_TEST_HOOKSUPD"); bin != "" {
		binPath = bin
		goleak.VerifyTestMain(m)
		return
	}
	dir, err := os.MkdirTemp("", "hooksupd-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "hooksupd")
	if err := buildBinary(binPath, raceEnabled); err != nil {
		fmt.Fprintln(os.Stderr, "building hooksupd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// buildBinary builds this package into out; race builds it with the race
// detector when the tests themselves run with it, so races in the binary
// surface too.
func buildBinary(out string, race bool, extra ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command on PATH to build hooksupd with (or set HOOKSUPD_TEST_HOOKSUPD to a built binary): %w", err)
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, extra...)
	args = append(args, ".")
	cmd := exec.Command(goBin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// hooksupd runs the binary with args and stdin, bounded by limit.
func hooksupd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return hooksupdEnv(t, nil, stdin, args...)
}

// hooksupdEnv is hooksupd with extra environment variables.
func hooksupdEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(os.Environ(), "HOOKSUPD_CONFIG=/nonexistent/hooksupd-test.toml", raceEnv)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("hooksupd %v was killed by %v (ctx: %v)\nstderr:\n%s", args, ws.Signal(), ctx.Err(), r.stderr)
		}
	default:
		t.Fatalf("hooksupd %v: %v", args, err)
	}
	t.Logf("hooksupd %s -> exit %d in %v\nstdout: %s\nstderr: %s",
		strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
	checkRace(t, r.stderr)
	return r
}

// raceEnv stops a race-enabled binary from sleeping a second at exit
// (the race runtime's atexit_sleep_ms default), which would otherwise add
// a second to every successful invocation.
const raceEnv = "GORACE=atexit_sleep_ms=0"

// checkRace fails the test when the binary's stderr has a race report.
func checkRace(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a race in hooksupd:\n%s", stderr)
	}
}

// startHooksupd starts the binary without waiting (for signal tests).
func startHooksupd(t *testing.T, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), raceEnv)
	cmd.Stdin = strings.NewReader(stdin)
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

// waitExit waits for cmd with a bound and returns its exit status.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait: %v", err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("hooksupd did not exit within %v", limit)
		return -1
	}
}

// The shared helpers, under the names these tests use.
var (
	writeExec   = testutil.WriteExec
	writeConfig = testutil.WriteConfig
	hookBlock   = testutil.HookBlock
	alive       = testutil.Alive
	waitGone    = testutil.WaitGone
	readPids    = testutil.ReadPids
	mkdir       = testutil.Mkdir
	dial        = testutil.Dial
	waitFor     = testutil.WaitFor
	shHook      = testutil.WriteExec
	fileExists  = testutil.FileExists
)

type syncBuffer = testutil.SyncBuffer

const (
	shSlow   = testutil.ShSlow
	shDaemon = testutil.ShDaemon
)
