// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestRunSandboxFlags: run's sandbox flags reach the command, and run
// keeps the caller's capabilities unless --capability narrows them.
func TestRunSandboxFlags(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.SkipOrFail(t, "needs root")
	}
	r := hooksupd(t, "", "run", "--", "sh", "-c", "grep CapEff /proc/self/status")
	if r.code != 0 || strings.Contains(r.stdout, "0000000000000000") {
		t.Errorf("plain run as root: exit %d, %q: want the caller's capabilities", r.code, r.stdout)
	}
	r = hooksupd(t, "", "run", "--capability", "CAP_NET_BIND_SERVICE", "--private-network", "--protect-system=strict", "--",
		"sh", "-c", "grep CapEff /proc/self/status; touch /etc/hooksupd-run-probe || echo refused; grep -c : /proc/net/dev")
	if want := "CapEff:\t0000000000000400\nrefused\n1\n"; r.code != 0 || r.stdout != want {
		t.Errorf("sandboxed run: exit %d, stdout %q, want %q (stderr %s)", r.code, r.stdout, want, r.stderr)
	}
	os.Remove("/etc/hooksupd-run-probe")
	if r := hooksupd(t, "", "run", "--protect-system=maybe", "--", "true"); r.code != exitRunOwnError {
		t.Errorf("--protect-system=maybe: exit %d", r.code)
	}
	if r := hooksupd(t, "", "run", "--backend", "portable", "--private-tmp", "--", "true"); r.code != exitRunOwnError || !strings.Contains(r.stderr, "private_tmp") {
		t.Errorf("portable --private-tmp: exit %d, stderr %q", r.code, r.stderr)
	}
}
