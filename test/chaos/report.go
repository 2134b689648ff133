// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report prints both tables (Markdown, as make bench does) and writes them
// to out/results.md.
func (r *run) report(took time.Duration, err error) {
	var sb strings.Builder
	mode := "full"
	if r.quick {
		mode = "quick (CHAOS_QUICK=1)"
	}
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&sb, "## Chaos campaign, seed %d, %s\n\n", r.seed, mode)
	replay := fmt.Sprintf("CHAOS_SEED=%d", r.seed)
	if r.quick {
		replay += " CHAOS_QUICK=1"
	}
	fmt.Fprintf(&sb, "%s, Linux %s, %d CPUs, %s; took %.0f s. Replay: `%s make chaos`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(kernel)), runtime.NumCPU(), host, took.Seconds(), replay)
	if err != nil {
		fmt.Fprintf(&sb, "**The campaign stopped early: %v**\n\n", err)
	}
	sb.WriteString("### Phases\n\n")
	sb.WriteString("| phase | s | sent | answered | closed | lost | wrong | ran, no reply | procs left | stray groups | groups | fds | goroutines | RSS MiB | daemon p50 / p99 ms | exec p50 / p99 ms | result |\n")
	sb.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(&sb, "| baseline (after warm-up) | | | | | | | | | | | %d | %d | %d | | | |\n", r.base.fds, r.base.goroutines, r.base.rssKB>>10)
	for _, p := range r.results {
		t := p.t
		fmt.Fprintf(&sb, "| %s | %.0f | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
			p.name, p.secs, t.sent, t.answered, t.closed, t.lost, t.wrong, p.ranNoReply, p.procsLeft, p.strayGroups,
			p.groups, p.use.fds, p.use.goroutines, p.use.rssKB>>10, lat(p.dP50, p.dP99), lat(p.eP50, p.eP99), mdEscape(verdictOf(p)))
	}
	sb.WriteString("\nPhases: ")
	var whats []string
	for _, p := range r.results {
		whats = append(whats, fmt.Sprintf("**%s**: %s", p.name, p.what))
	}
	sb.WriteString(strings.Join(whats, "; ") + ".\n\n")
	sb.WriteString("### Promises\n\n| # | promise | tested by | result | detail |\n|---|---|---|---|---|\n")
	for _, inv := range r.invariants {
		res := "**held**"
		switch {
		case inv.target && inv.ok:
			res = "met (target)"
		case inv.target:
			res = "**NOT met** (target)"
		case !inv.ok:
			res = "**VIOLATED**"
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", inv.id, mdEscape(inv.promise), mdEscape(inv.by), res, mdEscape(inv.detail))
	}
	var notes []string
	for _, p := range r.results {
		for _, n := range p.t.notes {
			notes = append(notes, p.name+": "+n)
		}
	}
	if len(notes) > 0 {
		sb.WriteString("\nNotes:\n\n")
		for _, n := range notes {
			sb.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	fmt.Print("\n" + sb.String())
	if err := os.MkdirAll(r.out, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(r.out, "results.md"), []byte(sb.String()), 0o644)
		fmt.Printf("\nchaos: results in %s\n", filepath.Join(r.out, "results.md"))
	}
}

func lat(p50, p99 float64) string {
	if p50 == 0 && p99 == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f / %.2f", p50, p99)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
