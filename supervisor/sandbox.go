// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Sandbox is what a process may reach besides its limits, in the words of
// systemd.exec(5). It is plain data. The zero value is the default, and it
// is already narrow: no capabilities at all (even for uid 0),
// no_new_privs, only fds 0-2, and, for a process that runs as uid 0, a
// read-only view of the cgroup file systems so that it cannot raise its
// own limits. Every other field narrows further.
//
// A field the backend cannot provide makes Start fail with an error
// wrapping ErrNotSupported that names the field, unless AllowUnsandboxed
// is set. See docs/sandbox.md for what each field does and does not
// protect against.
type Sandbox struct {
	// Capabilities are the capabilities kept, by name
	// ("CAP_NET_BIND_SERVICE"); every other one is dropped from the
	// bounding, permitted, effective, inheritable and ambient sets.
	// "ALL" keeps every capability the supervisor has.
	Capabilities []string
	// PrivateNetwork gives the process its own network namespace with
	// only a loopback interface.
	PrivateNetwork bool
	// PrivateTmp gives it its own empty /tmp and /var/tmp.
	PrivateTmp bool
	// ProtectSystem is "" (off), "true" (/usr and /boot read-only), "full"
	// (and /etc) or "strict" (the whole file system read-only except
	// ReadWritePaths, /dev, /proc and /sys).
	ProtectSystem string
	// ProtectHome is "" (off), "true" (/home, /root and /run/user
	// inaccessible), "read-only" or "tmpfs" (empty).
	ProtectHome string
	// ReadWritePaths, ReadOnlyPaths and InaccessiblePaths are absolute
	// paths made writable, read-only or inaccessible, in that order of
	// precedence from weakest to strongest (systemd's).
	ReadWritePaths, ReadOnlyPaths, InaccessiblePaths []string
	// PrivatePIDs gives the process its own PID namespace and /proc: it
	// sees only its own tree, and is its PID 1 (so it reaps orphans, and
	// its exit ends the tree).
	PrivatePIDs bool
	// SystemCallFilter is a seccomp filter in systemd's syntax: system
	// call names and groups ("@system-service"); a list whose first entry
	// starts with "~" denies what it lists, any other allows only what it
	// lists; later entries add or take out. Empty: no filter.
	SystemCallFilter []string
	// SystemCallErrorNumber is what a denied call gets: "" or "EPERM"
	// (it fails with EPERM) or "kill" (the process is killed by SIGSYS).
	SystemCallErrorNumber string
	// AllowUnsandboxed lets Start succeed without what the backend cannot
	// provide (it is logged once per pool) instead of failing.
	AllowUnsandboxed bool
}

// IsZero reports whether s is the default sandbox.
func (s *Sandbox) IsZero() bool {
	return len(s.Capabilities) == 0 && !s.PrivateNetwork && !s.AllowUnsandboxed && !s.NeedsMountNamespace() &&
		len(s.SystemCallFilter) == 0 && s.SystemCallErrorNumber == ""
}

// NeedsMountNamespace reports whether s asks for a private view of the
// file system.
func (s *Sandbox) NeedsMountNamespace() bool {
	return s.PrivateTmp || s.PrivatePIDs || s.ProtectSystem != "" || s.ProtectHome != "" ||
		len(s.ReadWritePaths)+len(s.ReadOnlyPaths)+len(s.InaccessiblePaths) > 0
}

// IsolationNames lists the isolation fields s sets, in their hooks.toml
// spelling (used in error messages).
func (s *Sandbox) IsolationNames() []string {
	var n []string
	add := func(set bool, name string) {
		if set {
			n = append(n, name)
		}
	}
	add(s.PrivateNetwork, "private_network")
	add(s.PrivateTmp, "private_tmp")
	add(s.ProtectSystem != "", "protect_system")
	add(s.ProtectHome != "", "protect_home")
	add(len(s.ReadWritePaths) > 0, "read_write_paths")
	add(len(s.ReadOnlyPaths) > 0, "read_only_paths")
	add(len(s.InaccessiblePaths) > 0, "inaccessible_paths")
	add(len(s.SystemCallFilter) > 0, "system_call_filter")
	add(s.PrivatePIDs, "private_pids")
	return n
}

// Validate checks s without asking the kernel anything.
func (s *Sandbox) Validate() error {
	var errs []error
	if _, err := CapabilityMask(s.Capabilities); err != nil {
		errs = append(errs, err)
	}
	switch s.ProtectSystem {
	case "", "true", "full", "strict":
	default:
		errs = append(errs, fmt.Errorf("protect_system %q: want true, \"full\" or \"strict\"", s.ProtectSystem))
	}
	switch s.SystemCallErrorNumber {
	case "", "EPERM", "kill":
	default:
		errs = append(errs, fmt.Errorf("system_call_error_number %q: want \"EPERM\" or \"kill\"", s.SystemCallErrorNumber))
	}
	for _, e := range s.SystemCallFilter {
		if strings.TrimPrefix(e, "~") == "" || strings.ContainsAny(e, " \t\x00") {
			errs = append(errs, fmt.Errorf("system_call_filter: invalid entry %q", e))
		}
	}
	switch s.ProtectHome {
	case "", "true", "read-only", "tmpfs":
	default:
		errs = append(errs, fmt.Errorf("protect_home %q: want true, \"read-only\" or \"tmpfs\"", s.ProtectHome))
	}
	for _, l := range []struct {
		name  string
		paths []string
	}{{"read_write_paths", s.ReadWritePaths}, {"read_only_paths", s.ReadOnlyPaths}, {"inaccessible_paths", s.InaccessiblePaths}} {
		for _, p := range l.paths {
			if !filepath.IsAbs(p) || strings.IndexByte(p, 0) >= 0 || filepath.Clean(p) != p {
				errs = append(errs, fmt.Errorf("%s: %q is not a clean absolute path", l.name, p))
			}
		}
	}
	return errors.Join(errs...)
}

// key is a comparable form of s, for pool keys.
func (s *Sandbox) key() string {
	if s == nil || s.IsZero() {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%q|%v|%v|%v|%s|%s|%q|%q|%q|%q|%s|%v", s.Capabilities, s.PrivateNetwork, s.PrivateTmp, s.PrivatePIDs,
		s.ProtectSystem, s.ProtectHome, s.ReadWritePaths, s.ReadOnlyPaths, s.InaccessiblePaths,
		s.SystemCallFilter, s.SystemCallErrorNumber, s.AllowUnsandboxed)
	return sb.String()
}

// capNames are the capability names by number (linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapabilityMask turns capability names (case-insensitive, with or
// without the CAP_ prefix, or "ALL") into a bitmask: bit n is capability
// n.
func CapabilityMask(names []string) (uint64, error) {
	var mask uint64
	for _, n := range names {
		u := strings.ToUpper(n)
		if u == "ALL" {
			mask = ^uint64(0)
			continue
		}
		if !strings.HasPrefix(u, "CAP_") {
			u = "CAP_" + u
		}
		i := slices.Index(capNames[:], u)
		if i < 0 {
			return 0, fmt.Errorf("capabilities: unknown capability %q", n)
		}
		mask |= 1 << i
	}
	return mask, nil
}

// CapabilityNames is the inverse of CapabilityMask for known capabilities.
func CapabilityNames(mask uint64) []string {
	var n []string
	for i, name := range capNames {
		if mask&(1<<i) != 0 {
			n = append(n, name)
		}
	}
	if rest := mask >> len(capNames); rest != 0 {
		n = append(n, "0x"+strconv.FormatUint(rest<<len(capNames), 16))
	}
	return n
}

// hiddenRefused are directories too shared to hide from every hook
// (Options.HiddenPaths); a control socket directly inside one is guarded
// by its mode only.
var hiddenRefused = map[string]bool{
	"/": true, "/run": true, "/var/run": true, "/tmp": true, "/var/tmp": true, "/var": true,
	"/dev": true, "/dev/shm": true, "/etc": true, "/home": true, "/root": true, "/proc": true, "/sys": true,
	"/usr": true, "/var/lib": true, "/run/user": true,
}

// HideableDir reports whether dir can be one of Options.HiddenPaths: a
// clean absolute path that is not a shared system directory. Callers that
// derive it from the control socket's path hide it only then, and rely on
// the socket's mode otherwise.
func HideableDir(dir string) bool {
	return filepath.IsAbs(dir) && filepath.Clean(dir) == dir && !hiddenRefused[dir]
}
