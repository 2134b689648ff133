// SPDX-License-Identifier: Apache-2.0

// Package testutil holds helpers shared by hooksupd's tests: capability
// gates that skip on a developer machine but fail under CI, and leak checks.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true). There, a missing
// capability is a failure, never a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test on a developer machine and fails it under CI,
// where every capability the suite needs must be present.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required capability missing under CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot calls SkipOrFail unless the test runs as root on Linux.
func RequireRoot(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		SkipOrFail(t, "needs Linux, running on %s", runtime.GOOS)
		return
	}
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root")
	}
}

// RequireLinux calls SkipOrFail unless the test runs on Linux.
func RequireLinux(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		SkipOrFail(t, "needs Linux, running on %s", runtime.GOOS)
	}
}

// HookDir is a temporary directory, removed when the test ends, that any
// uid may enter, read and write (mode 1777, like /tmp; its parent 0755).
// Hooks that name no user run as a dynamic user when the tests run as
// root, and t.TempDir is private to the test's own uid: hook programs and
// the files hooks write belong here. (strict_modes refuses commands in
// it, as it refuses them in /tmp.)
func HookDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o755}, {dir, 0o1777}} {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
