// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor/internal/launcher"
)

// What keeps a hook from reaching the supervisor itself, beyond its uid
// (see docs/sandbox.md): a hook that runs in a mount namespace of its own
// (every uid 0 hook, whose cgroup files are made read-only there, and any
// hook with a file-system option) also gets
//
//   - a /proc that shows host pids but only the processes it may ptrace
//     (hidepid=invisible). A capability-less hook may not ptrace the
//     supervisor, another uid, or a launcher that still holds
//     capabilities, so none of them is listed and none of their entries
//     (environ, cmdline, status, fd, root) can be opened;
//   - Options.HiddenPaths (the control socket's directory) covered by an
//     empty, inaccessible tmpfs, so that even a uid 0 hook, which owns
//     the socket's mode bits, cannot connect to it.
//
// Hooks without a mount namespace run as another uid than the supervisor
// (a dynamic user by default): the kernel's ptrace access checks refuse
// them the supervisor's environ, fd, mem, maps and root, and the socket's
// mode (0660, root and the socket group) refuses them the connection.
// Giving them a mount namespace too would cost every fire the namespace's
// teardown when the hook exits.

// checkHiddenPaths validates Options.HiddenPaths: clean absolute paths,
// none of them a shared system directory. A path need not exist yet (the
// socket's directory is made after the backend); one that does not
// exist when a launcher is prepared, or is not a directory, is skipped
// then.
func checkHiddenPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		switch {
		case !filepath.IsAbs(p) || filepath.Clean(p) != p:
			return nil, fmt.Errorf("supervisor: hidden path %q is not a clean absolute path", p)
		case hiddenRefused[p]:
			return nil, fmt.Errorf("supervisor: hidden path %s is a shared system directory; give the control socket a directory of its own", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// hiddenOps are the mounts that hide Options.HiddenPaths, applied first
// so that a later tmpfs (private_tmp) or bind may cover them but never
// uncover them.
func (b *linuxBackend) hiddenOps() []launcher.Op {
	var ops []launcher.Op
	for _, p := range b.hidden {
		if isDir(p) {
			ops = append(ops, launcher.Inaccessible(p))
		}
	}
	return ops
}

// hidepidExemptGID is the gid= of the hooks' procfs: 2^32-2, the largest
// gid the kernel accepts ((gid_t)-1 means "none" to set*id).
const hidepidExemptGID = "4294967294"

// hiddenProc makes a detached procfs mount of the supervisor's own PID
// namespace (so host pids, as the hook's /proc has without it) with
// hidepid=invisible, for one launcher to attach over /proc. The
// supervisor makes it because a launcher, born in the hook PID namespace,
// would mount that namespace's view instead.
func hiddenProc() (int, error) {
	fs, err := unix.Fsopen("proc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("fsopen proc", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "hidepid", "invisible"); err != nil {
		return -1, os.NewSyscallError("fsconfig hidepid=invisible", err)
	}
	// The group that hidepid exempts is gid 0 unless set, which would
	// exempt every hook running with group root. Name one no process has:
	// the largest valid gid.
	if err := unix.FsconfigSetString(fs, "gid", hidepidExemptGID); err != nil {
		return -1, os.NewSyscallError("fsconfig gid", err)
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, os.NewSyscallError("fsconfig create", err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("fsmount proc", err)
	}
	return fd, nil
}

// probeHiddenProc reports whether hiddenProc works here (Linux 5.8 for
// hidepid=invisible on a procfs instance of its own, 5.2 for fsopen).
func probeHiddenProc() error {
	fd, err := hiddenProc()
	if err == nil {
		unix.Close(fd)
	}
	return err
}
