//go:build unix

package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := hooksupd(t, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d", args, r.code)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "hooksupd ") ||
			lines[1] != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
	if r := hooksupd(t, "", "version", "extra"); r.code != 2 {
		t.Errorf("version extra: exit %d, want 2", r.code)
	}
}

// TestVersionLdflags: a release build's -X main.version wins over the
// build info.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		testutil.SkipOrFail(t, "no go command to build with")
	}
	bin := filepath.Join(t.TempDir(), "hooksupd")
	if err := buildBinary(bin, false, "-ldflags", "-X main.version=v9.8.7"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "hooksupd v9.8.7") {
		t.Errorf("got %q", out)
	}
}

func TestHelpAndDispatch(t *testing.T) {
	r := hooksupd(t, "", "help")
	if r.code != 0 {
		t.Fatalf("help: exit %d", r.code)
	}
	for _, c := range []string{"fire", "check", "run", "version", "help"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("help does not list %s:\n%s", c, r.stdout)
		}
	}
	if r := hooksupd(t, "", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("--help: exit %d", r.code)
	}
	for _, c := range []string{"fire", "check", "run", "version"} {
		r := hooksupd(t, "", "help", c)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: hooksupd "+c) {
			t.Errorf("help %s: exit %d, %q", c, r.code, r.stdout)
		}
	}
	if r := hooksupd(t, ""); r.code != 2 || !strings.Contains(r.stderr, "Usage: hooksupd COMMAND") {
		t.Errorf("no arguments: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "", "frobnicate"); r.code != 2 || !strings.HasPrefix(r.stderr, "hooksupd: unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := hooksupd(t, "", "help", "frobnicate"); r.code != 2 {
		t.Errorf("help of an unknown command: exit %d", r.code)
	}
}
