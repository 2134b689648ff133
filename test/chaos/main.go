// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Command chaos is the reliability campaign of `make chaos`: it starts the
// real `hooksupd serve` with a generated hooks.toml on a temporary socket
// and, phase by phase, mixes well-behaved clients with hostile hooks,
// hostile clients, reload storms, signal (EINTR) pressure and SIGKILL of
// the service. After each phase it checks the invariants (no fire lost, a
// hook that answered always has its answer delivered, no hook process or
// group left, the service's footprint back to its baseline) and prints a
// table; RELIABILITY.md explains every row.
//
// The campaign is randomized from one seed, printed first; CHAOS_SEED=N
// replays it. CHAOS_QUICK=1 runs the short campaign (< 60 s), for CI;
// CHAOS_PHASES=eintr,sigkill runs only those phases (after the quiet one,
// which gives the reference latencies).
//
// The binary doubles as every hook of the campaign (`chaos hook ROLE`,
// hook.go). Exit status: 0 when every invariant held, 1 when one was
// violated, 2 when the campaign could not run. Latency targets are shown
// met or not met and, as in make bench, do not change it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var jsonUnmarshal = json.Unmarshal

// run is one campaign.
type run struct {
	seed  int64
	quick bool
	rngMu sync.Mutex
	rng   *rand.Rand

	repo, out                       string
	dir, sock, metricsSock, cfgPath string
	logPath, hooksupd, self, marker string
	srv                             *server
	allRoots                        map[string]bool
	base                            serverUsage
	quietDaemonP50, quietExecP50    float64
	results                         []*phaseResult
	invariants                      []*invariant
	cfgVariant                      int
	ranOffset                       int64
}

func (r *run) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.Intn(n)
}

// dur scales a full-campaign duration down for the quick one.
func (r *run) dur(full, quick time.Duration) time.Duration {
	if r.quick {
		return quick
	}
	return full
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "hook" {
		os.Exit(runHook(os.Args[2]))
	}
	os.Exit(campaign())
}

func campaign() int {
	repo := flag.String("repo", ".", "the repository to build hooksupd from")
	out := flag.String("out", "test/chaos/out", "where results.md goes")
	flag.Parse()
	r := &run{repo: *repo, out: *out, quick: os.Getenv("CHAOS_QUICK") == "1", allRoots: map[string]bool{}}
	r.seed = time.Now().UnixNano() % 1_000_000_000
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chaos: CHAOS_SEED=%q is not an integer\n", s)
			return 2
		}
		r.seed = n
	}
	r.rng = rand.New(rand.NewSource(r.seed))
	mode := "full"
	if r.quick {
		mode = "quick"
	}
	fmt.Printf("chaos: seed %d, %s campaign (replay: CHAOS_SEED=%d%s make chaos)\n", r.seed, mode, r.seed,
		map[bool]string{true: " CHAOS_QUICK=1", false: ""}[r.quick])
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "chaos: needs root (hooks run in cgroups; the suite reads every process's /proc)")
		return 2
	}
	start := time.Now()
	if err := r.setup(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		r.cleanup()
		return 2
	}
	// An interrupted campaign still removes what it started.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "chaos: interrupted; cleaning up")
		r.cleanup()
		os.Exit(2)
	}()
	// A campaign that hangs (a service that stops answering while clients
	// wait) still ends, and says so.
	limit := r.dur(12*time.Minute, 2*time.Minute)
	watchdog := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "chaos: the campaign exceeded %v; service log tail:\n%s\n", limit, r.logTail(3000))
		r.cleanup()
		os.Exit(2)
	})
	err := r.phases()
	watchdog.Stop()
	r.cleanup()
	r.report(time.Since(start), err)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		return 2
	}
	for _, inv := range r.invariants {
		if !inv.ok && !inv.target {
			return 1
		}
	}
	return 0
}

// setup builds hooksupd, writes the config and starts the service.
func (r *run) setup() error {
	var err error
	if r.self, err = os.Executable(); err != nil {
		return err
	}
	if r.dir, err = os.MkdirTemp("", "hooksupd-chaos-"); err != nil {
		return err
	}
	if err := os.Chmod(r.dir, 0o755); err != nil {
		return err
	}
	// Run as root, hooksupd runs hooks that name no user as dynamic users:
	// the hook program (this one) and the fire record must be theirs to
	// run and append to, wherever this binary was built.
	if r.self, err = copyExecutable(r.self, filepath.Join(r.dir, "chaos")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "ran.log"), nil, 0o666); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(r.dir, "ran.log"), 0o666); err != nil {
		return err
	}
	r.sock = filepath.Join(r.dir, "hooksupd.sock")
	r.metricsSock = filepath.Join(r.dir, "metrics.sock")
	r.cfgPath = filepath.Join(r.dir, "hooks.toml")
	r.logPath = filepath.Join(r.dir, "serve.log")
	r.hooksupd = filepath.Join(r.dir, "hooksupd")
	r.marker = fmt.Sprintf("chaos-%d-%d", os.Getpid(), r.seed)
	fmt.Printf("chaos: building hooksupd into %s\n", r.dir)
	build := exec.Command("go", "build", "-o", r.hooksupd, "./cmd/hooksupd")
	build.Dir, build.Stdout, build.Stderr = r.repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/hooksupd: %w", err)
	}
	if err := r.writeConfig(r.config(0, false)); err != nil {
		return err
	}
	return r.restart()
}

// restart starts a new server and remembers its subtree.
func (r *run) restart() error {
	s, err := r.startServer()
	if err != nil {
		return err
	}
	r.srv = s
	for _, root := range s.roots {
		r.allRoots[root] = true
	}
	return nil
}

// cleanup stops the service, kills by pid whatever marked process is left
// (each was started by this campaign's service) and removes the empty
// groups left under its subtrees.
func (r *run) cleanup() {
	if r.srv != nil && r.srv.alive() {
		r.srv.kill()
	}
	for range 3 {
		left := markedProcs(r.marker)
		if len(left) == 0 {
			break
		}
		for _, pi := range left {
			_ = syscall.Kill(pi.pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for root := range r.allRoots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
	if r.dir != "" && os.Getenv("CHAOS_KEEP") == "" {
		// Keep the service's log beside the results for a failed run.
		if b, err := os.ReadFile(r.logPath); err == nil {
			_ = os.MkdirAll(r.out, 0o755)
			_ = os.WriteFile(filepath.Join(r.out, "serve.log"), b, 0o644)
		}
		os.RemoveAll(r.dir)
		r.dir = ""
	}
}

// logCount counts the lines of the service's log that contain s.
func (r *run) logCount(s string) int {
	b, _ := os.ReadFile(r.logPath)
	return strings.Count(string(b), s)
}

// longestLogLine is the length of the longest line of the service's log.
func (r *run) longestLogLine() int {
	b, _ := os.ReadFile(r.logPath)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		n = max(n, len(l))
	}
	return n
}

// copyExecutable copies the program src to dst, mode 0755, and returns dst.
func copyExecutable(src, dst string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		return "", err
	}
	return dst, nil
}
