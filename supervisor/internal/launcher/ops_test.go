// SPDX-License-Identifier: Apache-2.0

package launcher

import (
	"slices"
	"testing"
)

func TestOpsEncoding(t *testing.T) {
	for _, c := range []struct {
		op   Op
		want string
	}{
		{Credentials(61001, 61002, nil), "u61001:61002"},
		{Credentials(1, 2, []uint32{3, 4}), "u1:2:3,4"},
		{Capabilities(0), "c0"},
		{Capabilities(1 << 10), "c400"},
		{BindReadOnly("/usr"), "b/usr"},
		{Seccomp([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}), "s060000000000ff7f"},
	} {
		if string(c.op) != c.want {
			t.Errorf("%q, want %q", c.op, c.want)
		}
		if err := c.op.Valid(); err != nil {
			t.Errorf("%q: %v", c.op, err)
		}
	}
	for _, bad := range []Op{"", Tmpfs("tmp"), BindWritable("/a\x00b"), "r"} {
		if bad.Valid() == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := Argv(2, Loopback(), Capabilities(0)); !slices.Equal(got, []string{"hooksupd-launcher", "2", "L", "c0"}) {
		t.Errorf("Argv = %q", got)
	}
}
