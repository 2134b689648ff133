// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hooksupd/hooksupd/service"
)

// `hooksupd status --watch`: a live view in the spirit of systemd-cgtop.
// Rates are the difference between two status replies over the time
// between them; p50/p99 are the service's, since it started.

// watchStatus polls the service every interval until interrupted (or
// count refreshes) and redraws the view; on a terminal it clears the
// screen first, elsewhere views follow one another.
func watchStatus(path string, interval time.Duration, count int) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	dctx, dcancel := context.WithTimeout(ctx, statusTimeout)
	c, err := dialService(dctx, path)
	dcancel()
	if err != nil {
		errorf("status: %v", err)
		return exitInternal
	}
	defer c.Close()
	tty := stdoutIsTerminal()
	var prev *service.Status
	var prevAt time.Time
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return exitOK
			case <-time.After(interval):
			}
		}
		qctx, qcancel := context.WithTimeout(ctx, statusTimeout)
		r, err := c.Status(qctx)
		qcancel()
		if ctx.Err() != nil {
			return exitOK
		}
		if err != nil {
			errorf("status: %v", describeClientError(path, err))
			return exitInternal
		}
		now := time.Now()
		var b bytes.Buffer
		if tty {
			b.WriteString("\x1b[H\x1b[2J") // home, clear
		} else if n > 0 {
			b.WriteString("\n")
		}
		writeWatchView(&b, r, prev, now.Sub(prevAt))
		_, _ = os.Stdout.Write(b.Bytes())
		prev, prevAt = r, now
	}
	return exitOK
}

// writeWatchView prints one refresh: the service line, then one line per
// hook, busiest first. Rates need a previous reply; the first view shows
// "-".
func writeWatchView(w io.Writer, r, prev *service.Status, dt time.Duration) {
	secs := dt.Seconds()
	prevHook := map[string]service.HookStatus{}
	if prev != nil {
		for _, h := range prev.Hooks {
			prevHook[h.Name] = h
		}
	}
	rate := func(cur, old uint64) (float64, bool) {
		if prev == nil || secs <= 0 || cur < old {
			return 0, false
		}
		return float64(cur-old) / secs, true
	}
	fmtRate := func(v float64, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.1f", v)
	}
	res := r.Resources
	cpu := "-"
	if prev != nil && secs > 0 {
		cpu = fmt.Sprintf("%.1f%%", 100*(res.CPUSeconds-prev.Resources.CPUSeconds)/secs)
	}
	var oldFires, oldErrs uint64
	if prev != nil {
		oldFires, oldErrs = prev.Totals.Fires, prev.Totals.Errors
	}
	fr, frOK := rate(r.Totals.Fires, oldFires)
	er, erOK := rate(r.Totals.Errors, oldErrs)
	fmt.Fprintf(w, "hooksupd %s pid %d up %s | memory %s tasks %d cpu %s | fires/s %s errors/s %s | %s\n",
		r.Version, r.PID, formatUptime(r.UptimeSeconds), formatBytes(res.MemoryBytes), res.Tasks, cpu,
		fmtRate(fr, frOK), fmtRate(er, erOK), time.Now().Format("15:04:05"))
	type row struct {
		h           service.HookStatus
		fires, errs float64
		hasR        bool
	}
	rows := make([]row, 0, len(r.Hooks))
	for _, h := range r.Hooks {
		o, had := prevHook[h.Name]
		f, ok1 := rate(h.Fires, o.Fires)
		e, ok2 := rate(h.Errors, o.Errors)
		rows = append(rows, row{h: h, fires: f, errs: e, hasR: had && ok1 && ok2})
	}
	// Busiest first: fires/s, then total fires.
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].fires != rows[j].fires {
			return rows[i].fires > rows[j].fires
		}
		return rows[i].h.Fires > rows[j].h.Fires
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nHOOK\tEVENT\tMODE\tFIRES/S\tP50\tP99\tERRORS\tERR/S\tRESTARTS\tMEMORY\tPROCS\tSTATE")
	for _, x := range rows {
		h := x.h
		p50, p99 := "-", "-"
		if h.Fires > 0 {
			p50, p99 = formatMs(h.P50Ms), formatMs(h.P99Ms)
		}
		restarts := "-"
		if h.Mode == "daemon" {
			restarts = fmt.Sprint(h.State.Restarts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", h.Name, h.Event, h.Mode,
			fmtRate(x.fires, x.hasR), p50, p99, h.Errors, fmtRate(x.errs, x.hasR), restarts, hookMemory(h),
			len(h.State.Processes), hookStateWord(h))
	}
	tw.Flush()
}

// stdoutIsTerminal reports whether stdout is a character device other
// than /dev/null.
func stdoutIsTerminal() bool {
	fi, err := os.Stdout.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
