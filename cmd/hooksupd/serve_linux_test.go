// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// shPidDaemon is a daemon hook that writes its pid to "$0.pid" first.
const shPidDaemon = "#!/bin/sh\n" + hostPid + "\necho $me > \"$0.pid\"\nwhile read -r line; do echo '{\"action\":\"allow\"}'; done\n"

// binaryConfig writes a config with a daemon hook (pid in daemon.sh.pid)
// on pre_store and a slow exec hook on pre_delete.
func binaryConfig(t *testing.T, dir, slowSecs, server string) string {
	t.Helper()
	slow := shHook(t, dir, "slow.sh", shSlow)
	dmn := shHook(t, dir, "daemon.sh", shPidDaemon)
	return writeConfig(t, dir, server+
		hookBlock("slow", "pre_delete", slow, 1, "args = [\""+slowSecs+"\"]")+
		hookBlock("dmn", "pre_store", dmn, 1, `mode = "daemon"`))
}

// startServe runs `hooksupd serve` with env added and waits until its
// socket answers a ping.
func startServe(t *testing.T, sock string, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	testutil.RequireLinux(t)
	cmd := exec.Command(binPath, append([]string{"serve", "--log-level", "debug"}, args...)...)
	cmd.Env = append(os.Environ(), raceEnv)
	cmd.Env = append(cmd.Env, env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		checkRace(t, logs.String())
		if t.Failed() {
			t.Logf("hooksupd serve output:\n%s", logs.String())
		}
	})
	waitFor(t, 20*time.Second, "the socket to answer", func() bool {
		nc, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			return false
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte(`{"id":0,"op":"ping"}` + "\n")); err != nil {
			return false
		}
		line, _ := bufio.NewReader(nc).ReadString('\n')
		return strings.Contains(line, `"ok":true`)
	})
	return cmd, logs
}

// hookCgroupDirs returns the cgroup directories pid lives in below a
// hooksupd subtree, in every hierarchy.
func hookCgroupDirs(t *testing.T, pid int) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("cgroups of %d: %v", pid, err)
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], "/hooksupd") {
			continue
		}
		ctrls := strings.TrimPrefix(parts[1], "name=")
		var dir string
		switch {
		case ctrls == "" && fileExists("/sys/fs/cgroup/unified"):
			dir = filepath.Join("/sys/fs/cgroup/unified", parts[2])
		case ctrls == "":
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
		default:
			dir = filepath.Join("/sys/fs/cgroup", ctrls, parts[2])
		}
		if fileExists(dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// SIGTERM: stop accepting, answer the fire in flight, stop every hook
// child, remove their groups and the socket, exit 0.
func TestServeBinarySIGTERM(t *testing.T) {
	dir := testutil.HookDir(t)
	cfg := binaryConfig(t, dir, "0.5", "")
	sock := filepath.Join(dir, "s.sock")
	cmd, logs := startServe(t, sock, nil, "-c", cfg, "--socket", sock)
	pids := readPids(t, filepath.Join(dir, "daemon.sh.pid"), 1, 5*time.Second)
	dmnPid := pids[0]
	groups := hookCgroupDirs(t, dmnPid)
	if len(groups) == 0 {
		testutil.SkipOrFail(t, "the daemon child is in no hooksupd group: no cgroups here?")
	}
	t.Logf("daemon child %d in %v", dmnPid, groups)
	info, err := os.Stat(sock)
	if err != nil || info.Mode().Perm() != 0o660 || info.Mode().Type() != os.ModeSocket {
		t.Errorf("socket %s: %v %v, want a socket with mode 0660", sock, info.Mode(), err)
	}

	c := dial(t, sock)
	c.Send(`{"id":"inflight","op":"fire","event":"pre_delete"}`)
	time.Sleep(150 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := c.Recv(); r.ID() != `"inflight"` || r.Str("decision") != "deny" {
		t.Errorf("the fire in flight at SIGTERM: %s", r.Raw)
	}
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	waitGone(t, 2*time.Second, dmnPid)
	for _, g := range groups {
		if fileExists(g) {
			t.Errorf("group %s left behind", g)
		}
	}
	if fileExists(sock) {
		t.Errorf("socket %s left behind", sock)
	}
	if fileExists(sock + ".lock") {
		t.Errorf("lock file %s.lock left behind after a clean stop", sock)
	}
	if !strings.Contains(logs.String(), "hooksupd stopped") {
		t.Errorf("no clean stop in the log")
	}
}

// READY=1 once the socket listens and daemon hooks run; RELOADING=1 (with
// MONOTONIC_USEC) and READY=1 around a reload; STOPPING=1 at shutdown;
// WATCHDOG=1 when WATCHDOG_USEC is set.
func TestServeBinaryNotify(t *testing.T) {
	dir := testutil.HookDir(t)
	cfg := binaryConfig(t, dir, "0", "")
	sock := filepath.Join(dir, "s.sock")
	nsPath := filepath.Join(dir, "notify.sock")
	ns, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nsPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := ns.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	// next returns the next datagram with one of the wanted assignments,
	// skipping STATUS= refreshes and keep-alives.
	var watchdogs int
	next := func(want ...string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("notify socket closed waiting for %v", want)
				}
				for _, line := range strings.Split(m, "\n") {
					if line == "WATCHDOG=1" {
						watchdogs++
					}
					for _, w := range want {
						if line == w {
							return m
						}
					}
				}
			case <-timeout:
				t.Fatalf("no %v from hooksupd", want)
			}
		}
	}
	cmd, _ := startServe(t, sock, []string{"NOTIFY_SOCKET=" + nsPath, "WATCHDOG_USEC=300000"}, "-c", cfg, "--socket", sock)
	m := next("READY=1", "RELOADING=1", "STOPPING=1")
	if !strings.HasPrefix(m, "READY=1\n") || !strings.Contains(m, "STATUS=") {
		t.Fatalf("first state change: %q, want READY=1 with a STATUS", m)
	}
	// READY=1 comes after the daemon child was started (its exec
	// succeeded); the script's own first line, which writes the pid file,
	// may still be a scheduling delay behind. Without prestart the file
	// would never appear, since nothing fires the hook.
	waitFor(t, 5*time.Second, "the daemon hook started before READY=1", func() bool {
		return fileExists(filepath.Join(dir, "daemon.sh.pid"))
	})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	m = next("READY=1", "RELOADING=1", "STOPPING=1")
	if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("after SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m = next("READY=1", "RELOADING=1", "STOPPING=1"); !strings.HasPrefix(m, "READY=1") {
		t.Errorf("after the reload: %q, want READY=1", m)
	}
	time.Sleep(400 * time.Millisecond) // two keep-alive periods
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if m = next("READY=1", "RELOADING=1", "STOPPING=1"); !strings.HasPrefix(m, "STOPPING=1") {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", m)
	}
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if watchdogs < 2 {
		t.Errorf("%d WATCHDOG=1 with WATCHDOG_USEC=300ms over more than 400ms", watchdogs)
	}
}

// Socket activation: the socket systemd passes (LISTEN_FDS, fd 3) is used
// as is and left in place at exit, for systemd to keep listening on.
func TestServeBinarySocketActivation(t *testing.T) {
	testutil.RequireLinux(t)
	dir := testutil.HookDir(t)
	cfg := binaryConfig(t, dir, "0", "")
	sock := filepath.Join(dir, "activated.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// sh knows its own pid before it execs hooksupd in its place, so it
	// can set LISTEN_PID the way systemd does.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=hooksupd.socket exec "$0" "$@"`,
		binPath, "serve", "-c", cfg, "--socket", filepath.Join(dir, "ignored.sock"), "--log-format", "json")
	cmd.Env = append(os.Environ(), raceEnv)
	cmd.ExtraFiles = []*os.File{f}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("hooksupd serve output:\n%s", logs.String())
		}
	})
	f.Close()
	c := dial(t, sock)
	c.Ping(1)
	if r := c.RoundTrip(`{"id":2,"op":"fire","event":"pre_store"}`); r.Str("decision") != "allow" {
		t.Errorf("fire over the passed socket: %s", r.Raw)
	}
	if fileExists(filepath.Join(dir, "ignored.sock")) {
		t.Errorf("--socket was created although a socket was passed")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if !fileExists(sock) {
		t.Errorf("the passed socket was removed; systemd owns it")
	}
	checkRace(t, logs.String())
	// --log-format json: one JSON object per line, for the journal.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["msg"] == nil {
			t.Errorf("log line is not slog JSON: %q", l)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"socket activation: using the socket systemd passed"`) {
		t.Errorf("the log does not say the passed socket is used")
	}
}

// Usage and startup errors: exit 2 for usage and configuration errors
// (every error of the file printed), 1 for a socket in use.
func TestServeBinaryStartupErrors(t *testing.T) {
	testutil.RequireLinux(t)
	dir := testutil.HookDir(t)
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\nmax_inflight = 0\nmax_line_bytes = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"serve", "--log-format", "xml"}, 2, []string{"invalid log format"}},
		{[]string{"serve", "--socket", "relative.sock"}, 2, []string{"absolute path"}},
		{[]string{"serve", "extra"}, 2, []string{"unexpected argument"}},
		{[]string{"serve", "-c", bad}, 2, []string{"max_inflight: must be > 0", "max_line_bytes", "2 error(s)"}},
	}
	for _, tc := range cases {
		r := hooksupd(t, "", tc.args...)
		if r.code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, r.code, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, r.stderr)
			}
		}
	}

	// A socket something answers on is never taken over.
	cfg := binaryConfig(t, dir, "0", "")
	sock := filepath.Join(dir, "busy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := hooksupd(t, "", "serve", "-c", cfg, "--socket", sock)
	if r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("serve on a live socket: exit %d, stderr %s", r.code, r.stderr)
	}
	if fileExists(filepath.Join(dir, "daemon.sh.pid")) {
		t.Errorf("hook children were started before the socket was secured")
	}
}
