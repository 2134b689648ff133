// SPDX-License-Identifier: Apache-2.0

//go:build unix

package testutil

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Proc is one process as /proc/PID/stat shows it.
type Proc struct {
	Pid, PPid int
	State     byte // R, S, D, Z, ...
}

// Procs lists every process in /proc. Processes that exit while it reads
// are left out.
func Procs() []Proc {
	ents, _ := os.ReadDir("/proc")
	out := make([]Proc, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields
		// after it start past the last ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[0] == "" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out = append(out, Proc{Pid: pid, PPid: ppid, State: f[0][0]})
	}
	return out
}

// Exe is the executable of pid ("" when it cannot be read).
func Exe(pid int) string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return exe
}

// PidsWithEnv lists the processes whose environment holds the entry kv
// ("NAME=value"): a marker a test sets on the processes it starts finds
// all of their descendants, escapees included.
func PidsWithEnv(kv string) []int {
	var pids []int
	for _, p := range Procs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/environ")
		if err != nil {
			continue
		}
		for _, e := range bytes.Split(env, []byte{0}) {
			if string(e) == kv {
				pids = append(pids, p.Pid)
				break
			}
		}
	}
	return pids
}
