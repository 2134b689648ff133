// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// The [hook.sandbox] isolation options, each tried by a hostile probe (see
// sandbox_linux_test.go).

// TestSandboxPrivateNetwork: a hook with private_network cannot reach a
// listener on the host's 127.0.0.1, and has a working loopback of its
// own.
func TestSandboxPrivateNetwork(t *testing.T) {
	b := lxSandboxBackend(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := lxProbeSpec(t, nil, "connect", l.Addr().String())
	if got := lxRunProbe(t, b, open); got != "ok" {
		t.Fatalf("without private_network the listener is unreachable: %s", got)
	}
	for _, cred := range []*Credential{nil, {UID: dynUID, GID: dynUID}} {
		spec := lxProbeSpec(t, cred, "connect", l.Addr().String())
		spec.Sandbox.PrivateNetwork = true
		lxRefused(t, "connect to the host's 127.0.0.1", lxRunProbe(t, b, spec), unix.ECONNREFUSED)
		lo := lxProbeSpec(t, cred, "loopback")
		lo.Sandbox.PrivateNetwork = true
		if got := lxRunProbe(t, b, lo); got != "ok" {
			t.Errorf("own loopback: %s", got)
		}
	}
}

// TestSandboxPrivateTmp: a hook with private_tmp sees an empty /tmp, and
// what it writes there does not reach the host's.
func TestSandboxPrivateTmp(t *testing.T) {
	b := lxSandboxBackend(t)
	marker, err := os.CreateTemp("/tmp", "hooksupd-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	spec := &Spec{Pipes: PipeAll, Name: "tmp", Path: "/bin/sh", Args: []string{"-c", `ls -A /tmp; echo x > /tmp/hooksupd-private-probe && echo wrote`},
		Env: []string{"PATH=/usr/bin:/bin"}}
	spec.Sandbox.PrivateTmp = true
	got := lxRunProbe(t, b, spec)
	if got != "wrote" {
		t.Errorf("private /tmp: %q, want only \"wrote\" (empty, writable)", got)
	}
	if _, err := os.Stat("/tmp/hooksupd-private-probe"); err == nil {
		os.Remove("/tmp/hooksupd-private-probe")
		t.Error("a file written to the private /tmp reached the host's")
	}
}

// TestSandboxProtectSystem: protect_system = "full" refuses writes to
// /etc; "strict" refuses them everywhere but read_write_paths and the API
// file systems.
func TestSandboxProtectSystem(t *testing.T) {
	b := lxSandboxBackend(t)
	etc := fmt.Sprintf("/etc/hooksupd-probe-%d", os.Getpid())
	defer os.Remove(etc)
	full := lxProbeSpec(t, nil, "create", etc)
	full.Sandbox.ProtectSystem = "full"
	lxRefused(t, "write /etc with protect_system=full", lxRunProbe(t, b, full), unix.EROFS)

	rw := t.TempDir()
	ro := t.TempDir()
	for _, c := range []struct {
		path string
		want error
	}{{filepath.Join(rw, "f"), nil}, {filepath.Join(ro, "f"), unix.EROFS}, {etc, unix.EROFS}} {
		spec := lxProbeSpec(t, nil, "create", c.path)
		spec.Sandbox.ProtectSystem = "strict"
		spec.Sandbox.ReadWritePaths = []string{rw}
		got := lxRunProbe(t, b, spec)
		if c.want == nil {
			if got != "ok" {
				t.Errorf("strict, %s in read_write_paths: %s", c.path, got)
			}
			continue
		}
		lxRefused(t, "strict, "+c.path, got, c.want)
	}
	dev := lxProbeSpec(t, nil, "write", "/dev/null", "x")
	dev.Sandbox.ProtectSystem = "strict"
	if got := lxRunProbe(t, b, dev); got != "ok" {
		t.Errorf("strict: /dev/null: %s", got)
	}
}

// TestSandboxPathRules: inaccessible_paths hides a directory,
// read_only_paths refuses writes, protect_home = "tmpfs" empties /root.
func TestSandboxPathRules(t *testing.T) {
	b := lxSandboxBackend(t)
	hidden, rodir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(hidden, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := lxProbeSpec(t, nil, "read", filepath.Join(hidden, "secret"))
	spec.Sandbox.InaccessiblePaths = []string{hidden}
	got := lxRunProbe(t, b, spec)
	if !strings.HasPrefix(got, "err:") {
		t.Errorf("inaccessible path read: %s", got)
	}
	ro := lxProbeSpec(t, nil, "create", filepath.Join(rodir, "f"))
	ro.Sandbox.ReadOnlyPaths = []string{rodir}
	lxRefused(t, "read_only_paths", lxRunProbe(t, b, ro), unix.EROFS)

	home := lxProbeSpec(t, nil, "ls", "/root")
	home.Sandbox.ProtectHome = "tmpfs"
	if got := lxRunProbe(t, b, home); got != "ls:" {
		t.Errorf("protect_home=tmpfs: /root lists %q, want nothing", got)
	}
	hide := lxProbeSpec(t, nil, "ls", "/root")
	hide.Sandbox.ProtectHome = "true"
	lxRefused(t, "protect_home=true", lxRunProbe(t, b, hide), unix.EACCES)

	for _, bad := range []Sandbox{{ProtectSystem: "yes please"}, {ReadOnlyPaths: []string{"relative"}}, {ProtectHome: "maybe"}} {
		s := lxProbeSpec(t, nil, "caps")
		s.Sandbox = bad
		if _, err := b.Start(context.Background(), s); err == nil {
			t.Errorf("sandbox %+v accepted", bad)
		}
	}
}

// TestSandboxNotSupported: what the backend cannot provide (here: no
// launcher) fails Start with ErrNotSupported naming the option, unless
// allow_unsandboxed.
func TestSandboxNotSupported(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{direct: true})
	spec := lxSh("exit 0")
	spec.Credential = &Credential{UID: dynUID, GID: dynUID}
	spec.Sandbox.PrivateNetwork = true
	_, err := b.Start(context.Background(), spec)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "private_network") {
		t.Fatalf("private_network without a launcher: %v, want ErrNotSupported naming it", err)
	}
	spec.Sandbox.AllowUnsandboxed = true
	p := lxStart(t, b, spec)
	p.Stdin().Close()
	io.Copy(io.Discard, p.Stdout())
	if st := lxWait(t, p, 5*time.Second); !st.Success() {
		t.Errorf("allow_unsandboxed: %v", st)
	}
}

// TestSandboxSystemCallFilter: a denied system call fails with EPERM, or
// kills the hook with SIGSYS on request; an allow list of
// @system-service runs a Go program; bad entries fail Start.
func TestSandboxSystemCallFilter(t *testing.T) {
	b := lxSandboxBackend(t)
	for _, c := range []struct {
		filter []string
		want   string
	}{
		{[]string{"~getcwd"}, "err: operation not permitted"},
		{[]string{"~@mount", "~getcwd"}, "err: operation not permitted"},
		{[]string{"@system-service"}, "ok"},
		{[]string{"@system-service", "~getcwd"}, "err: operation not permitted"},
		{[]string{"~@mount"}, "ok"},
	} {
		spec := lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "getcwd")
		spec.Sandbox.SystemCallFilter = c.filter
		if got := lxRunProbe(t, b, spec); got != c.want {
			t.Errorf("filter %q: getcwd %q, want %q", c.filter, got, c.want)
		}
	}
	kill := lxProbeSpec(t, nil, "getcwd")
	kill.Sandbox.SystemCallFilter = []string{"~getcwd"}
	kill.Sandbox.SystemCallErrorNumber = "kill"
	p := lxStart(t, b, kill)
	p.Stdin().Close()
	lxReadAll(t, p.Stdout(), 10*time.Second)
	if st := lxWait(t, p, 10*time.Second); st.Signal != syscall.SIGSYS {
		t.Errorf("denied call with kill: %v, want SIGSYS", st)
	}
	for _, bad := range [][]string{{"~no_such_call"}, {"@no-such-group"}, {"~"}} {
		s := lxProbeSpec(t, nil, "getcwd")
		s.Sandbox.SystemCallFilter = bad
		if _, err := b.Start(context.Background(), s); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

// TestSandboxPrivatePIDs: with private_pids a hook is PID 1 of its own
// namespace and its /proc shows only its own tree.
func TestSandboxPrivatePIDs(t *testing.T) {
	b := lxSandboxBackend(t)
	spec := &Spec{Pipes: PipeAll, Name: "pids", Path: "/bin/sh", Env: []string{"PATH=/usr/bin:/bin"},
		Args: []string{"-c", `echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done | sort -n | tr '\n' ' '`}}
	spec.Sandbox.PrivatePIDs = true
	got := lxRunProbe(t, b, spec)
	self, list, _ := strings.Cut(got, "\n")
	if self != "1" {
		t.Errorf("pid inside: %q, want 1", self)
	}
	// sh, and the subshells of the pipeline (for, sort, tr): nothing else.
	for _, f := range strings.Fields(list) {
		if n, _ := strconv.Atoi(f); n > 10 {
			t.Errorf("/proc shows pid %d: not the hook's own tree (%s)", n, list)
		}
	}
	if !strings.HasPrefix(list, "1 ") {
		t.Errorf("/proc: %q, want the hook as 1 first", list)
	}
}

// TestSandboxLandlock: a supervisor that may not build mount namespaces
// (simulated) enforces protect_system = "strict" with read_write_paths
// through Landlock, and refuses what Landlock cannot express.
func TestSandboxLandlock(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{noNamespaces: true})
	if b.exe == nil {
		testutil.SkipOrFail(t, "no launcher: %s", b.exeNote)
	}
	fd, err := landlockRuleset(nil)
	if err != nil {
		testutil.SkipOrFail(t, "%v", err)
	}
	unix.Close(fd)
	rw, ro := t.TempDir(), t.TempDir()
	// Writable for the probe's uid by their modes: only Landlock refuses.
	for _, d := range []string{rw, ro, filepath.Dir(rw)} {
		os.Chmod(d, 0o777)
	}
	user := &Credential{UID: dynUID, GID: dynUID}
	for _, c := range []struct {
		path string
		want error
	}{{filepath.Join(rw, "f"), nil}, {filepath.Join(ro, "f"), unix.EACCES}} {
		spec := lxProbeSpec(t, user, "create", c.path)
		spec.Sandbox.ProtectSystem = "strict"
		spec.Sandbox.ReadWritePaths = []string{rw}
		got := lxRunProbe(t, b, spec)
		if c.want == nil {
			if got != "ok" {
				t.Errorf("landlock strict, %s in read_write_paths: %s", c.path, got)
			}
			continue
		}
		lxRefused(t, "landlock strict, "+c.path, got, c.want)
	}
	dev := lxProbeSpec(t, user, "write", "/dev/null", "x")
	dev.Sandbox.ProtectSystem = "strict"
	if got := lxRunProbe(t, b, dev); got != "ok" {
		t.Errorf("landlock strict: /dev/null: %s", got)
	}
	tmp := lxProbeSpec(t, user, "caps")
	tmp.Sandbox.PrivateTmp = true
	if _, err := b.Start(context.Background(), tmp); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "private_tmp") {
		t.Errorf("private_tmp without namespaces: %v, want ErrNotSupported naming it", err)
	}
}
