// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Where the supervisor may not build a mount namespace (it lacks
// CAP_SYS_ADMIN, e.g. `hooksupd run` as a user), protect_system and
// read_write_paths are enforced with Landlock instead, which needs no
// privilege: a ruleset that handles every write right and allows writes
// only beneath the paths that stay writable. The ruleset is built once
// per pool; each launcher enforces it with one landlock_restrict_self at
// preparation. Landlock refuses with EACCES where the mounts would give
// EROFS. Other mount options (private_tmp, protect_home, read_only_paths,
// inaccessible_paths) have no such exact Landlock form: rules only ever
// add access beneath a path, so "everything but X" is not expressible in
// general.

// The three system calls are made directly: go-landlock's syscall package
// pulls in libcap's psx, which with cgo wraps pthread_create of the whole
// program, and the supervisor needs none of its all-threads machinery
// (only a launcher, a single-threaded process, restricts itself).

// landlockWrites are the write rights of Landlock ABI 1, 2 (refer) and 3
// (truncate), by ABI version.
func landlockWrites(abi int) uint64 {
	w := uint64(unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO |
		unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK | unix.LANDLOCK_ACCESS_FS_MAKE_SYM)
	if abi >= 2 {
		w |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		w |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	return w
}

// landlockWritable lists the paths a Sandbox leaves writable, or ok false
// when it asks for more than Landlock can express.
func landlockWritable(sb *Sandbox) (paths []string, ok bool) {
	if sb.PrivateTmp || sb.PrivatePIDs || sb.ProtectHome != "" || len(sb.ReadOnlyPaths) > 0 || len(sb.InaccessiblePaths) > 0 {
		return nil, false
	}
	switch sb.ProtectSystem {
	case "strict":
		paths = []string{"/dev", "/proc", "/sys"}
	case "true", "full":
		// Every top-level directory but the protected ones (symlinks such
		// as /bin -> usr/bin are not followed: they lead into /usr).
		ents, err := os.ReadDir("/")
		if err != nil {
			return nil, false
		}
		skip := map[string]bool{"usr": true, "boot": true, "efi": true}
		if sb.ProtectSystem == "full" {
			skip["etc"] = true
		}
		for _, e := range ents {
			if e.IsDir() && !skip[e.Name()] {
				paths = append(paths, "/"+e.Name())
			}
		}
	default:
		if len(sb.ReadWritePaths) == 0 {
			return nil, false
		}
		return nil, false // read_write_paths alone loosen nothing: no mount namespace needed either
	}
	return append(paths, sb.ReadWritePaths...), true
}

// landlockRuleset builds the ruleset for the writable paths; the caller
// owns the returned fd.
func landlockRuleset(writable []string) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	abi := int(r)
	if errno != 0 || abi < 1 {
		return -1, notSupported(fmt.Errorf("landlock unavailable: %v", errno))
	}
	writes := landlockWrites(abi)
	attr := struct{ fs uint64 }{writes} // the ABI 1 form of landlock_ruleset_attr
	r, _, errno = unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return -1, notSupported(fmt.Errorf("landlock_create_ruleset: %w", errno))
	}
	fd := int(r)
	for _, p := range writable {
		pfd, err := unix.Open(filepath.Clean(p), unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			if p == "/dev" || p == "/proc" || p == "/sys" {
				continue
			}
			unix.Close(fd)
			return -1, fmt.Errorf("landlock: %s: %w", p, err)
		}
		allowed := writes
		var st unix.Stat_t
		if unix.Fstat(pfd, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// A file takes only the rights that apply to files.
			allowed &= unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE
		}
		rule := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(pfd)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(fd), unix.LANDLOCK_RULE_PATH_BENEATH,
			uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
		unix.Close(pfd)
		if errno != 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("landlock_add_rule %s: %w", p, errno)
		}
	}
	return fd, nil
}
