// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/supervisor"
	"github.com/hooksupd/hooksupd/supervisor/cgroup"
)

// machine describes where the numbers were taken.
type machine struct {
	CPUs       int      `json:"cpus"`
	CPUModel   string   `json:"cpu_model"`
	Kernel     string   `json:"kernel"`
	Cmdline    string   `json:"kernel_cmdline_note,omitempty"`
	CgroupMode string   `json:"cgroup_mode"`
	GoVersion  string   `json:"go_version"`
	GCC        string   `json:"gcc"`
	MemTotal   string   `json:"mem_total"`
	Mechanisms []string `json:"mechanisms"`
	Date       string   `json:"date"`
}

func probeMachine(_ bins) machine {
	m := machine{
		CPUs:       runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		CgroupMode: cgroup.DetectMode().String(),
		Date:       time.Now().UTC().Format("2006-01-02 15:04 UTC"),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil && bytes.Contains(b, []byte("nested")) {
		m.Cmdline = "nested virtualisation (kernel cmdline)"
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && k == "MemTotal" {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("gcc", "--version").Output(); err == nil {
		m.GCC, _, _ = strings.Cut(string(out), "\n")
	} else {
		m.GCC = "not installed (C rows skipped)"
	}
	if be, err := supervisor.New(supervisor.Options{}); err == nil {
		mech := be.Mechanisms()
		m.Mechanisms = []string{
			"backend " + mech.Backend, "cgroup " + mech.CgroupMode, "spawn: " + mech.Spawn,
			"attach: " + mech.Attach, "kill: " + mech.Kill, "exit: " + mech.Exit, "pipes: " + mech.Pipes,
		}
		be.Close()
	} else {
		m.Mechanisms = []string{"supervisor.New failed: " + err.Error()}
	}
	return m
}

func (m machine) print(w io.Writer, quick bool) {
	mode := "full"
	if quick {
		mode = "quick subset (BENCH_QUICK=1)"
	}
	fmt.Fprintf(w, "## hooksupd benchmarks (%s), %s\n\n", mode, m.Date)
	fmt.Fprintf(w, "- machine: %d CPUs (%s), %s RAM\n", m.CPUs, m.CPUModel, m.MemTotal)
	k := m.Kernel
	if m.Cmdline != "" {
		k += ", " + m.Cmdline
	}
	fmt.Fprintf(w, "- kernel: %s; cgroup mode: %s\n", k, m.CgroupMode)
	fmt.Fprintf(w, "- toolchain: %s; %s\n", m.GoVersion, m.GCC)
	fmt.Fprintf(w, "- hooksupd Linux backend: %s\n\n", strings.Join(m.Mechanisms, "; "))
}

// cpuTimes reads the aggregate busy and total jiffies of /proc/stat.
func cpuTimes() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// foreignLoad samples the machine's busy share over d while this program
// sits idle: whatever runs then is someone else's work.
func foreignLoad(d time.Duration) float64 {
	b0, t0 := cpuTimes()
	time.Sleep(d)
	b1, t1 := cpuTimes()
	if t1 <= t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}

// waitQuiet waits (bounded) for the foreign load to drop before a row, and
// returns a description of what it saw. The machine is shared: rows taken
// under load are marked, not hidden.
func (b *bench) waitQuiet(row string) string {
	limit := 8 * time.Second
	if b.quick {
		limit = 0
	}
	deadline := time.Now().Add(limit)
	var worst float64
	for {
		l := foreignLoad(300 * time.Millisecond)
		worst = max(worst, l)
		if l < 0.15 || time.Now().After(deadline) {
			if l >= 0.15 && !b.quick {
				fmt.Fprintf(os.Stderr, "hooksbench: row %s starts under %.0f%% foreign load\n", row, l*100)
			}
			return fmt.Sprintf("%.0f%%", l*100)
		}
	}
}
