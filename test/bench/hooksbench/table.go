// SPDX-License-Identifier: Apache-2.0

//go:build linux

package main

import (
	"fmt"
	"math"
	"strings"
)

// Row is one line of the results table.
type Row struct {
	Num      string  `json:"row"`     // "1", "2", … (the row of the task list)
	Group    string  `json:"group"`   // what is compared, e.g. "exec 200 B, C child"
	Variant  string  `json:"variant"` // who runs it
	Base     bool    `json:"baseline"`
	N        int     `json:"n"`
	P50      float64 `json:"p50_us"`
	P90      float64 `json:"p90_us"`
	P99      float64 `json:"p99_us"`
	P999     float64 `json:"p999_us,omitempty"`
	Max      float64 `json:"max_us,omitempty"`
	Rate     float64 `json:"per_s,omitempty"`       // operations per second (throughput rows)
	CPU      float64 `json:"cpu_us_op,omitempty"`   // driver/supervisor CPU per operation
	Ratio    string  `json:"ratio,omitempty"`       // to the baseline of the same group
	Target   string  `json:"target,omitempty"`      // what it should reach
	Met      string  `json:"met,omitempty"`         // "met", "NOT met"
	Note     string  `json:"note,omitempty"`        // anything else worth a glance
	Errors   int     `json:"errors,omitempty"`      // failed operations
	Extra    any     `json:"extra,omitempty"`       // structured figures (scale, kill)
	FirstErr string  `json:"first_error,omitempty"` // the first failure, when Errors > 0
	pct999   bool    // show p99.9 in the note
	noLat    bool    // a row without latency percentiles
}

// rowFrom fills a Row from samples.
func rowFrom(num, group, variant string, base bool, s *samples) Row {
	r := Row{Num: num, Group: group, Variant: variant, Base: base, N: len(s.lat),
		P50: s.pct(50), P90: s.pct(90), P99: s.pct(99), P999: s.pct(99.9), Max: s.max(), Errors: s.fails}
	if s.cpu > 0 {
		r.CPU = s.cpuPerOp()
	}
	if s.firstErr != nil {
		r.FirstErr = s.firstErr.Error()
	}
	return r
}

// met formats a target check.
func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v) || v == 0:
		return ""
	case v >= 100000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// renderTable formats the rows as one Markdown table.
func renderTable(rows []Row) string {
	var sb strings.Builder
	sb.WriteString("| # | comparison | variant | n | p50 µs | p90 µs | p99 µs | fires/s | CPU µs/fire | × baseline | target | met | notes |\n")
	sb.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n")
	for _, r := range rows {
		v := r.Variant
		if r.Base {
			v = "**" + v + "** (baseline)"
		}
		p50, p90, p99 := fmtNum(r.P50), fmtNum(r.P90), fmtNum(r.P99)
		if r.noLat {
			p50, p90, p99 = "", "", ""
		}
		n := ""
		if r.N > 0 {
			n = fmt.Sprint(r.N)
		}
		rate := fmtNum(r.Rate)
		note := r.Note
		if r.pct999 && !math.IsNaN(r.P999) {
			note = strings.TrimPrefix(note+"; p99.9 "+fmtNum(r.P999)+" µs", "; ")
		}
		if r.Errors > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; **%d of %d failed**", r.Errors, r.N+r.Errors), "; ")
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Num, r.Group, v, n, p50, p90, p99, rate, fmtNum(r.CPU), r.Ratio, r.Target, r.Met, note)
	}
	return sb.String()
}

// renderSummary lists every target with its verdict.
func renderSummary(rows []Row) string {
	var sb strings.Builder
	var metN, notN int
	for _, r := range rows {
		if r.Met == "" {
			continue
		}
		if r.Met == "met" {
			metN++
		} else {
			notN++
		}
	}
	fmt.Fprintf(&sb, "Targets: %d met, %d not met.\n", metN, notN)
	for _, r := range rows {
		if r.Met == "" {
			continue
		}
		mark := "met    "
		if r.Met != "met" {
			mark = "NOT met"
		}
		fmt.Fprintf(&sb, "- %s  row %s, %s, %s: %s\n", mark, r.Num, r.Group, r.Variant, r.Target)
	}
	return sb.String()
}

// ratio formats a/b as "1.04×" with a label.
func ratio(a, b float64, label string) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return ""
	}
	return strings.TrimSpace(fmt.Sprintf("%.2f× %s", a/b, label))
}
