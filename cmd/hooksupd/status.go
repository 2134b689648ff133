package main

import (
	"bufio"
	"bytes"
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
)

// defaultSocketPath is where `hooksupd serve` listens unless configured
// otherwise.
const defaultSocketPath = "/run/hooksupd/hooksupd.sock"

// statusTimeout bounds the whole status exchange.
const statusTimeout = 10 * time.Second

func init() {
	register(&command{
		Name:     "status",
		Synopsis: "status [--socket PATH] [--json]",
		Summary:  "show the running service's hooks, metrics and mechanisms",
		Help: `Connects to a running 'hooksupd serve', asks for its status and prints one
line per hook (event, mode, fires, latency percentiles, errors, daemon
restarts, memory, state), then the backend's mechanisms and cgroup mode.
--json prints the raw status object instead.

The status op is answered for root and the service's own user only.

Exit status: 0 success, 1 the service is unreachable or refused, 2 usage.`,
		Run: runStatus,
	})
}

func runStatus(args []string) int {
	fs := newFlagSet(commands["status"])
	socket := fs.String("socket", defaultSocketPath, "unix socket `PATH` of the service")
	asJSON := fs.Bool("json", false, "print the raw status JSON")
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("status: unexpected argument %q\nTry '%s status --help'.", pos[0], progName)
		return exitUsage
	}
	raw, err := requestStatus(*socket)
	if err != nil {
		errorf("status: %v", err)
		return exitInternal
	}
	if *asJSON {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			errorf("status: %v", err)
			return exitInternal
		}
		b.WriteByte('\n')
		_, _ = os.Stdout.Write(b.Bytes())
		return exitOK
	}
	var r statusReport
	if err := json.Unmarshal(raw, &r); err != nil {
		errorf("status: decoding the reply: %v", err)
		return exitInternal
	}
	writeStatus(os.Stdout, &r)
	return exitOK
}

// requestStatus sends one status request and returns the "status" value
// of the reply.
func requestStatus(socket string) (json.RawMessage, error) {
	nc, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		hint := ""
		switch {
		case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
			hint = " (is the service running? try: systemctl status hooksupd)"
		case errors.Is(err, os.ErrPermission):
			hint = " (permission denied: run as root or a member of [server] socket_group)"
		}
		return nil, fmt.Errorf("cannot reach hooksupd at %s: %v%s", socket, unwrapOp(err), hint)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(statusTimeout))
	if _, err := io.WriteString(nc, `{"id":1,"op":"status"}`+"\n"); err != nil {
		return nil, fmt.Errorf("sending the request to %s: %v", socket, unwrapOp(err))
	}
	line, err := bufio.NewReaderSize(nc, 64<<10).ReadBytes('\n')
	if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
		return nil, fmt.Errorf("reading the reply from %s: %v", socket, unwrapOp(err))
	}
	var rep struct {
		Status json.RawMessage `json:"status"`
		Error  *errorBody      `json:"error"`
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return nil, fmt.Errorf("the reply from %s is not JSON: %v", socket, err)
	}
	if rep.Error != nil {
		return nil, fmt.Errorf("hooksupd refused: %s: %s", rep.Error.Code, rep.Error.Message)
	}
	if len(rep.Status) == 0 {
		return nil, fmt.Errorf("the reply from %s has no status", socket)
	}
	return rep.Status, nil
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
func writeStatus(w io.Writer, r *statusReport) {
	fmt.Fprintf(w, "hooksupd %s, pid %d, up %s\n", r.Version, r.PID, formatUptime(r.UptimeSeconds))
	fmt.Fprintf(w, "config   %s\n", r.Config)
	sv := r.Server
	fmt.Fprintf(w, "socket   %s: %d connections open (%d total), %d/%d fires in flight\n",
		orDefault(sv.Socket, "-"), sv.ConnectionsOpen, sv.ConnectionsTotal, sv.FiresInflight, sv.MaxInflight)
	fmt.Fprintf(w, "requests %s; errors %s; reloads %d ok, %d failed\n",
		formatCounts(sv.Requests), formatCounts(sv.Errors), sv.ReloadsOK, sv.ReloadsFailed)
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tEVENT\tMODE\tFIRES\tP50\tP99\tERRORS\tRESTARTS\tMEMORY\tSTATE")
	for _, h := range r.Hooks {
		mem := "-"
		if h.State.MemoryBytes > 0 {
			mem = formatBytes(h.State.MemoryBytes)
		}
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

func hookStateWord(h hookReport) string {
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
