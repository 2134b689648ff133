// SPDX-License-Identifier: Apache-2.0

package supervisor

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestLongLivedParksNothing: a LongLived spec (a daemon) leaves exactly one
// process behind it — the daemon — and no launcher parked for a next
// start, while an ordinary spec keeps one ready. An idle daemon hook must
// cost one process and its fds, nothing more.
func TestLongLivedParksNothing(t *testing.T) {
	b := lxNew(t, linuxConfig{})
	me := os.Getpid()
	settle := func() []int { // parked launchers are prepared in the background
		var kids []int
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			kids = lxChildrenOf(me)
		}
		return kids
	}
	before := settle()

	spec := lxSh(`exec sleep 60`)
	spec.Name = "daemon"
	spec.LongLived = true
	p := lxStart(t, b, spec)
	if got := newKids(before, settle()); !slices.Equal(got, []int{p.Pid()}) {
		t.Errorf("LongLived start: new children %v, want only the daemon %d", got, p.Pid())
	}

	spec = lxSh(`exec sleep 60`)
	spec.Name = "exec"
	lxStart(t, b, spec)
	if got := newKids(before, settle()); len(got) < 3 {
		t.Errorf("ordinary start: new children %v, want the daemon, the process and a parked launcher", got)
	}
}

func newKids(before, after []int) []int {
	var out []int
	for _, k := range after {
		if !slices.Contains(before, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
