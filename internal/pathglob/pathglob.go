// SPDX-License-Identifier: Apache-2.0

// Package pathglob matches slash-separated paths against the globs of
// hooks.toml's [policy] allow_commands and deny_commands.
//
// A glob is matched element by element, split at "/". Within an element
// the syntax is path.Match's: "*" matches any run of characters except
// "/", "?" one character, "[...]" a class, "\" quotes. An element that is
// exactly "**" matches any number of whole elements, none included, so
// "/opt/hooks/*" matches /opt/hooks/h but not /opt/hooks/sub/h, and
// "/opt/hooks/**" matches both (and /opt/hooks itself). "**" inside a
// longer element ("a**b") is two stars: the same as "*".
//
// It holds no file system access: names are matched as strings, already
// cleaned by the caller.
package pathglob

import (
	"path"
	"strings"
)

// Validate reports a malformed glob (an unclosed "[", a trailing "\").
func Validate(glob string) error {
	for _, el := range strings.Split(glob, "/") {
		if el == "**" {
			continue
		}
		if _, err := path.Match(el, ""); err != nil {
			return err
		}
	}
	return nil
}

// Match reports whether name matches glob. The only error is
// path.ErrBadPattern, for a malformed glob.
func Match(glob, name string) (bool, error) {
	if err := Validate(glob); err != nil {
		return false, err
	}
	return match(strings.Split(glob, "/"), strings.Split(name, "/")), nil
}

// match matches elements; "**" tries every split point. Globs are short
// (a handful of elements), so the backtracking is cheap.
func match(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse runs of "**": they mean the same as one.
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			for i := 0; i <= len(name); i++ {
				if match(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
