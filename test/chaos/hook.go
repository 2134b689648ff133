// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// The chaos binary doubles as every hook of the campaign: `chaos hook ROLE`.
// hooksupd gives it CHAOS_MARKER (so that the suite finds every process of
// every hook tree in /proc, escapees included: the environment is
// inherited) and CHAOS_DIR (where well-behaved hooks record each fire they
// answered).

// hookRoles lists the roles and what each does to the supervisor.
var hookRoles = map[string]func() int{
	"exec":    hookExec,       // well-behaved exec hook: record the fire, answer deny "chaos-ok <cid>"
	"slow":    hookSlow,       // the same after 30 ms of sleep (a slow exec hook)
	"daemon":  hookDaemon,     // well-behaved daemon: one answer per line
	"memhog":  hookMemhog,     // touches 512 MiB (past memory_max)
	"fork":    hookFork,       // forks until pids_max refuses, then sleeps
	"spin":    hookSpin,       // burns CPU forever (past cpu_max, until the timeout)
	"flood":   hookFlood,      // writes 100 MiB to stdout without a newline
	"hang":    hookHang,       // reads its request and never answers
	"escape":  hookEscape,     // double fork + setsid, answers, exits: the grandchild must still die
	"escape2": hookEscape2,    // the middle of the double fork
	"junk":    hookJunk,       // answers with junk that is no decision
	"crash":   hookCrash,      // a daemon that dies at start (crash loop)
	"sleep":   hookSleep,      // a child that sleeps forever
	"hangd":   hookHangDaemon, // a daemon that reads and never answers
}

func runHook(role string) int {
	f, ok := hookRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "chaos hook: unknown role %q\n", role)
		return 2
	}
	return f()
}

// cidOf returns payload.cid of one request envelope line.
func cidOf(line []byte) string {
	var env struct {
		Payload struct {
			CID string `json:"cid"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(line, &env)
	return env.Payload.CID
}

// record appends cid to ran.log: one O_APPEND write per fire, so lines of
// concurrent hooks never interleave.
func record(cid string) {
	if cid == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(os.Getenv("CHAOS_DIR"), "ran.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	f.Write([]byte(cid + "\n"))
	f.Close()
}

func answer(cid string) []byte {
	return []byte(`{"action":"deny","reason":"chaos-ok ` + cid + `","code":409}` + "\n")
}

func hookExec() int {
	b, _ := io.ReadAll(os.Stdin)
	cid := cidOf(b)
	record(cid)
	_, err := os.Stdout.Write(answer(cid))
	if err != nil {
		return 1
	}
	return 0
}

func hookSlow() int {
	time.Sleep(30 * time.Millisecond)
	return hookExec()
}

func hookDaemon() int {
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			cid := cidOf(line)
			record(cid)
			if _, err := os.Stdout.Write(answer(cid)); err != nil {
				return 1
			}
		}
		if err != nil {
			return 0
		}
	}
}

func hookMemhog() int {
	io.ReadAll(os.Stdin)
	var keep [][]byte
	for range 512 {
		c := make([]byte, 1<<20)
		for j := 0; j < len(c); j += 4096 {
			c[j] = 1
		}
		keep = append(keep, c)
	}
	runtime.KeepAlive(keep)
	os.Stdout.Write([]byte(`{"action":"allow"}` + "\n"))
	return 0
}

// spawnSelf starts `chaos hook role` with the same environment.
func spawnSelf(role string, setsid bool) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	null, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	_, err = syscall.ForkExec(exe, []string{exe, "hook", role}, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: setsid},
	})
	return err
}

func hookFork() int {
	io.ReadAll(os.Stdin)
	for range 1000 {
		if spawnSelf("sleep", false) != nil {
			break
		}
	}
	select {}
}

func hookSpin() int {
	io.ReadAll(os.Stdin)
	for i := 0; ; i++ {
		_ = i * i
	}
}

func hookFlood() int {
	io.ReadAll(os.Stdin)
	chunk := []byte(strings.Repeat("x", 1<<20))
	for range 100 {
		if _, err := os.Stdout.Write(chunk); err != nil {
			return 1
		}
	}
	os.Stdout.Write([]byte("\n"))
	return 0
}

func hookHang() int {
	io.ReadAll(os.Stdin)
	select {}
}

func hookHangDaemon() int {
	io.Copy(io.Discard, os.Stdin)
	select {}
}

func hookEscape() int {
	io.ReadAll(os.Stdin)
	if err := spawnSelf("escape2", true); err != nil {
		return 1
	}
	time.Sleep(20 * time.Millisecond) // let the grandchild get going
	os.Stdout.Write([]byte(`{"action":"allow"}` + "\n"))
	return 0
}

func hookEscape2() int {
	if err := spawnSelf("sleep", true); err != nil {
		return 1
	}
	return 0
}

func hookJunk() int {
	io.ReadAll(os.Stdin)
	os.Stdout.Write([]byte("\x00\xff\xfe not json {\"action\":\n{\"action\":\"maybe\"}\n"))
	return 0
}

func hookCrash() int {
	fmt.Fprintln(os.Stderr, "chaos: crashing at start, as asked")
	return 1
}

func hookSleep() int {
	time.Sleep(time.Hour)
	return 0
}
