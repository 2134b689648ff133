// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hookDef is one [[hook]] of the generated configuration; each has its own
// event, so a fire of that event runs exactly that hook.
type hookDef struct {
	name, role, mode string
	timeoutMS        int
	limits           string
	closed           bool // fail_mode = "closed": a failure is a deny carrying its reason
}

// Every hook of the campaign. The limits are the ones each hostile hook
// must run into.
var hookDefs = []hookDef{
	{"good-exec", "exec", "exec", 5000, `memory_max = "64M"` + "\n" + `pids_max = 64` + "\n" + `cpu_max = "100%"`, false},
	{"good-daemon", "daemon", "daemon", 5000, `memory_max = "64M"` + "\n" + `pids_max = 64`, false},
	{"good-slow", "slow", "exec", 5000, `memory_max = "64M"` + "\n" + `pids_max = 64`, false},
	{"memhog", "memhog", "exec", 3000, `memory_max = "32M"` + "\n" + `pids_max = 64`, false},
	{"fork", "fork", "exec", 1500, `memory_max = "128M"` + "\n" + `pids_max = 24`, false},
	{"spin", "spin", "exec", 1000, `cpu_max = "20%"` + "\n" + `pids_max = 64`, false},
	{"flood", "flood", "exec", 3000, `memory_max = "64M"` + "\n" + `pids_max = 64`, false},
	{"hang", "hang", "exec", 700, `pids_max = 64`, false},
	{"escape", "escape", "exec", 2000, `memory_max = "64M"` + "\n" + `pids_max = 64`, false},
	{"junk", "junk", "exec", 2000, `pids_max = 64`, false},
	{"crashloop", "crash", "daemon", 500, `pids_max = 64`, true},
	{"hang-daemon", "hangd", "daemon", 500, `pids_max = 64`, false},
}

func eventOf(hook string) string { return "chaos_" + strings.ReplaceAll(hook, "-", "_") }

// config renders hooks.toml. variant changes a priority (so a reload has
// something to apply); broken adds an unknown key, which refuses the file.
func (r *run) config(variant int, broken bool) string {
	var sb strings.Builder
	if broken {
		fmt.Fprintf(&sb, "no_such_table_%d = true\n", variant)
	}
	fmt.Fprintf(&sb, "[policy]\nstrict_modes = false\n\n[supervisor]\nbackend = \"linux\"\ndaemon_stop_grace = \"500ms\"\n\n")
	fmt.Fprintf(&sb, "[server]\nmetrics_listen = %q\nmax_line_bytes = \"1M\"\ndrain_timeout = \"5s\"\n\n", r.metricsSock)
	for _, h := range hookDefs {
		fmt.Fprintf(&sb, "[[event]]\nname = %q\ndeadline_ms = %d\nkind = \"decision\"\ndefault_mode = %q\n\n",
			eventOf(h.name), h.timeoutMS+1000, h.mode)
	}
	for i, h := range hookDefs {
		prio := 0
		if i == variant%len(hookDefs) {
			prio = 1
		}
		fmt.Fprintf(&sb, "[[hook]]\nname = %q\nevent = %q\ncommand = %q\nargs = [\"hook\", %q]\nmode = %q\n"+
			"priority = %d\ntimeout_ms = %d\nenabled = true\nnamespace = \"*\"\n",
			h.name, eventOf(h.name), r.self, h.role, h.mode, prio, h.timeoutMS)
		fmt.Fprintf(&sb, "env = { CHAOS_MARKER = %q, CHAOS_DIR = %q }\n", r.marker, r.dir)
		if h.closed {
			sb.WriteString("fail_mode = \"closed\"\n")
		}
		if h.limits != "" {
			fmt.Fprintf(&sb, "[hook.limits]\n%s\n", h.limits)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// writeConfig replaces the config file atomically (a reload never reads
// half a file).
func (r *run) writeConfig(text string) error {
	tmp := r.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.cfgPath)
}

// server is one `hooksupd serve` process.
type server struct {
	cmd   *exec.Cmd
	pid   int
	done  chan struct{}
	err   error
	roots []string // its cgroup subtree roots, one per hierarchy
}

func (r *run) startServer() (*server, error) {
	logf, err := os.OpenFile(r.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(r.hooksupd, "serve", "-c", r.cfgPath, "--socket", r.sock, "--log-level", "info")
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := dialClient(r.sock); err == nil {
			rep, err := c.Call("ping")
			c.Close()
			if err == nil && rep.OK {
				break
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("hooksupd serve exited at start: %v\n%s", s.err, r.logTail(2000))
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("hooksupd serve not answering after 60 s\n%s", r.logTail(2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.roots = cgroupRoots(s.pid)
	return s, nil
}

func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) kill() {
	if s.alive() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-s.done
}

// stop is the clean stop: SIGTERM, then wait (SIGKILL after 30 s).
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("did not stop within 30 s of SIGTERM")
	}
}

func (r *run) logTail(n int) string {
	b, _ := os.ReadFile(r.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var rootRE = regexp.MustCompile(`^hooksupd(-[0-9]+)*$`)

// cgroupRoots finds the server's cgroup subtree roots: it keeps each one
// open (its lock), so they are among its open directories.
func cgroupRoots(pid int) []string {
	var roots []string
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	seen := map[string]bool{}
	for _, e := range ents {
		p, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(p, "/sys/fs/cgroup/") || !rootRE.MatchString(filepath.Base(p)) || seen[p] {
			continue
		}
		seen[p] = true
		roots = append(roots, p)
	}
	return roots
}

// procInfo is what /proc says about one process.
type procInfo struct {
	pid, ppid int
	state     byte   // R, S, Z, ...
	start     uint64 // start time in clock ticks: (pid, start) names one process
	role      string // "chaos hook ROLE", else ""
	launcher  bool   // a parked hooksupd launcher
}

func readProc(pid int) (procInfo, bool) {
	pi := procInfo{pid: pid}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return pi, false
	}
	if i := bytes.LastIndexByte(st, ')'); i > 0 {
		f := strings.Fields(string(st[i+1:]))
		if len(f) > 19 {
			pi.state = f[0][0]
			pi.ppid, _ = strconv.Atoi(f[1])
			pi.start, _ = strconv.ParseUint(f[19], 10, 64)
		}
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasPrefix(exe, "/memfd:hooksupd-launcher") {
		pi.launcher = true
	}
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if len(args) >= 3 && args[1] == "hook" {
			pi.role = args[2]
		}
	}
	return pi, true
}

// markedProcs lists the live processes whose environment carries marker:
// every process of every hook tree, wherever it went.
func markedProcs(marker string) []procInfo {
	want := []byte("CHAOS_MARKER=" + marker + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if pi, ok := readProc(pid); ok && pi.state != 'Z' {
			out = append(out, pi)
		}
	}
	return out
}

// isLiveDaemon: a daemon hook's child, as the server keeps it.
func isLiveDaemon(pi procInfo, server int) bool {
	return pi.ppid == server && (pi.role == "daemon" || pi.role == "hangd" || pi.role == "crash")
}

// leftovers returns the hook processes that should not exist: all marked
// processes but the server's current daemon children.
func leftovers(marker string, server int) []procInfo {
	var out []procInfo
	for _, pi := range markedProcs(marker) {
		if server > 0 && isLiveDaemon(pi, server) {
			continue
		}
		out = append(out, pi)
	}
	return out
}

// groupCensus walks the server's subtree: groups in all, and groups that
// hold a process that is neither a parked launcher nor a live daemon. A
// group has a directory in every hierarchy; it is counted once.
func groupCensus(roots []string, server int) (groups, stray int, strayPids []int) {
	all, bad := map[string]bool{}, map[string]bool{}
	defer func() { groups, stray = len(all), len(bad) }()
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			all[rel] = true
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			isBad := false
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				pi, ok := readProc(pid)
				if !ok || pi.state == 'Z' || pi.launcher || isLiveDaemon(pi, server) {
					continue
				}
				isBad = true
				strayPids = append(strayPids, pid)
			}
			if isBad {
				bad[rel] = true
			}
			return nil
		})
	}
	return groups, stray, strayPids
}

// serverUsage is the server's own footprint.
type serverUsage struct {
	fds, rssKB, threads, goroutines int
	// What legitimately holds fds: each group keeps its cgroup files
	// open, each child (parked launcher, daemon) its pipes and pidfd.
	groups, children int
}

func (r *run) usage(pid int) serverUsage {
	var u serverUsage
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	u.fds = len(ents)
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			n, _ := strconv.Atoi(strings.Fields(v + " 0")[0])
			switch k {
			case "VmRSS":
				u.rssKB = n
			case "Threads":
				u.threads = n
			}
		}
		f.Close()
	}
	u.goroutines = r.goroutines()
	if r.srv != nil && r.srv.pid == pid {
		u.groups, _, _ = groupCensus(r.srv.roots, pid)
	}
	ents, _ = os.ReadDir("/proc")
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			if pi, ok := readProc(n); ok && pi.ppid == pid {
				u.children++
			}
		}
	}
	return u
}

// goroutines scrapes go_goroutines from the metrics endpoint (a unix
// socket), -1 when it cannot.
func (r *run) goroutines() int {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.metricsSock)
	}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := cl.Get("http://hooksupd/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	return -1
}

// status returns the server's status report, decoded loosely.
func (r *run) status() (map[string]any, error) {
	c, err := dialClient(r.sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rep, err := c.Call("status")
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := jsonUnmarshal(rep.Status, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// settle waits until no fire is in flight and only our probe is connected
// (bounded), so that the footprint is read at rest.
func (r *run) settle(max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		st, err := r.status()
		if err == nil {
			srv, _ := st["server"].(map[string]any)
			inflight, _ := srv["fires_inflight"].(float64)
			conns, _ := srv["connections_open"].(float64)
			if inflight == 0 && conns <= 1 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // replies flushed, children reaped
}

// stillAlive reports whether the process pi named is still running (not a
// zombie, and its pid not reused since).
func stillAlive(pi procInfo) bool {
	now, ok := readProc(pi.pid)
	return ok && now.start == pi.start && now.state != 'Z'
}
