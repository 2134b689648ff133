// SPDX-License-Identifier: Apache-2.0

//go:build unix

package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WriteExec writes an executable file (a hook script) into dir.
func WriteExec(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteConfig writes hooks.toml into dir. Test files live in a temp dir
// under /tmp (world-writable), so the spawn policy's strict_modes is off
// in every test config.
func WriteConfig(t testing.TB, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "hooks.toml")
	if err := os.WriteFile(p, []byte("[policy]\nstrict_modes = false\n\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// HookBlock renders one [[hook]] block.
func HookBlock(name, event, command string, priority int, extra ...string) string {
	s := fmt.Sprintf("[[hook]]\nname = %q\nevent = %q\ncommand = %q\npriority = %d\n"+
		"timeout_ms = 10000\nenabled = true\nnamespace = \"*\"\n", name, event, command, priority)
	for _, e := range extra {
		s += e + "\n"
	}
	return s + "\n"
}

// Alive reports whether pid is a live (non-zombie) process. A killed
// orphan may stay a zombie until its new parent reaps it; it is gone as
// far as running code is concerned.
func Alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if runtime.GOOS == "linux" {
			return false
		}
		return syscall.Kill(pid, 0) == nil
	}
	// The state follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// WaitGone waits until none of pids is Alive.
func WaitGone(t testing.TB, limit time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var live []int
		for _, p := range pids {
			if Alive(p) {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range live {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("processes %v still Alive %v after hooksupd exited", live, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReadPids waits for file to hold whitespace-separated pids (want of them).
func ReadPids(t testing.TB, file string, want int, limit time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		data, _ := os.ReadFile(file)
		fields := strings.Fields(string(data))
		if len(fields) >= want {
			var pids []int
			for _, f := range fields[:want] {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file %s: %q", file, data)
				}
				pids = append(pids, n)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s not written within %v (content %q)", file, limit, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Mkdir creates dir (and parents) and returns it.
func Mkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
