// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sandboxIsolation is the [hook.sandbox] of row 10's sandboxed hook, and
// bwrapIsolation the same isolation in bwrap's words (bwrap has no
// seccomp group syntax: its variant runs without the filter).
const sandboxIsolation = `private_network = true
private_tmp = true
private_pids = true
protect_system = "strict"
protect_home = true
system_call_filter = ["@system-service"]`

var bwrapIsolation = []string{"bwrap", "--unshare-net", "--unshare-pid", "--die-with-parent",
	"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
	"--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/home", "--tmpfs", "/root", "--tmpfs", "/run/user"}

// rowSandbox is row 10: what a fully sandboxed exec hook costs per fire
// (namespaces, mounts and the seccomp filter prepared with the launcher,
// off the fire), against the same hook unsandboxed and against bwrap
// building the same isolation for every run.
func (b *bench) rowSandbox(context.Context) error {
	child, cleanup, err := visibleInSandbox(b.bin.cAllow)
	if err != nil {
		return err
	}
	defer cleanup()
	defs := []hookDef{
		{name: "sb-plain", event: execEvent, command: child, mode: "exec"},
		{name: "sb-full", event: execEvent, command: child, mode: "exec", sandbox: sandboxIsolation},
	}
	cfg, _, err := configOf(defs, "")
	if err != nil {
		return err
	}
	st, err := newStack(cfg)
	if err != nil {
		return err
	}
	defer st.close()
	pay, envb := envelopeOf(execEvent, size200B)
	hook := func(name, h string, base bool) (*variant, error) {
		ex, err := st.executor(h)
		if err != nil {
			return nil, err
		}
		return &variant{name: name, base: base, run: func(n int) (batch, error) {
			return measure(n, func() error { return fireOnce(ex, execEvent, pay) })
		}}, nil
	}
	plain, err := hook("hooksupd exec executor, no sandbox", "sb-plain", true)
	if err != nil {
		return err
	}
	full, err := hook("hooksupd exec executor, sandboxed: "+
		"private_network, private_tmp, private_pids, protect_system=strict, protect_home, system_call_filter=@system-service", "sb-full", false)
	if err != nil {
		return fmt.Errorf("%w: the sandboxed hook cannot run here: %v", errSkip, err)
	}
	vs := []*variant{plain, full}
	if _, err := exec.LookPath("bwrap"); err == nil {
		vs = append(vs, runVariant("bwrap with the same namespaces and mounts (fresh process per run, no seccomp filter)", false,
			bwrapIsolation, child, envb))
	} else {
		b.note("row 10: bwrap not installed: left out")
	}
	if err := interleave(vs, b.counts(50, 5), b.counts(10, 2), b.counts(50, 10)); err != nil {
		return err
	}
	group := "sandboxed exec 200 B, C child"
	base := rowFrom("10", group, plain.name, true, &plain.s)
	fr := rowFrom("10", group, full.name, false, &full.s)
	fr.Ratio = ratio(fr.P50, base.P50, "p50")
	fr.Target = "p50 ≤ 1.10× unsandboxed; ≥ 3× cheaper than bwrap"
	rows := []Row{base, fr}
	ok := fr.P50 <= 1.10*base.P50
	if len(vs) > 2 {
		br := rowFrom("10", group, vs[2].name, false, &vs[2].s)
		br.Ratio = ratio(br.P50, base.P50, "p50")
		fr.Note = ratio(fr.P50, br.P50, "of bwrap p50")
		ok = ok && 3*fr.P50 <= br.P50
		rows = []Row{base, fr, br}
	}
	fr.Met = met(ok)
	rows[1] = fr
	b.rows = append(b.rows, rows...)
	return nil
}

// visibleInSandbox returns a path of the program that the row's sandbox
// still shows: private_tmp and protect_home (and bwrap's tmpfs mounts)
// hide /tmp, /var/tmp, /home, /root and /run/user, where a checkout (a CI
// clone in /tmp, say) may keep the built children. Such a program is
// copied to a directory of its own under /var/lib for the row.
func visibleInSandbox(path string) (string, func(), error) {
	for _, hidden := range []string{"/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/"} {
		if !strings.HasPrefix(path, hidden) {
			continue
		}
		dir, err := os.MkdirTemp("/var/lib", "hooksupd-bench-")
		if err != nil {
			return "", nil, err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		dst := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		return dst, func() { os.RemoveAll(dir) }, nil
	}
	return path, func() {}, nil
}
