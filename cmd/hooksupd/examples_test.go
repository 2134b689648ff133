// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestExamplesDemo runs examples/demo.sh end to end: it builds hooksupd
// and the Go example hook, renders examples/hooks.toml, runs check and
// fires every example. The script itself checks each fire's exit status.
func TestExamplesDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	if _, err := exec.LookPath("go"); err != nil {
		testutil.SkipOrFail(t, "no go command to build the demo with")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		testutil.SkipOrFail(t, "no bash")
	}
	script, err := filepath.Abs("../../examples/demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "HOOKSUPD_DEMO_BIN="+t.TempDir())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("demo.sh in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("demo.sh: %v", err)
	}
	s := string(out)
	for _, want := range []string{
		"config ", ": OK, 6 hooks (6 enabled)",
		"1. deny-secrets", "2. tagger", "3. audit-log",
		`"reviewed"`, "-> exit 3 (deny)", `"name": "recall-counter"`, "== done",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// Part 2, where caps can be enforced: an OOM kill, the pids cap, a
	// timeout that takes the grandchild along, status, a clean stop.
	if strings.Contains(s, "This host cannot enforce memory or task limits") {
		testutil.SkipOrFail(t, "the demo skipped the caps part: no usable cgroups here")
	} else {
		for _, want := range []string{`"error":"oom_killed"`, "outcome=oom_killed", "its tree reached pids_max (8 tasks)",
			`"error":"timeout"`, "no process of stuck's tree is left", "recent warnings", "fires    3 total, 3 errors (1 timeouts, 1 OOM kills)",
			"socket and lock file removed."} {
			if !strings.Contains(s, want) {
				t.Errorf("demo output lacks %q", want)
			}
		}
	}
	if !strings.Contains(s, "-> exit 4 (ask_user)") && !strings.Contains(s, "ask_user: skipped") {
		t.Errorf("demo output has neither the ask_user fire nor the note why it was skipped")
	}
}
