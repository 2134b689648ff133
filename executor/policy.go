package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/hooksupd/hooksupd/config"
)

// refused returns an error wrapping ErrPolicyRefused whose message names the
// rule, e.g. "policy: /tmp/x is world-writable (strict_modes)".
func refused(format string, args ...any) error {
	return &hookError{kind: ErrPolicyRefused, msg: "policy: " + fmt.Sprintf(format, args...)}
}

// checkPolicy is the spawn gate, run before every spawn (exec fires and
// every daemon start). It is deliberately uncached: a few stats cost
// microseconds, and a cached answer would miss a directory made writable
// after the first check.
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
// Globs use path.Match (slash-separated; "*" does not cross "/"). A
// malformed deny glob refuses (fail closed); a malformed allow glob never
// matches.
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
	ok, err := path.Match(glob, name)
	if err != nil {
		return onBad
	}
	return ok
}

// notExist reports an error that means "no such file": the spawn, not the
// policy, reports it.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
