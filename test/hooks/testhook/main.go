// SPDX-License-Identifier: Apache-2.0

//go:build unix

// The Go runtime's container-aware GOMAXPROCS (Go 1.25+) keeps the cgroup
// CPU limit files open; fdlist must see only what the child inherited.
//go:debug containermaxprocs=0

// Command testhook is the one hook program the test suites run. Its
// behaviour is chosen by its first argument, so a single static binary
// (CGO_ENABLED=0, stdlib only) covers every case and can be copied into a
// VM that has no Go toolchain.
//
//	testhook [pidfile PATH] BEHAVIOUR [ARGS...]
//
// Exec-mode behaviours read the whole envelope from stdin first (unless
// noted) and print one decision line:
//
//	allow | deny [REASON] | ask | modify [KEY=JSON...] | echo-payload
//	sleep MS                   sleep, then allow
//	flood-stdout N             write N bytes to stdout BEFORE reading stdin
//	flood-stderr N             write N bytes to stderr before reading stdin
//	ignore-stdin               close stdin unread, print allow, exit 0
//	junk                       print a line that is not JSON
//	exit1-after-decision       print allow, exit 1
//	stderr-exit CODE LINE...   write the lines to stderr, print allow, exit CODE
//	grandchild-holds-stdout    start a sleeping grandchild that inherits
//	                           stdout, answer (metadata.grandchild = pid), exit
//	setsid-daemon              same, but the holder is double-forked into a
//	                           session of its own (escapes the process group)
//	forker N                   start N sleeping children (stdio not
//	                           inherited), answer metadata.children, exit
//	memhog MIB                 allocate and touch MIB MiB, allow
//	cpuburn MS                 spin for MS of CPU, allow
//	fdlist                     metadata.fds = open fds (read before stdin)
//	env                        metadata.env = its environment
//	daemon [-crash-every N] [-late MS] [-stray] [-deny]
//	                           NDJSON loop: one reply line per request line
//	forkmany N                 try N forks of a sleeping program, going on
//	                           after failures; metadata ok, failed, err and
//	                           its own group's pids_current and pids_max
//	selfkill                   SIGKILL itself after reading stdin
//	steer                      act on the payload: "memhog_mib" (allocate
//	                           and touch), "selfkill", "sleep_ms"; then
//	                           modify with metadata.pid
//	setsid-daemon-hang FILE    double-fork a setsid'd stdout holder, append
//	                           "PID HOLDER" to FILE, never answer
//	tree-sleep FILE N MS       start N sleeping children (stdio not
//	                           inherited), append "PID CHILD..." to FILE,
//	                           sleep MS, allow
//	cgroups                    metadata.pid and metadata.cgroup (the text
//	                           of /proc/self/cgroup)
//	steer-daemon               steer for each request line (daemon mode)
//	escape KIND [ARG]          try one sandbox escape (escape_linux.go):
//	                           refused: "refused KIND: ERR" on stderr,
//	                           exit 1; got through: metadata.escaped
//	ns-pidfile FILE MS         write its pid in the hook PID namespace to
//	                           FILE, sleep MS, allow
//
// A leading "pidfile PATH" writes the process id to PATH first.
// The daemon's reply is modify with metadata {"pid","n","payload"}
// (deny with -deny). A request payload may steer one reply: "sleep_ms"
// (answer late), "stray" (print a non-JSON line first), "unsolicited"
// (print an extra line after the reply), "crash" (exit 3 without
// answering), "stderr" (write that many bytes to stderr first) and "pad"
// (add that many bytes to the reply line).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "pidfile" {
		if err := os.WriteFile(args[1], []byte(strconv.Itoa(hostPid())), 0o644); err != nil {
			fatal(err)
		}
		args = args[2:]
	}
	if len(args) == 0 {
		args = []string{"allow"}
	}
	os.Exit(run(args[0], args[1:]))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "testhook:", err)
	os.Exit(2)
}

// envelope is the request line.
type envelope struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

func readEnvelope() envelope {
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		fatal(err)
	}
	var env envelope
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(bytes.TrimSpace(b), &env); err != nil {
			fatal(fmt.Errorf("bad envelope: %w", err))
		}
	}
	return env
}

func say(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fatal(err)
	}
	os.Stdout.Write(append(b, '\n'))
}

func allow() { say(map[string]any{"action": "allow"}) }

func modify(meta any) {
	say(map[string]any{"action": "modify", "delta": map[string]any{"metadata": meta}})
}

func atoi(args []string, def int) int {
	if len(args) == 0 {
		return def
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		fatal(err)
	}
	return n
}

func run(behaviour string, args []string) int {
	switch behaviour {
	case "allow":
		readEnvelope()
		allow()
	case "deny":
		readEnvelope()
		reason := "denied by testhook"
		if len(args) > 0 {
			reason = args[0]
		}
		say(map[string]any{"action": "deny", "reason": reason, "code": 451})
	case "ask":
		readEnvelope()
		say(map[string]any{"action": "ask_user", "prompt": "proceed?", "options": []string{"yes", "no"}, "default": "no"})
	case "modify":
		readEnvelope()
		delta := map[string]json.RawMessage{}
		for _, kv := range args {
			k, v, _ := strings.Cut(kv, "=")
			if !json.Valid([]byte(v)) {
				v = strconv.Quote(v)
			}
			delta[k] = json.RawMessage(v)
		}
		if len(args) == 0 {
			delta["title"] = json.RawMessage(`"modified by testhook"`)
		}
		say(map[string]any{"action": "modify", "delta": delta})
	case "echo-payload":
		modify(readEnvelope().Payload)
	case "sleep":
		readEnvelope()
		time.Sleep(time.Duration(atoi(args, 1000)) * time.Millisecond)
		allow()
	case "flood-stdout":
		flood(os.Stdout, atoi(args, 10<<20))
		readEnvelope()
		allow()
	case "flood-stderr":
		flood(os.Stderr, atoi(args, 10<<20))
		readEnvelope()
		allow()
	case "ignore-stdin":
		os.Stdin.Close()
		allow()
	case "junk":
		readEnvelope()
		fmt.Println("this is not json")
	case "exit1-after-decision":
		readEnvelope()
		allow()
		return 1
	case "stderr-exit":
		readEnvelope()
		for _, l := range args[min(1, len(args)):] {
			fmt.Fprintln(os.Stderr, l)
		}
		allow()
		return atoi(args, 0)
	case "grandchild-holds-stdout":
		readEnvelope()
		pid := startHolder(false, true)
		modify(map[string]any{"pid": hostPid(), "grandchild": pid})
	case "setsid-daemon":
		readEnvelope()
		modify(map[string]any{"pid": hostPid(), "grandchild": doubleFork()})
	case "_setsid-mid":
		// The middle of the double fork: start the holder in a new
		// session, report its pid on fd 3, exit at once. fd 3 came in
		// without close-on-exec; the holder must not inherit it, or the
		// reader would never see EOF.
		syscall.CloseOnExec(3)
		pid := startHolder(true, true)
		f := os.NewFile(3, "report")
		fmt.Fprintln(f, pid)
		f.Close()
	case "_hold":
		signal.Ignore(syscall.SIGHUP)
		time.Sleep(60 * time.Second)
	case "forker":
		pids := make([]int, 0)
		for range atoi(args, 1) {
			pids = append(pids, startHolder(false, false))
		}
		readEnvelope()
		modify(map[string]any{"children": pids})
	case "memhog":
		readEnvelope()
		n := atoi(args, 64) << 20
		b := make([]byte, n)
		for i := 0; i < n; i += 4096 {
			b[i] = 1
		}
		allow()
	case "cpuburn":
		readEnvelope()
		end := time.Now().Add(time.Duration(atoi(args, 100)) * time.Millisecond)
		x := 0
		for time.Now().Before(end) {
			for i := range 100000 {
				x += i
			}
		}
		say(map[string]any{"action": "allow", "x": x})
	case "fdlist":
		fds := listFDs()
		readEnvelope()
		modify(map[string]any{"fds": fds})
	case "env":
		readEnvelope()
		modify(map[string]any{"env": os.Environ()})
	case "daemon":
		return daemon(args)
	case "forkmany":
		return forkMany(atoi(args, 200))
	case "selfkill":
		readEnvelope()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // not reached
	case "steer":
		return steer(readEnvelope().Payload)
	case "steer-daemon":
		// One steer per request line, until stdin ends.
		in := bufio.NewReaderSize(os.Stdin, 1<<20)
		for {
			line, err := in.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				var env envelope
				if jerr := json.Unmarshal(line, &env); jerr != nil {
					fatal(jerr)
				}
				steer(env.Payload)
			}
			if err != nil {
				return 0
			}
		}
	case "setsid-daemon-hang":
		readEnvelope()
		holder := doubleFork()
		appendLine(arg(args, 0), fmt.Sprint(hostPid(), " ", holder))
		time.Sleep(60 * time.Second)
		allow()
	case "tree-sleep":
		pids := []string{strconv.Itoa(hostPid())}
		for range atoi(args[min(1, len(args)):], 2) {
			pids = append(pids, strconv.Itoa(startHolder(false, false)))
		}
		appendLine(arg(args, 0), strings.Join(pids, " "))
		readEnvelope()
		time.Sleep(time.Duration(atoi(args[min(2, len(args)):], 60000)) * time.Millisecond)
		allow()
	case "escape":
		return escape(args)
	case "ns-pidfile":
		return nsPidfile(args)
	case "cgroups":
		readEnvelope()
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			fatal(err)
		}
		modify(map[string]any{"pid": hostPid(), "cgroup": string(b)})
	default:
		fatal(fmt.Errorf("unknown behaviour %q", behaviour))
	}
	return 0
}

func flood(w io.Writer, n int) {
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for n > 0 {
		k := min(n, len(line))
		if _, err := w.Write(line[len(line)-k:]); err != nil {
			return // the reader is gone (killed for flooding)
		}
		n -= k
	}
}

// startHolder starts a sleeping copy of this program that is not waited
// for; with inherit it holds this process's stdout and stderr.
func startHolder(setsid, inherit bool) int {
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command(self, "_hold")
	if inherit {
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stderr
	}
	if setsid {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	return hostPidOf(cmd.Process.Pid)
}

// hostPid is this process's pid as the host (and the test reading it)
// sees it. Under hooksupd a hook lives in a PID namespace where
// os.Getpid is another number; /proc is the host's, and /proc/self
// names the host pid.
func hostPid() int {
	selfOnce.Do(func() {
		selfPid = os.Getpid()
		if s, err := os.Readlink("/proc/self"); err == nil {
			if n, err := strconv.Atoi(s); err == nil {
				selfPid = n
			}
		}
	})
	return selfPid
}

var (
	selfOnce sync.Once
	selfPid  int
)

// hostPidOf translates the pid of a child of this process from this
// process's PID namespace to the host's (the last NSpid field is the pid
// in the innermost namespace).
func hostPidOf(child int) int {
	if hostPid() == os.Getpid() {
		return child // not in a PID namespace of its own
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", hostPid()))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + f + "/status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(st), "\n") {
				if ns, ok := strings.CutPrefix(l, "NSpid:"); ok {
					if fs := strings.Fields(ns); len(fs) > 0 && fs[len(fs)-1] == strconv.Itoa(child) {
						n, _ := strconv.Atoi(f)
						return n
					}
				}
			}
		}
	}
	return child
}

// doubleFork starts the holder through a middle process that exits at
// once, so the holder is reparented away from the hook, in its own
// session and process group.
func doubleFork() int {
	self, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command(self, "_setsid-mid")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	w.Close()
	b, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		fatal(err)
	}
	return pid
}

// listFDs lists /proc/self/fd with raw syscalls, so the Go runtime has no
// chance to open a poller fd first; the directory's own fd is left out.
func listFDs() []int {
	dfd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fatal(err)
	}
	defer syscall.Close(dfd)
	buf := make([]byte, 8192)
	var fds []int
	for {
		n, err := syscall.ReadDirent(dfd, buf)
		if err != nil {
			fatal(err)
		}
		if n == 0 {
			break
		}
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd != dfd {
				fds = append(fds, fd)
			}
		}
	}
	sort.Ints(fds)
	return fds
}

// daemon answers one line per request line until stdin ends.
func daemon(args []string) int {
	fs := flag.NewFlagSet("daemon", flag.ExitOnError)
	crashEvery := fs.Int("crash-every", 0, "exit 3 after answering every Nth request")
	late := fs.Int("late", 0, "answer each request after MS milliseconds")
	stray := fs.Bool("stray", false, "print a non-JSON line before each reply")
	deny := fs.Bool("deny", false, "reply deny")
	if err := fs.Parse(args); err != nil {
		fatal(err)
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	for n := 1; ; n++ {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				return 0 // stdin closed: a clean shutdown
			}
			continue
		}
		var env envelope
		if err := json.Unmarshal(line, &env); err != nil {
			fatal(fmt.Errorf("bad request: %w", err))
		}
		var steer struct {
			SleepMS     int  `json:"sleep_ms"`
			Stray       bool `json:"stray"`
			Unsolicited bool `json:"unsolicited"`
			Crash       bool `json:"crash"`
			Stderr      int  `json:"stderr"`
			Pad         int  `json:"pad"`
		}
		_ = json.Unmarshal(env.Payload, &steer)
		if steer.Crash {
			return 3
		}
		if steer.Stderr > 0 {
			flood(os.Stderr, steer.Stderr)
		}
		if d := *late + steer.SleepMS; d > 0 {
			time.Sleep(time.Duration(d) * time.Millisecond)
		}
		if *stray || steer.Stray {
			fmt.Fprintln(out, "debug: this line is not a decision")
		}
		var reply map[string]any
		if *deny {
			reply = map[string]any{"action": "deny", "reason": "denied by testhook daemon", "code": 451}
		} else {
			meta := map[string]any{"pid": hostPid(), "n": n, "payload": env.Payload}
			if steer.Pad > 0 {
				meta["pad"] = strings.Repeat("x", steer.Pad)
			}
			reply = map[string]any{"action": "modify", "delta": map[string]any{"metadata": meta}}
		}
		b, _ := json.Marshal(reply)
		out.Write(append(b, '\n'))
		if steer.Unsolicited {
			out.WriteString(`{"action":"allow"}` + "\n")
		}
		out.Flush()
		if *crashEvery > 0 && n%*crashEvery == 0 {
			return 3
		}
	}
}

// arg returns args[i], failing when it is missing.
func arg(args []string, i int) string {
	if i >= len(args) {
		fatal(fmt.Errorf("missing argument %d", i+1))
	}
	return args[i]
}

// appendLine appends line and a newline to path in one write, so that
// concurrent hooks appending to one file never interleave.
func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fatal(err)
	}
	if _, err := f.Write([]byte(line + "\n")); err != nil {
		fatal(err)
	}
	if err := f.Close(); err != nil {
		fatal(err)
	}
}

// forkMany tries n forks of a sleeping program and reports how many the
// kernel allowed. Every thread counts against pids.max, and a Go runtime
// that cannot start a thread aborts: one P keeps the runtime from needing
// new threads while the forks fail.
func forkMany(n int) int {
	runtime.GOMAXPROCS(1)
	readEnvelope()
	prog, argv := "", []string{"sleep", "30"}
	for _, p := range []string{"/bin/sleep", "/usr/bin/sleep"} {
		if _, err := os.Stat(p); err == nil {
			prog = p
			break
		}
	}
	if prog == "" {
		self, err := os.Executable()
		if err != nil {
			fatal(err)
		}
		prog, argv = self, []string{self, "_hold"}
	}
	ok, failed, first := 0, 0, ""
	for range n {
		// No stdio: the children must not hold the hook's pipes.
		if _, err := syscall.ForkExec(prog, argv, &syscall.ProcAttr{}); err != nil {
			failed++
			if first == "" {
				first = err.Error()
			}
		} else {
			ok++
		}
	}
	modify(map[string]any{"ok": ok, "failed": failed, "err": first,
		"pids_current": pidsFile("pids.current"), "pids_max": pidsFile("pids.max")})
	return 0
}

// pidsFile reads a file of this process's pids cgroup (v1 pids hierarchy,
// or the cgroup2 tree when it is mounted at /sys/fs/cgroup); "" when there
// is none.
func pidsFile(name string) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	_, v2err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir string
		switch {
		case slicesContains(strings.Split(parts[1], ","), "pids"):
			dir = "/sys/fs/cgroup/pids" + parts[2]
		case parts[0] == "0" && parts[1] == "" && v2err == nil:
			dir = "/sys/fs/cgroup" + parts[2]
		default:
			continue
		}
		if v, err := os.ReadFile(dir + "/" + name); err == nil {
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}

func slicesContains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// steer does what the payload asks, then answers modify with its pid.
func steer(payload json.RawMessage) int {
	var p struct {
		MemhogMiB int  `json:"memhog_mib"`
		Selfkill  bool `json:"selfkill"`
		SleepMS   int  `json:"sleep_ms"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		fatal(err)
	}
	if p.MemhogMiB > 0 {
		b := make([]byte, p.MemhogMiB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
	}
	if p.Selfkill {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute) // not reached
	}
	time.Sleep(time.Duration(p.SleepMS) * time.Millisecond)
	modify(map[string]any{"pid": hostPid()})
	return 0
}
