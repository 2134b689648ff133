// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"os/user"
	"runtime"
	"strconv"
)

// cfgMaxID is the largest valid uid or gid: (uint32)-1 means "unchanged" to
// the kernel's set*id calls, so it can never name anyone.
const cfgMaxID = 1<<32 - 2

// cfgNumericID parses s as a uid or gid.
func cfgNumericID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > cfgMaxID {
		return 0, false
	}
	return uint32(n), true
}

// lookupUser resolves a user name or numeric uid. It returns the uid, the
// primary gid, and whether the primary gid is known: a numeric uid is
// taken as written even without a passwd entry (containers run as such
// ids), but then it has no primary group.
func lookupUser(s string) (uid, gid uint32, hasGID bool, err error) {
	if runtime.GOOS == "windows" {
		return 0, 0, false, errors.New("user is not supported on windows")
	}
	var u *user.User
	if id, ok := cfgNumericID(s); ok {
		u, err = user.LookupId(s)
		if err != nil {
			var unknown user.UnknownUserIdError
			if errors.As(err, &unknown) {
				return id, 0, false, nil
			}
			return 0, 0, false, fmt.Errorf("cannot look up user id %s: %v", s, err)
		}
	} else if u, err = user.Lookup(s); err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, 0, false, fmt.Errorf("unknown user %q", s)
		}
		return 0, 0, false, fmt.Errorf("cannot look up user %q: %v", s, err)
	}
	uid, ok1 := cfgNumericID(u.Uid)
	gid, ok2 := cfgNumericID(u.Gid)
	if !ok1 || !ok2 {
		return 0, 0, false, fmt.Errorf("user %q has no numeric uid/gid", s)
	}
	return uid, gid, true, nil
}

// lookupGroup resolves a group name or numeric gid (taken as written).
func lookupGroup(s string) (uint32, error) {
	if runtime.GOOS == "windows" {
		return 0, errors.New("group is not supported on windows")
	}
	if id, ok := cfgNumericID(s); ok {
		return id, nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, fmt.Errorf("unknown group %q", s)
		}
		return 0, fmt.Errorf("cannot look up group %q: %v", s, err)
	}
	gid, ok := cfgNumericID(g.Gid)
	if !ok {
		return 0, fmt.Errorf("group %q has no numeric gid", s)
	}
	return gid, nil
}
