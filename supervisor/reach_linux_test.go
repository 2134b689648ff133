// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// What keeps a hook from the supervisor itself (reach_linux.go): a hidden
// control socket directory and a hidepid /proc.

// TestSandboxControlSocketHidden: with the socket's directory in
// HiddenPaths, a uid 0 hook (mount namespace) finds it empty and
// inaccessible, also under protect_system = "strict" that lists it
// writable; a
// hook of another uid (no mount namespace) is refused by the socket's
// mode 0660; nothing reaches the listener.
func TestSandboxControlSocketHidden(t *testing.T) {
	dir, err := os.MkdirTemp("", "hooksupd-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	// After the backends' Close: their launchers are prepared with it.
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := lxSandboxBackend(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- struct{}{}
			c.Close()
		}
	}()
	// Without the hiding, a uid 0 hook owns the socket's mode bits.
	if r := lxRunProbe(t, b, lxProbeSpec(t, nil, "unix", sock)); r != "ok" {
		t.Fatalf("control: a uid 0 hook without HiddenPaths: %s, want it to connect", r)
	}
	<-got
	b2 := lxSandboxBackend(t)
	b2.hidden = []string{dir}
	lxRefused(t, "uid 0 hook", lxRunProbe(t, b2, lxProbeSpec(t, nil, "unix", sock)), unix.EACCES)
	strict := lxProbeSpec(t, nil, "unix", sock)
	strict.Sandbox.ProtectSystem = "strict"
	strict.Sandbox.ReadWritePaths = []string{dir}
	lxRefused(t, "uid 0 hook, strict with the directory writable", lxRunProbe(t, b2, strict), unix.EACCES)
	lxRefused(t, "dynamic uid", lxRunProbe(t, b2, lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "unix", sock)), unix.EACCES)
	select {
	case <-got:
		t.Error("a hidden or refused hook reached the listener")
	default:
	}
	if _, err := checkHiddenPaths([]string{"/run"}); err == nil {
		t.Error("HiddenPaths accepted /run")
	}
	if _, err := newLinux(Options{HiddenPaths: []string{"relative"}}, linuxConfig{subtree: lxSubtree()}); err == nil {
		t.Error("newLinux accepted a relative hidden path")
	}
}

// TestSandboxProcHidden: a uid 0 hook lists in /proc only processes it
// may ptrace (itself, other capability-less uid 0 processes), not the
// supervisor, not PID 1, not the kernel's threads; host pids as without the mount (/proc/self names its host
// pid). A hook with private_pids keeps its own PID namespace's /proc.
func TestSandboxProcHidden(t *testing.T) {
	b := lxSandboxBackend(t)
	sup := strconv.Itoa(os.Getpid())
	got := lxRunProbe(t, b, lxProbeSpec(t, nil, "ls", "/proc"))
	pids := map[string]bool{}
	for _, f := range strings.Fields(strings.TrimPrefix(got, "ls:")) {
		if _, err := strconv.Atoi(f); err == nil {
			pids[f] = true
		}
	}
	if pids[sup] || pids["1"] || pids["2"] {
		t.Errorf("a uid 0 hook's /proc lists the supervisor, init or kthreadd: %v", pids)
	}
	if len(pids) == 0 {
		t.Errorf("a uid 0 hook's /proc lists no process, not even itself")
	}
	// Whatever else it lists must be a process it may ptrace: uid 0
	// without capabilities (another such hook, on a shared host), or gone.
	for p := range pids {
		st, err := os.ReadFile("/proc/" + p + "/status")
		if err != nil {
			continue
		}
		if !strings.Contains(string(st), "\nCapPrm:\t0000000000000000\n") || !strings.Contains(string(st), "\nUid:\t0\t0\t0\t0\n") {
			t.Errorf("a uid 0 hook's /proc lists pid %s, which it may not ptrace:\n%s", p, st)
		}
	}
	lxRefused(t, "status of the supervisor", lxRunProbe(t, b, lxProbeSpec(t, nil, "read", "/proc/"+sup+"/status")), unix.ENOENT)
	self := lxRunProbe(t, b, lxProbeSpec(t, nil, "read", "/proc/self/status"))
	if self != "ok" {
		t.Errorf("own /proc/self/status: %s", self)
	}
	// A dynamic uid with a file-system option is in a mount namespace too.
	dyn := lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "read", "/proc/"+sup+"/cmdline")
	dyn.Sandbox.ProtectSystem = "true"
	lxRefused(t, "cmdline of the supervisor, dynamic uid with protect_system", lxRunProbe(t, b, dyn), unix.ENOENT)
}
