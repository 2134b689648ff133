// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/service"
)

// statusTimeout bounds the whole status exchange.
const statusTimeout = 10 * time.Second

func init() {
	register(&command{
		Name:     "status",
		Synopsis: "status [-c FILE] [--socket PATH] [--json | --watch [--interval DUR]]",
		Summary:  "show the running service's hooks, metrics and mechanisms",
		Help: `Connects to a running 'hooksupd serve', asks for its status and prints one
line per hook (event, mode, fires, latency percentiles, errors, daemon
restarts, memory, state), then the backend's mechanisms and cgroup mode.
It shows when the service started, the totals of every hook, the memory,
tasks and CPU of the whole service (the unit's cgroup under systemd), the
process tree of each hook's group with pids and commands, and the last
warnings about each hook. --json prints the raw status object instead.

--watch refreshes a live view every --interval (like systemd-cgtop): per
hook fires/s, p50/p99 since start, errors, errors/s, daemon restarts and
memory, busiest first; Ctrl-C ends it.

The status op is answered for root and the service's own user only.

Exit status: 0 success, 1 the service is unreachable or refused, 2 usage.`,
		Run:  runStatus,
		Args: argNone,
	})
}

func runStatus(args []string) int {
	fs := newFlagSet(commands["status"])
	socket := fs.String("socket", "", "unix socket `PATH` of the service (default: [server] socket of the config, else "+service.DefaultSocket+")")
	cfgFlag := fs.String("config", "", "configuration `FILE` whose [server] socket to use (default $HOOKSUPD_CONFIG, else "+defaultConfigPath+")")
	fs.alias("c", "config")
	asJSON := fs.Bool("json", false, "print the raw status JSON")
	watch := fs.Bool("watch", false, "refresh a live view until interrupted")
	interval := fs.Duration("interval", 2*time.Second, "refresh every `DUR` under --watch")
	count := fs.Int("count", 0, "stop --watch after `N` refreshes (0: until interrupted)")
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("status: unexpected argument %q\nTry '%s status --help'.", pos[0], progName)
		return exitUsage
	}
	path := clientSocket(*socket, *cfgFlag)
	if *watch {
		if *asJSON || *interval < 100*time.Millisecond || *count < 0 {
			errorf("status: --watch takes no --json, an --interval of at least 100ms and a --count of 0 or more")
			return exitUsage
		}
		return watchStatus(path, *interval, *count)
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	c, err := dialService(ctx, path)
	if err != nil {
		errorf("status: %v", err)
		return exitInternal
	}
	defer c.Close()
	r, err := c.Status(ctx)
	if err != nil {
		errorf("status: %v", describeClientError(path, err))
		return exitInternal
	}
	if *asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			errorf("status: %v", err)
			return exitInternal
		}
		_, _ = os.Stdout.Write(append(b, '\n'))
		return exitOK
	}
	writeStatus(os.Stdout, r)
	return exitOK
}

// clientSocket is the socket a client command talks to: the flag, else
// the [server] socket of the config file (when it exists and loads),
// else the default.
func clientSocket(flagPath, cfgFlag string) string {
	if flagPath != "" {
		return flagPath
	}
	if cfg, err := config.Load(configPath(cfgFlag)); err == nil && cfg.Server.Socket != "" {
		return cfg.Server.Socket
	}
	return service.DefaultSocket
}

// dialService connects to the service, with a hint for the usual reasons
// it cannot.
func dialService(ctx context.Context, path string) (*service.Client, error) {
	c, err := service.DialContext(ctx, path)
	if err != nil {
		hint := ""
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			hint = " (is the service running? try: systemctl status hooksupd)"
		case errors.Is(err, os.ErrPermission):
			hint = " (permission denied: run as root or a member of [server] socket_group)"
		}
		return nil, fmt.Errorf("cannot reach hooksupd at %s: %v%s", path, unwrapOp(err), hint)
	}
	return c, nil
}

// describeClientError says who refused or failed.
func describeClientError(path string, err error) error {
	var se *service.Error
	if errors.As(err, &se) {
		return fmt.Errorf("hooksupd refused: %s: %s", se.Code, se.Message)
	}
	return fmt.Errorf("talking to hooksupd at %s: %v", path, unwrapOp(err))
}

// unwrapOp drops net.OpError's "dial unix /path:" prefix, which the caller
// already says.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// writeStatus prints the human-readable report.
func writeStatus(w io.Writer, r *service.Status) {
	since := ""
	if t, err := time.Parse(time.RFC3339, r.StartedAt); err == nil {
		since = " since " + t.Local().Format("Mon 2006-01-02 15:04:05 MST") + ";"
	}
	fmt.Fprintf(w, "hooksupd %s, pid %d,%s up %s\n", r.Version, r.PID, since, formatUptime(r.UptimeSeconds))
	fmt.Fprintf(w, "config   %s\n", r.Config)
	sv := r.Server
	fmt.Fprintf(w, "socket   %s: %d connections open (%d total), %d/%d fires in flight\n",
		orDefault(sv.Socket, "-"), sv.ConnectionsOpen, sv.ConnectionsTotal, sv.FiresInflight, sv.MaxInflight)
	fmt.Fprintf(w, "requests %s; errors %s; reloads %d ok, %d failed\n",
		formatCounts(sv.Requests), formatCounts(sv.Errors), sv.ReloadsOK, sv.ReloadsFailed)
	writeTotals(w, r)
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tEVENT\tMODE\tFIRES\tP50\tP99\tERRORS\tRESTARTS\tMEMORY\tSTATE")
	for _, h := range r.Hooks {
		mem := hookMemory(h)
		p50, p99 := "-", "-"
		if h.Fires > 0 {
			p50, p99 = formatMs(h.P50Ms), formatMs(h.P99Ms)
		}
		restarts := "-"
		if h.Mode == "daemon" {
			restarts = fmt.Sprint(h.State.Restarts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n",
			h.Name, h.Event, h.Mode, h.Fires, p50, p99, h.Errors, restarts, mem, hookStateWord(h))
	}
	tw.Flush()
	if len(r.Hooks) == 0 {
		fmt.Fprintln(w, "(no hooks configured)")
	}
	for _, h := range r.Hooks {
		if h.State.LastError != "" {
			fmt.Fprintf(w, "  %s: last error: %s\n", h.Name, h.State.LastError)
		}
	}
	writeTrees(w, r)
	writeWarnings(w, r)
	m := r.Mechanisms
	fmt.Fprintf(w, "\nbackend %s, cgroup mode %s, %d timeout violations\n", m.Backend, m.CgroupMode, r.TimeoutViolations)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{{"spawn", m.Spawn}, {"attach", m.Attach}, {"kill", m.Kill}, {"exit", m.Exit}, {"pipes", m.Pipes}} {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], orDefault(kv[1], "-"))
	}
	tw.Flush()
	for _, n := range m.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func hookStateWord(h service.HookStatus) string {
	switch {
	case !h.Enabled:
		return "disabled"
	case h.Mode == "daemon" && h.State.Running:
		return fmt.Sprintf("up (pid %d)", h.State.PID)
	case h.Mode == "daemon":
		return "down"
	case h.State.Running:
		return "running"
	}
	return "idle"
}

func formatCounts(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func formatMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, u := float64(n), 0
	units := []string{"K", "M", "G", "T"}
	for f /= unit; f >= unit && u < len(units)-1; f /= unit {
		u++
	}
	return fmt.Sprintf("%.1f%s", f, units[u])
}

func formatUptime(sec float64) string {
	d := time.Duration(sec) * time.Second
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", sec)
	}
	return d.String()
}
