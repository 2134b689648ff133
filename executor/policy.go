// SPDX-License-Identifier: Apache-2.0

package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/internal/pathglob"
)

// refused returns an error wrapping ErrPolicyRefused whose message names the
// rule, e.g. "policy: /tmp/x is world-writable (strict_modes)".
func refused(format string, args ...any) error {
	return &hookError{kind: ErrPolicyRefused, msg: "policy: " + fmt.Sprintf(format, args...)}
}

// checkPolicy is the spawn gate, evaluated before spawns (exec fires and
// daemon starts) through a policyGate, which caches its verdict for at
// most policyRecheck and re-evaluates at once when the command file
// changes.
//
// The rules, in order:
//  1. the command is an absolute path;
//  2. no deny_commands glob matches it or its resolved symlink target;
//  3. when allow_commands is set, a glob matches it;
//  4. with strict_modes, the command and every directory above it (for the
//     path as written and for its resolved target) are owned by root or by
//     the supervisor's effective user and are not group- or
//     world-writable (see checkStrictModes).
//
// Globs are pathglob's: "*" within a path element, "**" as a whole
// element across any number of them. A malformed deny glob refuses (fail
// closed); a malformed allow glob never matches.
func checkPolicy(p *config.Policy, command string) error {
	if !filepath.IsAbs(command) {
		return refused("command %q is not an absolute path", command)
	}
	command = filepath.Clean(command)
	resolved, err := filepath.EvalSymlinks(command)
	if err != nil {
		// A missing command is the spawn's error to report (ENOENT).
		resolved = command
	}
	slashed := filepath.ToSlash(command)
	slashedResolved := filepath.ToSlash(resolved)
	for _, g := range p.DenyCommands {
		if globMatch(g, slashed, true) || globMatch(g, slashedResolved, true) {
			return refused("%s matches deny_commands %q", command, g)
		}
	}
	if len(p.AllowCommands) > 0 {
		allowed := false
		for _, g := range p.AllowCommands {
			if globMatch(g, slashed, false) {
				allowed = true
				break
			}
		}
		if !allowed {
			return refused("%s is not in allow_commands", command)
		}
	}
	if p.StrictModes {
		if err := checkStrictModes(command); err != nil {
			return err
		}
		if resolved != command {
			return checkStrictModes(resolved)
		}
	}
	return nil
}

// globMatch reports whether name matches the glob; onBad is the answer
// for a malformed pattern.
func globMatch(glob, name string, onBad bool) bool {
	ok, err := pathglob.Match(glob, name)
	if err != nil {
		return onBad
	}
	return ok
}

// notExist reports an error that means "no such file": the spawn, not the
// policy, reports it.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// policyRecheck bounds how stale a cached spawn-gate verdict may get: the
// whole check (symlink resolution and the strict_modes walk, a dozen
// syscalls) runs at most this often per hook. In between, one stat of the
// command tells whether the file itself was replaced, rechmodded or
// rechowned (its inode or ctime moved), which re-runs the check at once. A
// directory above it made writable is noticed within this bound.
const policyRecheck = time.Second

// verdict is one evaluation of the spawn gate for one command.
type verdict struct {
	policy *config.Policy
	at     time.Time
	ident  fileIdent
	err    error
}

// policyGate caches the spawn gate's verdict for one hook's command. It is
// safe for concurrent use; a race between two fires only costs one extra
// check.
type policyGate struct {
	last atomic.Pointer[verdict]
}

// check returns the gate's verdict for command under p, re-evaluated when
// the policy changed, the command's identity changed, or the cached
// verdict is older than policyRecheck.
func (g *policyGate) check(p *config.Policy, command string) error {
	now := time.Now()
	id, _ := statIdent(command)
	if v := g.last.Load(); v != nil && v.policy == p && v.ident == id && now.Sub(v.at) < policyRecheck {
		return v.err
	}
	err := checkPolicy(p, command)
	g.last.Store(&verdict{policy: p, at: now, ident: id, err: err})
	return err
}
