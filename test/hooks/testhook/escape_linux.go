// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// escape tries one way out of the hook's sandbox (docs/sandbox.md):
//
//	escape raise               write max into its own pids.max
//	escape kill PID            SIGKILL PID (the supervisor)
//	escape signal PID          SIGTERM PID (another hook, by its pid here)
//	escape environ PID         read /proc/PID/environ
//	escape unix PATH           connect to the unix socket PATH, send reload
//	escape tcp ADDR            connect to ADDR
//	escape write PATH          create PATH (removed again)
//	escape see PATH            stat PATH (a file of the host's /tmp)
//	escape mount DIR           mount a tmpfs on DIR
//	escape ptrace PID          attach to PID
//	escape getcwd              call getcwd (denied by system_call_filter)
//	escape setuid PATH         exec PATH (a setuid-root copy of this
//	                           program) as "escape euid"
//	escape euid                succeed only with effective uid 0
//
// A refused attempt writes "refused KIND: ERR" to stderr and exits 1
// without a decision, so the fire's result is the hook's fail_mode. One
// that got through answers modify with metadata {"escaped": KIND}.
func escape(args []string) int {
	kind, arg := "", ""
	if len(args) > 0 {
		kind = args[0]
	}
	if len(args) > 1 {
		arg = args[1]
	}
	if kind != "setuid" {
		readEnvelope()
	}
	var err error
	detail := ""
	switch kind {
	case "raise":
		var p string
		if p, err = ownPidsMax(); err == nil {
			err = os.WriteFile(p, []byte("max"), 0)
		}
	case "kill":
		err = syscall.Kill(atoi([]string{arg}, 0), syscall.SIGKILL)
	case "signal":
		err = syscall.Kill(atoi([]string{arg}, 0), syscall.SIGTERM)
	case "environ":
		var b []byte
		b, err = os.ReadFile("/proc/" + arg + "/environ")
		detail = strings.ReplaceAll(string(b), "\x00", " ")
	case "unix":
		var c net.Conn
		if c, err = net.DialTimeout("unix", arg, 2*time.Second); err == nil {
			fmt.Fprintln(c, `{"id":1,"op":"reload"}`)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			detail, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	case "tcp":
		var c net.Conn
		if c, err = net.DialTimeout("tcp", arg, 2*time.Second); err == nil {
			c.Close()
		}
	case "write":
		var f *os.File
		if f, err = os.OpenFile(arg, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			f.Close()
			os.Remove(arg)
		}
	case "see":
		_, err = os.Stat(arg)
	case "mount":
		err = syscall.Mount("tmpfs", arg, "tmpfs", 0, "")
	case "ptrace":
		pid := atoi([]string{arg}, 0)
		if err = syscall.PtraceAttach(pid); err == nil {
			syscall.PtraceDetach(pid)
		}
	case "getcwd":
		_, err = syscall.Getwd()
	case "setuid":
		err = syscall.Exec(arg, []string{arg, "escape", "euid"}, os.Environ())
	case "euid":
		if os.Geteuid() != 0 {
			err = fmt.Errorf("effective uid %d, not 0", os.Geteuid())
		}
	default:
		err = fmt.Errorf("unknown escape %q", kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "refused %s: %v\n", kind, err)
		return 1
	}
	modify(map[string]any{"escaped": kind, "detail": detail})
	return 0
}

// ownPidsMax is the pids.max of this process's own group, found from
// inside through /proc/self/cgroup (v1 pids hierarchy, else cgroup2).
func ownPidsMax() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && f[1] == "pids" {
			return filepath.Join("/sys/fs/cgroup/pids", f[2], "pids.max"), nil
		}
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "0::"); ok {
			return filepath.Join("/sys/fs/cgroup", rest, "pids.max"), nil
		}
	}
	return "", errors.New("no pids cgroup")
}

// nsPidfile writes this process's pid as it sees it (in the hook PID
// namespace) to FILE, reads the envelope, sleeps MS and allows: a victim
// for "escape signal".
func nsPidfile(args []string) int {
	if err := os.WriteFile(arg(args, 0), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fatal(err)
	}
	readEnvelope()
	time.Sleep(time.Duration(atoi(args[min(1, len(args)):], 5000)) * time.Millisecond)
	allow()
	return 0
}
