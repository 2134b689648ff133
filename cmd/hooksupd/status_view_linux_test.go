// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/service"
)

// `hooksupd status` answers "what runs, since when, what failed": the
// start time, service-wide totals and resources, each hook's process tree
// (the daemon's child with its pid and command), and the failing hook's
// recent warnings with the fire id of its traced reply.
func TestStatusTreesTotalsWarnings(t *testing.T) {
	dir := testutil.HookDir(t)
	sock := filepath.Join(dir, "s.sock")
	writeExec(t, dir, "fail.sh", "#!/bin/sh\ncat >/dev/null\necho broken >&2\nexit 5\n")
	dmn := shHook(t, dir, "daemon.sh", shPidDaemon)
	cfg := writeConfig(t, dir, "[server]\nsocket = \""+sock+"\"\n\n"+
		hookBlock("flaky", "pre_delete", filepath.Join(dir, "fail.sh"), 1)+
		hookBlock("dmn", "pre_store", dmn, 1, `mode = "daemon"`))
	startServe(t, sock, nil, "-c", cfg)
	dmnPid := readPids(t, filepath.Join(dir, "daemon.sh.pid"), 1, 5e9)[0]

	r := hooksupd(t, "", "fire", "--socket", sock, "--trace", "pre_delete")
	id, _ := decodeWire(t, r.stdout)["fire_id"].(string)
	if r.code != 0 || id == "" {
		t.Fatalf("fire: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	hooksupd(t, "", "fire", "--socket", sock, "pre_store")

	r = hooksupd(t, "", "status", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	out := r.stdout
	for _, re := range []string{
		`(?m)^hooksupd \S+, pid \d+, since \w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+; up `,
		`(?m)^fires    2 total, 1 errors \(0 timeouts, 0 OOM kills\): allow=1 exit=1$`,
		`(?m)^service  memory [0-9.]+[KMG], tasks [1-9]\d*, CPU \S+ \(`,
		`(?m)^  dmn \(daemon\): `,
		`(?m)^    └─` + strconv.Itoa(dmnPid) + ` /bin/sh .*daemon\.sh$`,
		`(?m)^recent warnings \(last \d+ per hook\)$`,
		`(?m)^  flaky:$`,
		`(?m)^    \d\d:\d\d:\d\d WARN hooks: chain hook errored; fail_mode=open, treating as Allow outcome=exit fire_id=` + regexp.QuoteMeta(id) + ` err=`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status output does not match %s", re)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("status:\n%s", out)
	}

	r = hooksupd(t, "", "status", "--socket", sock, "--json")
	var st service.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.StartedAt == "" || st.Totals.Fires != 2 || st.Resources.Tasks == 0 {
		t.Errorf("status json: started %q totals %+v resources %+v", st.StartedAt, st.Totals, st.Resources)
	}
	for _, h := range st.Hooks {
		if h.Name == "flaky" && (h.MemoryPeakAvgBytes <= 0 || len(h.State.Warnings) == 0) {
			t.Errorf("flaky: memory peak %d, warnings %v", h.MemoryPeakAvgBytes, h.State.Warnings)
		}
	}

	// --watch: views follow one another off a terminal, rates from the
	// second on.
	r = hooksupd(t, "", "status", "--socket", sock, "--watch", "--interval", "200ms", "--count", "2")
	if r.code != 0 || strings.Count(r.stdout, "FIRES/S") != 2 {
		t.Fatalf("watch: exit %d, stderr %q:\n%s", r.code, r.stderr, r.stdout)
	}
	views := strings.SplitN(r.stdout, "\n\nhooksupd ", 2)
	if len(views) != 2 || !regexp.MustCompile(`(?m)^dmn +pre_store +daemon +0\.0 `).MatchString(views[1]) ||
		!regexp.MustCompile(`fires/s 0\.0 errors/s 0\.0`).MatchString(views[1]) {
		t.Errorf("second watch view lacks rates:\n%s", r.stdout)
	}
	if r := hooksupd(t, "", "status", "--socket", sock, "--watch", "--json"); r.code != 2 {
		t.Errorf("--watch --json: exit %d", r.code)
	}
}
