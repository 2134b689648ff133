// SPDX-License-Identifier: Apache-2.0

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
		if !strings.HasPrefix(lines[0], "hooksupd ") || strings.Count(lines[0], " ") != 1 {
			t.Errorf("%v: first line %q, want \"hooksupd VERSION\"", args, lines[0])
		}
		fields := versionFields(t, lines[1:])
		if got, want := fields["go"], runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH; got != want {
			t.Errorf("%v: go %q, want %q", args, got, want)
		}
		if fields["commit"] == "" {
			t.Errorf("%v: no commit line:\n%s", args, r.stdout)
		}
		if runtime.GOOS == "linux" {
			for _, k := range []string{"kernel", "cgroup", "pidfd", "launcher"} {
				if fields[k] == "" {
					t.Errorf("%v: no %s line:\n%s", args, k, r.stdout)
				}
			}
			if !strings.HasPrefix(fields["pidfd"], "yes") && !strings.HasPrefix(fields["pidfd"], "no: ") {
				t.Errorf("pidfd %q", fields["pidfd"])
			}
		}
	}
	if r := hooksupd(t, "", "version", "extra"); r.code != 2 {
		t.Errorf("version extra: exit %d, want 2", r.code)
	}
}

// versionFields parses the "key  value" lines after the first.
func versionFields(t *testing.T, lines []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, " ")
		if !ok || k == "" {
			t.Errorf("malformed version line %q", l)
			continue
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// TestVersionLdflags: a release build's -X main.version and -X main.commit
// win over the build info.
func TestVersionLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		testutil.SkipOrFail(t, "no go command to build with")
	}
	bin := filepath.Join(t.TempDir(), "hooksupd")
	if err := buildBinary(bin, false, "-ldflags", "-X main.version=v9.8.7 -X main.commit=0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != "hooksupd v9.8.7" {
		t.Errorf("first line %q", lines[0])
	}
	// The commit is cut to 12 hex digits; a dirty tree's "(modified)"
	// may follow it.
	if c := versionFields(t, lines[1:])["commit"]; !strings.HasPrefix(c, "0123456789ab") || strings.HasPrefix(c, "0123456789abc") {
		t.Errorf("commit %q, want 0123456789ab", c)
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
