// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Command hooksbench measures hooksupd against its baselines, side by
// side, in one process run: every comparison is interleaved (A B C A B C …
// in small batches after a warm-up), percentiles are nearest-rank over all
// samples, and every ratio is to a baseline measured in the same run on
// the same child with the same payload. `make bench` (test/bench/run.sh)
// builds the children and drivers and runs it; it prints one Markdown
// table and writes it, with the raw figures, to the output directory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bins are the programs run.sh built.
type bins struct {
	cAllow, cDaemon, cForker string // static C hooks
	goChild, goDaemon        string // static Go hook; the same binary named go-daemon runs in daemon mode
	shAllow                  string // /bin/sh hook
	execDrv, daemonDrv       string // C baseline drivers
	relay                    string // C relay: the floor of a hook service (row 5)
	hooksupd                 string // the hooksupd binary
}

// bench is the state shared by the sections.
type bench struct {
	cExecP50 float64 // row 1's C posix_spawn p50 (200 B, C child), for row 2
	bin      bins
	out      string // output directory
	tmp      string // scratch directory (payloads, configs, sockets)
	quick    bool
	rows     []Row
	notes    []string
	mach     machine

	sectionLoad []string // foreign load seen before each section
}

// cleanups run at exit and on SIGINT/SIGTERM: cgroups this program made,
// subprocesses it started.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(fn func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, fn)
	cleanupMu.Unlock()
}

func runCleanups() {
	cleanupMu.Lock()
	fns := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "scale-child" {
		os.Exit(scaleChildMain(os.Args[2:]))
	}
	var (
		b     bench
		only  string
		binD  string
		quick bool
	)
	flag.StringVar(&b.out, "out", "test/bench/out", "output `DIR` for results.md and results.json")
	flag.StringVar(&binD, "bin", "test/bench/out/bin", "`DIR` with the children and drivers run.sh built")
	flag.StringVar(&b.bin.hooksupd, "hooksupd", "", "hooksupd binary (default DIR/hooksupd)")
	flag.BoolVar(&quick, "quick", os.Getenv("BENCH_QUICK") == "1", "run the short subset (as BENCH_QUICK=1)")
	flag.StringVar(&only, "rows", "", "comma-separated row numbers to run (default all), e.g. 1,2,4")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		atExit(func() { pprof.StopCPUProfile(); f.Close() })
	}
	b.quick = quick
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			fatal(err)
		}
		return a
	}
	binD = abs(binD)
	b.out = abs(b.out)
	b.bin = bins{
		cAllow:    filepath.Join(binD, "c-allow"),
		cDaemon:   filepath.Join(binD, "c-daemon"),
		cForker:   filepath.Join(binD, "c-forker"),
		goChild:   filepath.Join(binD, "go-child"),
		goDaemon:  filepath.Join(binD, "go-daemon"),
		shAllow:   filepath.Join(binD, "sh-allow"),
		execDrv:   filepath.Join(binD, "c-execdrv"),
		daemonDrv: filepath.Join(binD, "c-daemondrv"),
		relay:     filepath.Join(binD, "c-relay"),
		hooksupd:  b.bin.hooksupd,
	}
	if b.bin.hooksupd == "" {
		b.bin.hooksupd = filepath.Join(binD, "hooksupd")
	} else {
		b.bin.hooksupd = abs(b.bin.hooksupd)
	}
	for _, p := range []string{b.bin.cAllow, b.bin.cDaemon, b.bin.cForker, b.bin.goChild, b.bin.goDaemon, b.bin.shAllow, b.bin.execDrv, b.bin.daemonDrv, b.bin.relay} {
		if _, err := os.Stat(p); err != nil {
			fatal(fmt.Errorf("missing %s (run test/bench/run.sh, which builds it): %w", p, err))
		}
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		fatal(err)
	}
	var err error
	if b.tmp, err = os.MkdirTemp("", "hooksbench-"); err != nil {
		fatal(err)
	}
	atExit(func() { os.RemoveAll(b.tmp) })

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "hooksbench: %v: cleaning up\n", s)
		runCleanups()
		os.Exit(130)
	}()
	defer runCleanups()

	want := map[string]bool{}
	for _, r := range strings.Split(only, ",") {
		if r = strings.TrimSpace(r); r != "" {
			want[r] = true
		}
	}
	sel := func(r string) bool { return len(want) == 0 || want[r] }

	b.mach = probeMachine(b.bin)
	start := time.Now()
	b.mach.print(os.Stdout, b.quick)

	sections := []struct {
		row string
		fn  func(context.Context) error
	}{
		{"1", b.rowExec},
		{"2", b.rowCapped},
		{"3", b.rowExecThroughput},
		{"4", b.rowDaemon},
		{"5", b.rowService},
		{"6", b.rowScale},
		{"7", b.rowKill},
		{"8", b.rowChain},
		{"9", b.rowRun},
		{"10", b.rowSandbox},
	}
	ctx := context.Background()
	failed, opsFailed := 0, 0
	for _, s := range sections {
		if !sel(s.row) {
			continue
		}
		load := b.waitQuiet(s.row)
		t0 := time.Now()
		before := len(b.rows)
		fmt.Fprintf(os.Stderr, "hooksbench: row %s ...\n", s.row)
		if err := s.fn(ctx); errors.Is(err, errSkip) {
			b.note("row %s skipped: %v", s.row, err)
		} else if err != nil {
			failed++
			msg := fmt.Sprintf("row %s failed: %s", s.row, firstLines(err.Error(), 5))
			b.notes = append(b.notes, msg)
			fmt.Fprintln(os.Stderr, "hooksbench: "+msg)
		}
		for _, r := range b.rows[before:] {
			opsFailed += r.Errors
			if r.Errors > 0 {
				b.note("row %s, %s, %s: %d of %d operations failed; first error: %s",
					r.Num, r.Group, r.Variant, r.Errors, r.N+r.Errors, firstLines(r.FirstErr, 1))
			}
		}
		fmt.Fprintf(os.Stderr, "hooksbench: row %s done in %.1fs\n", s.row, time.Since(t0).Seconds())
		after := foreignLoad(300 * time.Millisecond)
		b.sectionLoad = append(b.sectionLoad, fmt.Sprintf("row %s: %s before, %.0f%% after", s.row, load, after*100))
	}
	elapsed := time.Since(start)

	table := renderTable(b.rows)
	fmt.Println(table)
	summary := renderSummary(b.rows)
	fmt.Println(summary)
	if len(b.notes) > 0 {
		fmt.Println("Notes:")
		for _, n := range b.notes {
			fmt.Println("- " + n)
		}
		fmt.Println()
	}
	fmt.Println("Foreign CPU load (whole machine, sampled for 300 ms while this program was idle, before and after each row): " + strings.Join(b.sectionLoad, "; "))
	fmt.Printf("\nTotal measuring time: %.1f s\n", elapsed.Seconds())

	if err := b.writeResults(table, summary, elapsed); err != nil {
		fmt.Fprintln(os.Stderr, "hooksbench: writing results:", err)
		failed++
	}
	if failed > 0 {
		runCleanups()
		os.Exit(1)
	}
	if opsFailed > 0 {
		// Every row ran, but hooksupd (or a baseline) failed some of its
		// operations: a correctness problem, not a number, so the run
		// does not pass.
		fmt.Fprintf(os.Stderr, "hooksbench: %d operations failed (see the notes under the table)\n", opsFailed)
		runCleanups()
		os.Exit(3)
	}
}

// writeResults writes results.md (what was printed) and results.json (the
// rows with every figure) into the output directory.
func (b *bench) writeResults(table, summary string, elapsed time.Duration) error {
	var md strings.Builder
	b.mach.print(&md, b.quick)
	md.WriteString(table + "\n" + summary + "\n")
	if len(b.notes) > 0 {
		md.WriteString("Notes:\n")
		for _, n := range b.notes {
			md.WriteString("- " + n + "\n")
		}
		md.WriteString("\n")
	}
	md.WriteString("Foreign CPU load (whole machine, sampled for 300 ms while this program was idle, before and after each row): " + strings.Join(b.sectionLoad, "; ") + "\n")
	fmt.Fprintf(&md, "\nTotal measuring time: %.1f s\n", elapsed.Seconds())
	name := "results"
	if b.quick {
		name = "results-quick"
	}
	if err := os.WriteFile(filepath.Join(b.out, name+".md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(struct {
		Machine machine  `json:"machine"`
		Quick   bool     `json:"quick"`
		Rows    []Row    `json:"rows"`
		Notes   []string `json:"notes"`
		Load    []string `json:"foreign_load"`
		Seconds float64  `json:"seconds"`
	}{b.mach, b.quick, b.rows, b.notes, b.sectionLoad, elapsed.Seconds()}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.out, name+".json"), js, 0o644)
}

// note records a remark printed under the table.
func (b *bench) note(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "hooksbench:", err)
	runCleanups()
	os.Exit(2)
}

// errSkip marks a row that could not run here for a reason that is not a
// failure of hooksupd (a tool that is not installed).
var errSkip = errors.New("skipped")
