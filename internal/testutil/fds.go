// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// OpenFDs lists this process's open file descriptors with their targets
// (Linux: /proc/self/fd). It returns nil where that is not available.
func OpenFDs() map[string]string {
	if runtime.GOOS != "linux" {
		return nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	out := make(map[string]string, len(names))
	for _, n := range names {
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue // the fd of the directory listing itself, closed meanwhile
		}
		out[n] = target
	}
	return out
}

// CheckFDLeak records the open fds now and, when the test ends, fails it if
// fds opened since are still open. Descriptors closed asynchronously get up
// to two seconds to go away.
func CheckFDLeak(t testing.TB) {
	t.Helper()
	before := OpenFDs()
	if before == nil {
		return
	}
	t.Cleanup(func() {
		var leaked []string
		for deadline := time.Now().Add(2 * time.Second); ; {
			leaked = leaked[:0]
			for fd, target := range OpenFDs() {
				if _, ok := before[fd]; !ok {
					leaked = append(leaked, fd+" -> "+target)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(leaked) > 0 {
			sort.Strings(leaked)
			t.Errorf("leaked %d fds:\n\t%s", len(leaked), strings.Join(leaked, "\n\t"))
		}
	})
}
