// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/service"
)

// `hooksupd status` against a running service: the table, --json, the
// socket taken from the config's [server] socket, and a clear failure
// when nothing listens.
func TestStatusCommand(t *testing.T) {
	dir := testutil.HookDir(t)
	sock := filepath.Join(dir, "s.sock")
	cfg := binaryConfig(t, dir, "0", "[server]\nsocket = \""+sock+"\"\n\n")
	startServe(t, sock, nil, "-c", cfg)
	c := dial(t, sock)
	c.RoundTrip(`{"id":1,"op":"fire","event":"pre_store"}`)

	r := hooksupd(t, "", "status", "--socket", sock)
	if r.code != 0 {
		t.Fatalf("status: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"HOOK", "P50", "dmn", "pre_store", "daemon", "up (pid ", "slow", "pre_delete", "idle",
		"backend linux", "cgroup mode", "kill", "2 connections open"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = hooksupd(t, "", "status", "-c", cfg, "--json")
	var st service.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
		t.Fatalf("status -c --json: exit %d, %v:\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(st.Hooks) != 2 || st.Hooks[1].Name != "dmn" || st.Hooks[1].Fires != 1 {
		t.Errorf("status --json hooks: %+v", st.Hooks)
	}

	r = hooksupd(t, "", "status", "--socket", filepath.Join(dir, "nothing.sock"))
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach hooksupd at") || !strings.Contains(r.stderr, "is the service running?") {
		t.Errorf("unreachable: exit %d, stderr %q", r.code, r.stderr)
	}
}

// `hooksupd status` run by a user who may connect (the socket's group) but
// is neither root nor the service's user is refused, and says so.
func TestStatusCommandForbidden(t *testing.T) {
	testutil.RequireRoot(t)
	grp, err := user.LookupGroupId("65534")
	if err != nil {
		testutil.SkipOrFail(t, "no group 65534: %v", err)
	}
	dir, err := os.MkdirTemp("", "hooksupd-status-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	cfg := binaryConfig(t, dir, "0", "[server]\nsocket_group = \""+grp.Name+"\"\n\n")
	startServe(t, sock, nil, "-c", cfg, "--socket", sock)
	bin := filepath.Join(dir, "hooksupd")
	data, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := exec.Command(bin, "status", "--socket", sock)
	sc.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
	sc.Env = append(os.Environ(), raceEnv)
	out, err := sc.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "forbidden") {
		t.Errorf("hooksupd status as uid 65534: %v\n%s", err, out)
	}
}
