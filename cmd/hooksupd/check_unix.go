// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkReachable reports a command that uid:gid, a dynamic user without
// supplementary groups, cannot execute by the mode bits of the command
// and its directories (ACLs and LSMs aside).
func checkReachable(path string, uid, gid uint32) error {
	allowed := func(p string, want os.FileMode) bool {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		m := fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			switch {
			case st.Uid == uid:
				return m>>6&want == want
			case st.Gid == gid:
				return m>>3&want == want
			}
		}
		return m&want == want
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		if !allowed(d, 0o1) {
			return fmt.Errorf("command %s: directory %s cannot be entered by uid %d", path, d, uid)
		}
		if d == "/" || d == "." {
			break
		}
	}
	// A script is read by its interpreter; a binary needs only x.
	if !allowed(path, 0o1) || !allowed(path, 0o4) {
		return fmt.Errorf("command %s cannot be read and executed by uid %d", path, uid)
	}
	return nil
}
