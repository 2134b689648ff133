// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"

	"github.com/hooksupd/hooksupd/supervisor"
)

// runSandboxFlags are the [hook.sandbox] options of `hooksupd run`, with
// systemd's names as flags (see docs/sandbox.md).
type runSandboxFlags struct {
	privateNetwork, privateTmp, privatePIDs, allowUnsandboxed bool
	protectSystem, protectHome, syscallError                  string
	readWrite, readOnly, inaccessible, syscalls, caps         stringList
}

func addRunSandboxFlags(fs *flagSet) *runSandboxFlags {
	f := &runSandboxFlags{}
	fs.BoolVar(&f.privateNetwork, "private-network", false, "give CMD its own network namespace with only loopback")
	fs.BoolVar(&f.privateTmp, "private-tmp", false, "give CMD its own empty /tmp and /var/tmp")
	fs.BoolVar(&f.privatePIDs, "private-pids", false, "give CMD its own PID namespace and /proc")
	fs.StringVar(&f.protectSystem, "protect-system", "", "make /usr and /boot read-only (`MODE` true), and /etc (full), or everything (strict)")
	fs.StringVar(&f.protectHome, "protect-home", "", "make /home, /root and /run/user inaccessible (`MODE` true), read-only or tmpfs")
	fs.Var(&f.readWrite, "read-write", "keep `PATH` writable under --protect-system; repeatable")
	fs.Var(&f.readOnly, "read-only", "make `PATH` read-only; repeatable")
	fs.Var(&f.inaccessible, "inaccessible", "hide the directory `PATH`; repeatable")
	fs.Var(&f.syscalls, "system-call-filter", "seccomp filter `LIST` in systemd's syntax (\"@system-service ~@mount\"); repeatable")
	fs.StringVar(&f.syscallError, "system-call-error-number", "", "what a denied call gets: `EPERM` (default) or kill")
	fs.Var(&f.caps, "capability", "keep capability `NAME` (or ALL); repeatable. Default for run: ALL, as for any command the caller starts")
	fs.BoolVar(&f.allowUnsandboxed, "allow-unsandboxed", false, "run even when the backend cannot provide the sandbox options")
	return f
}

// sandbox is the Spec's Sandbox. `run` keeps the caller's user and, unless
// --capability narrows them, the caller's capabilities, as systemd-run
// does; the isolation options are opt-in.
func (f *runSandboxFlags) sandbox() (supervisor.Sandbox, error) {
	sb := supervisor.Sandbox{
		Capabilities:          []string(f.caps),
		PrivateNetwork:        f.privateNetwork,
		PrivateTmp:            f.privateTmp,
		PrivatePIDs:           f.privatePIDs,
		ProtectSystem:         boolWord(f.protectSystem),
		ProtectHome:           boolWord(f.protectHome),
		ReadWritePaths:        []string(f.readWrite),
		ReadOnlyPaths:         []string(f.readOnly),
		InaccessiblePaths:     []string(f.inaccessible),
		SystemCallErrorNumber: f.syscallError,
		AllowUnsandboxed:      f.allowUnsandboxed,
	}
	if len(sb.Capabilities) == 0 {
		sb.Capabilities = []string{"ALL"}
	}
	for _, l := range f.syscalls {
		sb.SystemCallFilter = append(sb.SystemCallFilter, strings.Fields(l)...)
	}
	return sb, sb.Validate()
}

// boolWord maps systemd's boolean spellings onto "true" and "".
func boolWord(s string) string {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return "true"
	case "no", "false", "off", "0":
		return ""
	}
	return s
}
