// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkStrictModes applies sshd's StrictModes rule to file and to every
// directory above it up to "/": each must be owned by root or the
// supervisor's effective user, and none may be group- or world-writable,
// because whoever can write any of them can replace the program hooksupd
// runs. Components are examined with lstat, so a symlink is judged by its
// owner (its mode bits mean nothing); the caller checks the resolved target
// separately.
//
// One deliberate exception: a root-owned directory with the sticky bit
// (like /tmp) is accepted as a parent, because in it nobody but an entry's
// owner (or root) can rename or unlink that entry. The command itself must
// never be group- or world-writable.
func checkStrictModes(file string) error {
	euid := uint32(os.Geteuid())
	for cur := file; ; {
		fi, err := os.Lstat(cur)
		if err != nil {
			if cur == file && notExist(err) {
				return nil
			}
			return refused("%s: %v (strict_modes)", cur, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return refused("%s: no ownership information (strict_modes)", cur)
		}
		if st.Uid != 0 && st.Uid != euid {
			return refused("%s is owned by uid %d, not root or uid %d (strict_modes)", cur, st.Uid, euid)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			perm := fi.Mode().Perm()
			stickyRootDir := cur != file && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0 && st.Uid == 0
			switch {
			case stickyRootDir:
			case perm&0o002 != 0:
				return refused("%s is world-writable (strict_modes)", cur)
			case perm&0o020 != 0:
				return refused("%s is group-writable (strict_modes)", cur)
			}
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return nil
		}
		cur = parent
	}
}

// fileIdent is what changes when a file is replaced or its owner or mode
// changes: device, inode, mode, owner and status-change time. The mode
// and owner are compared themselves because ctime comes from a coarse
// clock: a chmod right after a check can leave it unchanged.
type fileIdent struct {
	dev, ino uint64
	mode     uint32
	uid, gid uint32
	ctime    syscall.Timespec
}

// statIdent stats path (following symlinks); ok is false when it cannot.
func statIdent(path string) (id fileIdent, ok bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileIdent{}, false
	}
	return fileIdent{dev: uint64(st.Dev), ino: uint64(st.Ino), mode: uint32(st.Mode), uid: st.Uid, gid: st.Gid,
		ctime: statCtime(&st)}, true
}
