// SPDX-License-Identifier: Apache-2.0

package config

import (
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The locator follows every TOML construct that can put a key on a line.
func TestConfigLocatorPositions(t *testing.T) {
	src := "\xef\xbb\xbf" + `# comment with [brackets] and "quotes" = 1
top = "a # not a comment"   # comment
multi = """
x = 1
[not.a.table]
""""
lit = '''
[[nor.this]]'''
date = 1979-05-27 07:32:00Z
arr = [ 1, [2, 3], { in = 4 },
  # comment inside
  "five", ]
"quoted.key" = { a.b = 1, 'c' = [ { d = 2 } ] }
esc."\u0041\t" = 1

[[hook]]
  event = "a"
  [hook.limits]
    memory_max = 1
[[hook]]
event = "b"
limits . pids_max = 2
[[hook.sub]]
x = 1
[[hook.sub]]
y = 1
[ tbl . "x y" ]
z = 1
`
	src = cfgStripBOM(src)
	var raw map[string]any
	_, err := toml.Decode(src, &raw)
	require.NoError(t, err)

	l := newTOMLLocator(src)
	at := func(want [2]int, path ...string) {
		t.Helper()
		line, col, ok := l.lookup(path)
		if assert.True(t, ok, "%q not found", path) {
			assert.Equal(t, want, [2]int{line, col}, "%q", path)
		}
	}
	idx := locIndex
	at([2]int{2, 1}, "top")
	at([2]int{3, 1}, "multi")
	at([2]int{7, 1}, "lit")
	at([2]int{9, 1}, "date")
	at([2]int{10, 1}, "arr")
	at([2]int{10, 12}, "arr", idx(1))
	at([2]int{10, 13}, "arr", idx(1), idx(0))
	at([2]int{10, 20}, "arr", idx(2))
	at([2]int{10, 22}, "arr", idx(2), "in")
	at([2]int{12, 3}, "arr", idx(3))
	at([2]int{13, 1}, "quoted.key")
	at([2]int{13, 18}, "quoted.key", "a")
	at([2]int{13, 20}, "quoted.key", "a", "b")
	at([2]int{13, 27}, "quoted.key", "c")
	at([2]int{13, 37}, "quoted.key", "c", idx(0), "d")
	at([2]int{14, 5}, "esc", "A\t")
	at([2]int{16, 3}, "hook")
	at([2]int{16, 1}, "hook", idx(0))
	at([2]int{17, 3}, "hook", idx(0), "event")
	at([2]int{18, 9}, "hook", idx(0), "limits")
	at([2]int{19, 5}, "hook", idx(0), "limits", "memory_max")
	at([2]int{20, 1}, "hook", idx(1))
	at([2]int{21, 1}, "hook", idx(1), "event")
	at([2]int{22, 1}, "hook", idx(1), "limits")
	at([2]int{22, 10}, "hook", idx(1), "limits", "pids_max")
	at([2]int{23, 1}, "hook", idx(1), "sub", idx(0))
	at([2]int{24, 1}, "hook", idx(1), "sub", idx(0), "x")
	at([2]int{25, 1}, "hook", idx(1), "sub", idx(1))
	at([2]int{26, 1}, "hook", idx(1), "sub", idx(1), "y")
	at([2]int{27, 3}, "tbl")
	at([2]int{27, 9}, "tbl", "x y")
	at([2]int{28, 1}, "tbl", "x y", "z")

	for _, p := range [][]string{{"x"}, {"not"}, {"nor"}, {"multi", "x"}} {
		_, _, ok := l.lookup(p)
		assert.False(t, ok, "%q is inside a string", p)
	}
}

// Positions from the locator agree with the TOML decoder's error positions
// for the keys it reports on (a type error names the key's line).
func TestConfigLocatorMatchesDecoder(t *testing.T) {
	src := "a = 1\n[t]\n  b = \"x\"\n[[arr]]\n  c = true\n"
	var v struct {
		A int
		T struct{ B int }
	}
	_, err := toml.Decode(src, &v)
	require.Error(t, err)
	line, _, ok := newTOMLLocator(src).lookup([]string{"t", "b"})
	require.True(t, ok)
	assert.Contains(t, err.Error(), "line 3")
	assert.Equal(t, 3, line)
}
