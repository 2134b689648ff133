// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// procSnap is what a supervisor process holds at one moment.
type procSnap struct {
	RSSKB      int64 `json:"rss_kb"`
	Goroutines int   `json:"goroutines"`
	Threads    int   `json:"threads"`
	FDs        int   `json:"fds"`
	Children   int   `json:"children"` // live direct children (daemons, parked launchers)
	// FDKinds counts the open fds by what they are: "pipe", "pidfd",
	// "cgroup <file>", "cgroup dir", ...
	FDKinds map[string]int `json:"fd_kinds"`
}

// fdKind names what an fd's /proc link points at.
func fdKind(link string) string {
	switch {
	case strings.HasPrefix(link, "pipe:"):
		return "pipe"
	case strings.HasPrefix(link, "anon_inode:"):
		return strings.Trim(strings.TrimPrefix(link, "anon_inode:"), "[]")
	case strings.HasPrefix(link, "socket:"):
		return "socket"
	case strings.HasPrefix(link, "/sys/fs/cgroup/"):
		rest := strings.TrimPrefix(link, "/sys/fs/cgroup/")
		base := rest[strings.LastIndexByte(rest, '/')+1:]
		if strings.Contains(base, ".") {
			return "cgroup " + base
		}
		return "cgroup dir"
	case strings.HasPrefix(link, "/memfd:"):
		return "memfd"
	}
	return "other"
}

func snapshot() procSnap {
	s := procSnap{Goroutines: runtime.NumGoroutine()}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			switch k {
			case "VmRSS":
				s.RSSKB, _ = strconv.ParseInt(f[0], 10, 64)
			case "Threads":
				s.Threads, _ = strconv.Atoi(f[0])
			}
		}
	}
	s.FDKinds = map[string]int{}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			l, err := os.Readlink("/proc/self/fd/" + e.Name())
			if err != nil {
				continue // the directory's own fd, closed by now
			}
			s.FDs++
			s.FDKinds[fdKind(l)]++
		}
	}
	s.Children = countChildren(os.Getpid())
	return s
}

// countChildren counts the live processes whose parent is pid.
func countChildren(pid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	want := strconv.Itoa(pid)
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == want && f[0] != "Z" {
			n++
		}
	}
	return n
}

// scaleResult is what the scale child reports.
type scaleResult struct {
	Variant string   `json:"variant"`
	N       int      `json:"n"`
	Before  procSnap `json:"before"`
	After   procSnap `json:"after"`
	Stopped procSnap `json:"stopped"`
	StartS  float64  `json:"start_s"`
	BurstMS float64  `json:"burst_ms"` // one request to every daemon, one after another
	StopMS  float64  `json:"stop_ms"`  // stopping every daemon
	CloseMS float64  `json:"close_ms"` // the backend's Close after that (parked launchers, groups)
	NoFile  uint64   `json:"rlimit_nofile"`
	Error   string   `json:"error,omitempty"`
}

// scaleChildMain runs in a fresh process (`hooksbench scale-child`) so the
// figures are those of a supervisor holding n idle daemons and nothing
// else.
func scaleChildMain(args []string) int {
	fs := flag.NewFlagSet("scale-child", flag.ExitOnError)
	variant := fs.String("variant", "hooksupd", "hooksupd or osexec")
	n := fs.Int("n", 1000, "daemons")
	child := fs.String("child", "", "daemon program")
	fs.Parse(args)
	// A service gets a large fd limit (systemd's default hard limit is
	// 524288); the shell that runs the bench may have less. Both variants
	// run under the same limit; the fds they use are reported.
	lim := unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	var r scaleResult
	var err error
	switch *variant {
	case "hooksupd":
		r, err = scaleHooksupd(*n, *child)
	case "osexec":
		r, err = scaleOsexec(*n, *child)
	default:
		err = fmt.Errorf("unknown variant %q", *variant)
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.NoFile = lim.Cur
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func settle() {
	time.Sleep(time.Second) // background work (launcher preparations) ends
	runtime.GC()
}

func scaleHooksupd(n int, child string) (scaleResult, error) {
	r := scaleResult{Variant: "hooksupd", N: n}
	defs := make([]hookDef, n)
	for i := range defs {
		defs[i] = hookDef{name: fmt.Sprintf("s-%d", i), event: daemonEvent, command: child, mode: "daemon"}
	}
	cfg, _, err := configOf(defs, "")
	if err != nil {
		return r, err
	}
	be, err := supervisor.New(supervisor.Options{Kind: "linux"})
	if err != nil {
		return r, err
	}
	reg := executor.NewRegistry(executor.RegistryOptions{Backend: be, Policy: cfg.Policy, Events: cfg.Events})
	settle()
	r.Before = snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	err = reg.Prestart(ctx, cfg.Hooks)
	r.StartS = time.Since(t0).Seconds()
	if err != nil {
		r.After = snapshot() // how many fds it held when it failed
		reg.Close(ctx)
		be.Close()
		return r, err
	}
	settle()
	r.After = snapshot()
	pay, _ := envelopeOf(daemonEvent, size200B)
	t0 = time.Now()
	for i := range cfg.Hooks {
		ex, err := reg.Executor(&cfg.Hooks[i])
		if err == nil {
			err = fireOnce(ex, daemonEvent, pay)
		}
		if err != nil {
			reg.Close(ctx)
			be.Close()
			return r, fmt.Errorf("fire %s: %w", cfg.Hooks[i].Name, err)
		}
	}
	r.BurstMS = float64(time.Since(t0).Microseconds()) / 1e3
	t0 = time.Now()
	err = reg.Close(ctx)
	r.StopMS = float64(time.Since(t0).Microseconds()) / 1e3
	t0 = time.Now()
	if cerr := be.Close(); err == nil {
		err = cerr
	}
	r.CloseMS = float64(time.Since(t0).Microseconds()) / 1e3
	r.Stopped = snapshot()
	return r, err
}

// scaleOsexec is the design the baselines measured for a plain Go
// supervisor: os/exec pipes, a reader goroutine and a cmd.Wait goroutine
// per daemon.
func scaleOsexec(n int, child string) (scaleResult, error) {
	r := scaleResult{Variant: "osexec", N: n}
	settle()
	r.Before = snapshot()
	type daemon struct {
		cmd     *exec.Cmd
		in      *os.File
		replies chan []byte
		exited  chan struct{}
	}
	ds := make([]*daemon, 0, n)
	stopAll := func() {
		for _, d := range ds {
			d.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, d := range ds {
			<-d.exited
		}
	}
	t0 := time.Now()
	for range n {
		cmd := exec.Command(child)
		cmd.Env = hookEnv(daemonEvent, "scale")
		inR, inW, err := os.Pipe()
		if err != nil {
			stopAll()
			return r, err
		}
		cmd.Stdin = inR
		out, err := cmd.StdoutPipe()
		if err != nil {
			stopAll()
			return r, err
		}
		if err := cmd.Start(); err != nil {
			stopAll()
			return r, err
		}
		inR.Close()
		d := &daemon{cmd: cmd, in: inW, replies: make(chan []byte, 1), exited: make(chan struct{})}
		go func() {
			br := bufio.NewReader(out)
			for {
				line, err := br.ReadBytes('\n')
				if err != nil {
					close(d.replies)
					return
				}
				d.replies <- line
			}
		}()
		go func() { cmd.Wait(); close(d.exited) }()
		ds = append(ds, d)
	}
	r.StartS = time.Since(t0).Seconds()
	settle()
	r.After = snapshot()
	_, envb := envelopeOf(daemonEvent, size200B)
	t0 = time.Now()
	for _, d := range ds {
		if _, err := d.in.Write(envb); err != nil {
			stopAll()
			return r, err
		}
		if err := parseAllow(<-d.replies); err != nil {
			stopAll()
			return r, err
		}
	}
	r.BurstMS = float64(time.Since(t0).Microseconds()) / 1e3
	t0 = time.Now()
	stopAll()
	r.StopMS = float64(time.Since(t0).Microseconds()) / 1e3
	for _, d := range ds {
		d.in.Close()
	}
	r.Stopped = snapshot()
	return r, nil
}

// rowScale is row 6: n idle daemon hooks, each variant in a fresh
// process.
func (b *bench) rowScale(context.Context) error {
	n := b.counts(1000, 100)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	run := func(v string, n int) (scaleResult, error) {
		cmd := exec.Command(self, "scale-child", "-variant", v, "-n", strconv.Itoa(n), "-child", b.bin.cDaemon)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return scaleResult{}, fmt.Errorf("scale child %s: %w", v, err)
		}
		var r scaleResult
		if err := json.Unmarshal(out, &r); err != nil {
			return scaleResult{}, fmt.Errorf("scale child %s: %w: %q", v, err, out)
		}
		if r.Error != "" {
			return r, fmt.Errorf("scale child %s, %d daemons (RLIMIT_NOFILE %d): %s", v, n, r.NoFile, firstLines(r.Error, 2))
		}
		return r, nil
	}
	var res []scaleResult
	var failedAt []string // hooksupd runs that ran out of fds
	for _, v := range []string{"osexec", "hooksupd"} {
		r, err := run(v, n)
		// A supervisor that needs more fds than the limit allows fails
		// with EMFILE: that is a result, so say so and measure at half.
		outOfFDs := func() bool {
			return strings.Contains(r.Error, "too many open files") ||
				r.NoFile > 0 && float64(r.After.FDs) >= 0.8*float64(r.NoFile)
		}
		for m := n / 2; err != nil && outOfFDs() && m >= 50; m /= 2 {
			failedAt = append(failedAt, fmt.Sprintf("%d daemons with RLIMIT_NOFILE %d (%d fds open at the failure)", r.N, r.NoFile, r.After.FDs))
			b.note("row 6: %s (EMFILE: the supervisor ran out of fds)", firstLines(err.Error(), 1))
			r, err = run(v, m)
		}
		if err != nil {
			return err
		}
		res = append(res, r)
	}
	var rows []Row
	for _, r := range res {
		group := fmt.Sprintf("%d idle daemon hooks (C child)", r.N)
		per := func(a, b int64) float64 { return float64(b-a) / float64(r.N) }
		rss := per(r.Before.RSSKB, r.After.RSSKB) * 1.024 // KiB -> KB
		gor := per(int64(r.Before.Goroutines), int64(r.After.Goroutines))
		thr := r.After.Threads - r.Before.Threads
		fds := per(int64(r.Before.FDs), int64(r.After.FDs))
		kids := per(int64(r.Before.Children), int64(r.After.Children))
		row := Row{Num: "6", Group: group, N: r.N, noLat: true,
			Note: fmt.Sprintf("RLIMIT_NOFILE %d; RSS %.1f KB, %.2f goroutines, %.2f fds, %.2f child processes per daemon; +%d OS threads; start all %.2f s; "+
				"1 request to each %.0f ms; stop all %.0f ms; left after stop: %d processes",
				r.NoFile, rss, gor, fds, kids, thr, r.StartS, r.BurstMS, r.StopMS, r.Stopped.Children),
			Extra: r}
		var kinds []string
		for k, v := range r.After.FDKinds {
			if d := v - r.Before.FDKinds[k]; d != 0 {
				kinds = append(kinds, fmt.Sprintf("%s %.2f", k, float64(d)/float64(r.N)))
			}
		}
		sort.Strings(kinds)
		row.Note += "; fds per daemon by kind: " + strings.Join(kinds, ", ")
		if r.Variant == "osexec" {
			row.Variant = "os/exec + reader goroutine + cmd.Wait goroutine per daemon"
			row.Base = true
		} else {
			row.Variant = "hooksupd daemon executors (Registry.Prestart / Close)"
			row.Note += fmt.Sprintf("; backend Close %.0f ms", r.CloseMS)
			row.Target = "≤ 16 KiB and ≤ 6 fds per child, no goroutine/thread per child, start ≤ 0.6 s, stop ≤ 100 ms"
			var miss []string
			if rss > 16*1.024 {
				miss = append(miss, fmt.Sprintf("RSS %.1f KB", rss))
			}
			if fds > 6 {
				miss = append(miss, fmt.Sprintf("%.2f fds", fds))
			}
			if gor >= 0.5 || float64(thr) >= 0.5*float64(r.N) {
				miss = append(miss, "goroutine/thread per child")
			}
			if r.StartS > 0.6 {
				miss = append(miss, fmt.Sprintf("start %.2f s", r.StartS))
			}
			if r.StopMS > 100 {
				miss = append(miss, fmt.Sprintf("stop %.0f ms", r.StopMS))
			}
			for _, f := range failedAt {
				miss = append(miss, "EMFILE at "+f)
			}
			row.Met = met(len(miss) == 0)
			if len(miss) > 0 {
				row.Met += " (" + strings.Join(miss, ", ") + ")"
			}
		}
		rows = append(rows, row)
	}
	b.rows = append(b.rows, rows...)
	return nil
}

// firstLines shortens a long multi-line error to its first n lines.
func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf(" (and %d more lines)", len(lines)-n)
}
