// SPDX-License-Identifier: Apache-2.0

// Package testhook finds or builds the multi-call test hook program
// (test/hooks/testhook) for tests that spawn real hook children.
package testhook

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// EnvVar names a prebuilt test hook binary. The cgroup v2 VM has no Go
// toolchain, so its harness builds the program statically beforehand.
const EnvVar = "HOOKSUPD_TEST_HOOKBIN"

const pkg = "github.com/hooksupd/hooksupd/test/hooks/testhook"

var (
	once     sync.Once
	built    string
	buildDir string
	buildErr error
)

// Path returns the absolute path of the test hook program: $HOOKSUPD_TEST_HOOKBIN
// when set, else a binary built once per test binary (CGO_ENABLED=0, so it
// is static) into a temporary directory. It fails the test when neither
// works. Call Cleanup from TestMain to remove the build directory.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvVar); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("testhook: %s=%q: %v", EnvVar, p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("testhook: %s: %v", EnvVar, err)
		}
		return abs
	}
	once.Do(build)
	if buildErr != nil {
		t.Fatalf("testhook: %v", buildErr)
	}
	return built
}

func build() {
	goBin, err := exec.LookPath("go")
	if err != nil {
		buildErr = err
		return
	}
	// MkdirTemp makes a directory owned by us, which passes strict_modes
	// policy checks (its parent, /tmp, is root-owned and sticky). It is
	// opened to everyone for reading: run as root, hooks that name no
	// user run as dynamic users.
	buildDir, err = os.MkdirTemp("", "hooksupd-testhook-")
	if err == nil {
		err = os.Chmod(buildDir, 0o755)
	}
	if err != nil {
		buildErr = err
		return
	}
	out := filepath.Join(buildDir, "testhook")
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		buildErr = &buildError{err: err, output: string(msg)}
		return
	}
	built = out
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string {
	return "go build " + pkg + ": " + e.err.Error() + "\n" + e.output
}

// Cleanup removes the directory Path built into, if any. Call it at the
// end of TestMain.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}
