// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/internal/launcher"
)

// A sandbox is prepared with the launcher, not per fire: the launcher is
// cloned with the namespaces the Spec asks for, applies its mounts,
// credentials and capability sets (launcher.Op, csrc/launcher.c) and only
// then parks. A fire sends argv and environment and execs, exactly as
// without a sandbox.

// sandboxPlan is what a pool's launchers are prepared with.
type sandboxPlan struct {
	clone   uintptr       // CLONE_NEWPID
	unshare uintptr       // CLONE_NEWNS, CLONE_NEWNET
	ops     []launcher.Op // applied in order before the launcher parks
	// credInLauncher: the launcher sets the ids itself (after its mounts,
	// which need root), so the clone gets no Credential.
	credInLauncher bool
	// dropCaps: capabilities must be dropped, which only the launcher can
	// do; a direct spawn cannot (see planSandbox).
	dropCaps bool
	// landlock is a Landlock ruleset fd each launcher enforces (see
	// landlock_linux.go), or -1.
	landlock int
	// hideProc: each launcher attaches a hidepid procfs of its own over
	// /proc (see reach_linux.go).
	hideProc bool
}

// capSysAdmin is CAP_SYS_ADMIN's bit.
const capSysAdmin = 1 << 21

// privileged reports whether the supervisor may create namespaces and
// mount (CAP_SYS_ADMIN in its effective set).
func privileged() bool {
	var h = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return false
	}
	return d[0].Effective&capSysAdmin != 0
}

// planSandbox turns a Spec's Sandbox and credentials into the launcher's
// preparation. An option this backend cannot provide is an error wrapping
// ErrNotSupported, unless the Sandbox allows running unsandboxed; then it
// is left out and reduced says why.
func (b *linuxBackend) planSandbox(sb *Sandbox, cred *Credential) (plan sandboxPlan, reduced, err error) {
	plan.landlock = -1
	if err := sb.Validate(); err != nil {
		return plan, nil, &SpawnError{Path: "sandbox", Err: err}
	}
	keep, _ := CapabilityMask(sb.Capabilities)
	have := ownCaps()
	uid := uint32(os.Geteuid())
	if cred != nil {
		uid = cred.UID
	}
	var missing []string
	refuse := func(what string, why string) {
		missing = append(missing, what+" ("+why+")")
	}
	// Capabilities: a process that will run as uid 0, or that inherits
	// ambient capabilities, would keep what the supervisor has.
	plan.dropCaps = have&^keep != 0 && (uid == 0 || ownAmbient() != 0)

	canNS := privileged() && !b.cfg.noNamespaces
	var mounts []launcher.Op
	if sb.NeedsMountNamespace() {
		var err error
		if mounts, err = mountOps(sb); err != nil {
			return plan, nil, &SpawnError{Path: "sandbox", Err: err}
		}
	}
	// A uid 0 process is the owner of its own cgroup files (mode 0644):
	// dropping its capabilities does not stop it from writing max into
	// its own pids.max. It gets a read-only view of the cgroup file
	// systems. (Any other uid cannot write them: they belong to root.)
	if uid == 0 && b.cg != nil && keep&capSysAdmin == 0 {
		if canNS {
			for _, m := range cgroupMounts() {
				mounts = append(mounts, launcher.Op("r"+m))
			}
		} else {
			refuse("read-only cgroup files for a uid 0 process", "a mount namespace needs CAP_SYS_ADMIN")
		}
	}
	if len(mounts) > 0 {
		if canNS {
			plan.unshare |= unix.CLONE_NEWNS
			// The control socket's directory first: nothing later may
			// uncover it.
			plan.ops = append(plan.ops, b.hiddenOps()...)
			plan.ops = append(plan.ops, mounts...)
			if sb.PrivatePIDs {
				plan.clone |= unix.CLONE_NEWPID
			} else if b.procErr == nil {
				plan.hideProc = true
			}
		} else if sb.NeedsMountNamespace() {
			if writable, ok := landlockWritable(sb); ok && b.exe != nil {
				fd, err := landlockRuleset(writable)
				if err != nil {
					refuse(strings.Join(sb.IsolationNames(), ", "), err.Error())
				} else {
					plan.landlock = fd
				}
			} else {
				refuse(strings.Join(sb.IsolationNames(), ", "), "a mount namespace needs CAP_SYS_ADMIN")
			}
		}
	}
	if sb.PrivateNetwork {
		if canNS {
			plan.unshare |= unix.CLONE_NEWNET
			plan.ops = append(plan.ops, launcher.Loopback())
		} else {
			refuse("private_network", "a network namespace needs CAP_SYS_ADMIN")
		}
	}
	if len(sb.SystemCallFilter) > 0 {
		prog, err := seccompFilter(sb.SystemCallFilter, sb.SystemCallErrorNumber == "kill")
		switch {
		case errors.Is(err, ErrNotSupported):
			refuse("system_call_filter", err.Error())
		case err != nil:
			return plan, nil, &SpawnError{Path: "sandbox", Err: err}
		case prog != nil:
			plan.ops = append(plan.ops, launcher.Seccomp(prog))
		}
	}
	if b.exe == nil && (plan.dropCaps || len(plan.ops) > 0) {
		// Without a launcher nothing runs between the clone and the
		// hook's execve that could apply this.
		what := "dropping capabilities of a uid 0 process"
		if n := sb.IsolationNames(); len(n) > 0 {
			what = strings.Join(n, ", ")
		}
		refuse(what, "needs the launcher: "+b.exeNote)
		plan = sandboxPlan{landlock: -1}
	}
	if b.exe != nil {
		if cred != nil && os.Geteuid() == 0 {
			plan.credInLauncher = true
			plan.ops = append(plan.ops, launcher.Credentials(cred.UID, cred.GID, cred.Groups))
		}
		// Always, even when nothing seems to be there to drop: ambient
		// and inheritable sets are cleared too.
		plan.ops = append(plan.ops, launcher.Capabilities(keep&have))
	}
	for _, op := range plan.ops {
		if err := op.Valid(); err != nil {
			plan.close()
			return sandboxPlan{landlock: -1}, nil, &SpawnError{Path: "sandbox", Err: err}
		}
	}
	if len(missing) > 0 {
		err := notSupported(fmt.Errorf("linux backend cannot sandbox: %s", strings.Join(missing, "; ")))
		if !sb.AllowUnsandboxed {
			plan.close()
			return sandboxPlan{landlock: -1}, nil, err
		}
		return plan, err, nil
	}
	return plan, nil, nil
}

// close releases what the plan holds.
func (p *sandboxPlan) close() {
	if p.landlock >= 0 {
		unix.Close(p.landlock)
		p.landlock = -1
	}
}

// sandboxNote is the Mechanisms note about what sandboxes this backend
// can build.
func (b *linuxBackend) sandboxNote() string {
	if b.exe == nil {
		return "sandbox: no launcher, so no capability drop for uid 0, no namespaces, no seccomp (" + b.exeNote + ")"
	}
	if !privileged() {
		return "sandbox: capabilities dropped and seccomp by the launcher; no namespaces (needs CAP_SYS_ADMIN): protect_system and read_write_paths by Landlock, other private_*, protect_* and path options unavailable"
	}
	proc := "; hooks in a mount namespace get a hidepid=invisible /proc"
	if b.procErr != nil {
		proc = "; no hidepid /proc (" + b.procErr.Error() + ")"
	}
	return "sandbox: capabilities dropped, seccomp, mount/network/PID namespaces by the launcher at preparation; uid 0 hooks see cgroup files read-only" + proc
}

// mountOps lists the mounts of a Sandbox, weakest first so that the
// stronger rule wins where paths nest: systemd's order.
func mountOps(sb *Sandbox) ([]launcher.Op, error) {
	var ops []launcher.Op
	if sb.PrivatePIDs {
		// First: a later protect_system may make /proc read-only.
		ops = append(ops, launcher.Proc())
	}
	ro := func(p string) {
		if p == "/" {
			ops = append(ops, launcher.Op("r/"))
		} else if exists(p) {
			ops = append(ops, launcher.BindReadOnly(p))
		}
	}
	switch sb.ProtectSystem {
	case "true":
		ro("/usr")
		ro("/boot")
		ro("/efi")
	case "full":
		ro("/usr")
		ro("/boot")
		ro("/efi")
		ro("/etc")
	case "strict":
		ro("/")
		// The API file systems keep their own flags.
		for _, m := range apiMounts() {
			ops = append(ops, launcher.Op("W"+m))
		}
	}
	home := []string{"/home", "/root", "/run/user"}
	switch sb.ProtectHome {
	case "true":
		for _, p := range home {
			if isDir(p) {
				ops = append(ops, launcher.Inaccessible(p))
			}
		}
	case "read-only":
		for _, p := range home {
			ro(p)
		}
	case "tmpfs":
		for _, p := range home {
			if isDir(p) {
				ops = append(ops, launcher.TmpfsDir(p))
			}
		}
	}
	if sb.PrivateTmp {
		ops = append(ops, launcher.Tmpfs("/tmp"))
		if isDir("/var/tmp") {
			ops = append(ops, launcher.Tmpfs("/var/tmp"))
		}
	}
	for _, p := range sb.ReadWritePaths {
		if !exists(p) {
			return nil, fmt.Errorf("read_write_paths: %s does not exist", p)
		}
		ops = append(ops, launcher.BindWritable(p))
	}
	for _, p := range sb.ReadOnlyPaths {
		if !exists(p) {
			return nil, fmt.Errorf("read_only_paths: %s does not exist", p)
		}
		ro(p)
	}
	for _, p := range sb.InaccessiblePaths {
		if !isDir(p) {
			// A file would need an inaccessible node to bind over it.
			return nil, notSupported(fmt.Errorf("inaccessible_paths: %s is not a directory (only directories can be hidden)", p))
		}
		ops = append(ops, launcher.Inaccessible(p))
	}
	return ops, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// mountInfo is one line of /proc/self/mountinfo: the mount point, its
// per-mount options and the file system type.
type mountInfo struct {
	point, opts, fstype string
}

func readMountInfo() []mountInfo {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []mountInfo
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, s := range f {
			if s == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		out = append(out, mountInfo{point: unescapeMount(f[4]), opts: f[5], fstype: f[sep+1]})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				sb.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// cgroupMounts lists the top-most cgroup and cgroup2 mount points, or
// the mount that holds them (the tmpfs at /sys/fs/cgroup of a v1 or
// hybrid host), so that nothing can be created beside them either.
func cgroupMounts() []string {
	mi := readMountInfo()
	points := map[string]bool{}
	for _, m := range mi {
		points[m.point] = true
	}
	var pts []string
	for _, m := range mi {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			p := m.point
			if parent := filepath.Dir(p); parent != "/" && points[parent] {
				p = parent
			}
			pts = append(pts, p)
		}
	}
	return topMost(pts)
}

// apiMounts lists the writable mounts below /dev, /proc and /sys, which
// protect_system = "strict" leaves as they are.
func apiMounts() []string {
	var pts []string
	for _, m := range readMountInfo() {
		if !under(m.point, "/dev") && !under(m.point, "/proc") && !under(m.point, "/sys") {
			continue
		}
		if strings.HasPrefix(m.opts, "rw") && m.fstype != "cgroup" && m.fstype != "cgroup2" {
			pts = append(pts, m.point)
		}
	}
	return pts
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// topMost drops paths below another path of the list.
func topMost(pts []string) []string {
	var out []string
	for _, p := range pts {
		inner := false
		for _, q := range pts {
			if q != p && under(p, q) {
				inner = true
				break
			}
		}
		if !inner && !containsStr(out, p) {
			out = append(out, filepath.Clean(p))
		}
	}
	return out
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// ownCaps is the supervisor's permitted capability set.
func ownCaps() uint64 {
	var h = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return 0
	}
	return uint64(d[0].Permitted) | uint64(d[1].Permitted)<<32
}

// ownAmbient is the supervisor's ambient capability set.
func ownAmbient() uint64 {
	var m uint64
	for c := range 64 {
		r, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		if err != nil {
			break
		}
		if r == 1 {
			m |= 1 << c
		}
	}
	return m
}
