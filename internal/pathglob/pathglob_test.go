// SPDX-License-Identifier: Apache-2.0

package pathglob

import (
	"path"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"/opt/hooks/*", "/opt/hooks/h", true},
		{"/opt/hooks/*", "/opt/hooks/sub/h", false}, // "*" stays within an element
		{"/opt/hooks/**", "/opt/hooks/sub/h", true},
		{"/opt/hooks/**", "/opt/hooks/h", true},
		{"/opt/hooks/**", "/opt/hooks", true}, // "**" matches no element too
		{"/opt/hooks/**", "/opt/hookses/h", false},
		{"/opt/**/h", "/opt/h", true},
		{"/opt/**/h", "/opt/a/b/c/h", true},
		{"/opt/**/h", "/opt/a/b/c/g", false},
		{"/opt/**/**/h", "/opt/a/h", true},
		{"/**", "/usr/bin/x", true},
		{"/usr/libexec/*", "/usr/libexec/hook", true},
		{"/usr/libexec/*", "/usr/libexec", false},
		{"/usr/lib*/h?", "/usr/lib64/h1", true},
		{"/usr/lib*/h?", "/usr/lib64/h12", false},
		{"/a**b/x", "/aZZb/x", true}, // "**" inside an element is "*"
		{"/a**b/x", "/a/b/x", false},
		{"/opt/[ab]/h", "/opt/a/h", true},
		{"/opt/[ab]/h", "/opt/c/h", false},
	} {
		got, err := Match(tc.glob, tc.name)
		if err != nil {
			t.Fatalf("Match(%q, %q): %v", tc.glob, tc.name, err)
		}
		if got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

func TestBadPattern(t *testing.T) {
	for _, g := range []string{"/opt/[ab", "/opt/x\\", "/**/[/h"} {
		if err := Validate(g); err != path.ErrBadPattern {
			t.Errorf("Validate(%q) = %v, want ErrBadPattern", g, err)
		}
		if _, err := Match(g, "/opt/a"); err != path.ErrBadPattern {
			t.Errorf("Match(%q) err = %v, want ErrBadPattern", g, err)
		}
	}
	if err := Validate("/opt/**/h*"); err != nil {
		t.Errorf("Validate of a good glob: %v", err)
	}
}
