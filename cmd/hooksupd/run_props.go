// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/internal/units"
)

// runHelpText is run's --help text before the option list.
const runHelpText = `Runs CMD (looked up in the caller's PATH, as execvp does) in a group of its
own with the given limits, stdin/stdout/stderr passed through, in the
current directory, with the caller's environment. When hooksupd run
returns, no process of CMD's tree is left. On a terminal, CMD is the
foreground job while it runs. hooksupd run stands in for
  timeout [OPTION] DURATION CMD         hooksupd run --timeout DURATION [OPTION] -- CMD
  systemd-run --scope -p NAME=VALUE CMD hooksupd run -p NAME=VALUE -- CMD
(see docs/run.md for the full mapping). As a normal user on a cgroup v2
host, hooksupd run asks the user's systemd manager for a delegated scope
(as systemd-run --user --scope -p Delegate=yes) and caps CMD inside it.

Signals: SIGHUP, SIGINT, SIGQUIT, SIGTERM and SIGALRM sent to hooksupd run
are relayed as themselves to every process of the tree, which is then
SIGKILLed after --kill-after unless CMD exits first; a second one kills
the tree at once. SIGUSR1 and SIGUSR2 are relayed without more. A signal
ignored when hooksupd run started (nohup, a background job) stays ignored,
for hooksupd and CMD alike. hooksupd run never dies of SIGPIPE or SIGQUIT.

Exit status (as timeout(1)): CMD's status; when CMD was killed by signal N,
hooksupd run kills itself with N (a shell sees 128+N); 124 when --timeout
fired and CMD then exited (with --preserve-status CMD's status instead);
137 when the tree had to be SIGKILLed after --kill-after, or an OOM kill
ended the run (OOMPolicy=stop or kill); 125 for hooksupd's own errors (bad
options, properties this host cannot enforce, spawn failures); 126 CMD not
executable; 127 CMD not found.

Properties (-p NAME=VALUE, systemd.resource-control(5) names and syntax;
the long flag in brackets is a shorthand):
  MemoryMax=SIZE        memory of the whole tree; K, M, G, T (1024-based),
                        N% of RAM or infinity; swap is capped at 0 with it [--memory-max]
  MemorySwapMax=0       accepted (the default with MemoryMax); other values not supported yet
  MemoryHigh=SIZE       memory throttle: above it the tree is slowed, not killed;
                        cgroup v2 only (memory.high) [--memory-high]
  CPUQuota=N%           CPU time per CPU ("20%", "150%" = 1.5 CPUs) [--cpu-max]
  CPUWeight=N           CPU share under contention, 1..10000, 100 the default
                        (v2 cpu.weight, v1 cpu.shares) [--cpu-weight]
  AllowedCPUs=, IOWeight=, IOReadBandwidthMax=, IOWriteBandwidthMax=
                        not supported yet
  TasksMax=N            tasks of the tree; N, N% of the host's limit or infinity [--pids-max]
  LimitNOFILE=N         RLIMIT_NOFILE of CMD [--nofile]
  OOMPolicy=stop|continue|kill
                        stop (default): the first OOM kill in the tree stops the
                        rest (SIGTERM, SIGKILL after --kill-after); kill: SIGKILL at
                        once; continue: the rest goes on
  Nice=N                scheduling priority -20..19 [--nice]
  WorkingDirectory=DIR  as -D; "~" is the home directory
  Environment="K=V ..." as -E, space-separated, quotes allowed
  RuntimeMaxSec=DUR     as --timeout
A property this build or host cannot enforce is an error naming it (125)
unless --allow-uncapped, which runs without it and says so on stderr.

--report FILE writes one JSON object for every exit, 125-127 included:
exit_code (hooksupd run's status, 128+N when it died of signal N),
child_exit_code (CMD's code, -1 when killed by a signal or never started),
signal, signal_name, timed_out, killed_after_grace, oom_killed, oom_kills,
result (as systemd's: success, exit-code, signal, timeout, oom-kill,
resources), cpu_usec, cpu_throttled_usec, cpu_throttled_periods,
memory_peak_bytes, pids_peak (null when the kernel has no pids.peak),
wall_ms, backend, cgroup_mode, mechanism {spawn, attach, kill}, notes and
error. The figures are the group's: every process of the tree, not only CMD.`

// shorthandProps are the long flags that set a property.
var shorthandProps = []struct{ flag, prop, usage string }{
	{"memory-max", "MemoryMax", "memory limit of the whole tree as a `SIZE` (512M, 1G, 50%, infinity); -p MemoryMax="},
	{"cpu-max", "CPUQuota", "CPU limit as a `PCT` of one CPU (\"20%\", \"150%\"); -p CPUQuota="},
	{"pids-max", "TasksMax", "allow at most `N` tasks in the tree; -p TasksMax="},
	{"nofile", "LimitNOFILE", "set RLIMIT_NOFILE of CMD to `N`; -p LimitNOFILE="},
	{"memory-high", "MemoryHigh", "memory throttle of the tree as a `SIZE` (cgroup v2); -p MemoryHigh="},
	{"cpu-weight", "CPUWeight", "CPU `WEIGHT` under contention, 1..10000 (default 100); -p CPUWeight="},
	{"nice", "Nice", "run CMD at niceness `N` (-20..19); systemd-run --nice, -p Nice="},
}

// cpuPeriod is the CFS period CPU quotas are expressed in (systemd's).
const cpuPeriod = 100 * time.Millisecond

// notYet are the systemd properties hooksupd run knows but cannot enforce
// yet, with what they would need.
var notYet = map[string]string{
	"AllowedCPUs":         "the cpuset controller",
	"IOWeight":            "cgroup v2 io.weight",
	"IOReadBandwidthMax":  "cgroup v2 io.max / v1 blkio.throttle",
	"IOWriteBandwidthMax": "cgroup v2 io.max / v1 blkio.throttle",
}

// applyProperty sets one systemd property on o.
func applyProperty(o *runOptions, name, value string) error {
	bad := func(err error) error { return fmt.Errorf("-p %s=%s: %v", name, value, err) }
	switch name {
	case "MemoryMax", "MemoryLimit":
		n, err := units.ParseSize(value, totalRAM())
		if err != nil {
			return bad(err)
		}
		if n == 0 {
			return bad(fmt.Errorf("a limit of 0 bytes leaves nothing to run in; infinity is no limit"))
		}
		if n == units.Infinity {
			n = 0
		}
		o.limits.MemoryMax = n
	case "MemoryHigh":
		n, err := units.ParseSize(value, totalRAM())
		if err != nil {
			return bad(err)
		}
		if n == units.Infinity {
			n = 0
		}
		o.limits.MemoryHigh = n
	case "CPUWeight":
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil || n < 1 || n > 10000 {
			return bad(fmt.Errorf("want a weight from 1 to 10000 (100 is the default)"))
		}
		o.limits.CPUWeight = n
	case "MemorySwapMax":
		n, err := units.ParseSize(value, totalRAM())
		if err != nil {
			return bad(err)
		}
		if n != 0 {
			o.unenforceable = append(o.unenforceable, fmt.Sprintf("%s=%s: not supported yet (swap is always capped at 0 alongside MemoryMax)", name, value))
		}
	case "CPUQuota":
		f, err := units.ParseCPUQuota(value)
		if err != nil {
			return bad(err)
		}
		o.limits.CPUQuota, o.limits.CPUPeriod = time.Duration(f*float64(cpuPeriod)), cpuPeriod
	case "TasksMax":
		n, err := units.ParseTasks(value, taskLimit())
		if err != nil {
			return bad(err)
		}
		if n == units.Infinity {
			n = 0
		}
		o.limits.PidsMax = n
	case "LimitNOFILE":
		if value == "infinity" {
			o.limits.NoFile = 0
			return nil
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil || n == 0 {
			return bad(fmt.Errorf("want a positive number of files"))
		}
		o.limits.NoFile = n
	case "OOMPolicy":
		switch value {
		case "stop", "continue", "kill":
			o.oomPolicy = value
		default:
			return bad(fmt.Errorf("want stop, continue or kill"))
		}
	case "Nice":
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < -20 || n > 19 {
			return bad(fmt.Errorf("want a niceness from -20 to 19"))
		}
		o.nice, o.niceSet = n, true
	case "WorkingDirectory":
		d := value
		if d == "~" || strings.HasPrefix(d, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return bad(err)
			}
			d = home + d[1:]
		}
		o.dir = d
	case "Environment":
		words, err := splitQuoted(value)
		if err != nil {
			return bad(err)
		}
		for _, w := range words {
			if k, _, ok := strings.Cut(w, "="); !ok || k == "" {
				return bad(fmt.Errorf("%q: want K=V", w))
			}
		}
		o.env = append(o.env, words...)
	case "RuntimeMaxSec":
		d, err := units.ParseDuration(value)
		if err != nil {
			return bad(err)
		}
		o.timeout = d
	default:
		if need, ok := notYet[name]; ok {
			o.unenforceable = append(o.unenforceable, fmt.Sprintf("%s=: not supported yet by hooksupd run (needs %s)", name, need))
			return nil
		}
		return fmt.Errorf("-p %s: unknown property; known: %s", name, strings.Join(knownProperties(), ", "))
	}
	return nil
}

// knownProperties lists the property names -p takes.
func knownProperties() []string {
	names := []string{"MemoryMax", "MemoryHigh", "MemorySwapMax", "CPUQuota", "CPUWeight", "TasksMax", "LimitNOFILE", "OOMPolicy", "Nice",
		"WorkingDirectory", "Environment", "RuntimeMaxSec"}
	for n := range notYet {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// splitQuoted splits systemd's Environment= value into words: blanks
// separate, "double" and 'single' quotes group, a backslash escapes the
// next character.
func splitQuoted(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// totalRAM is the host's memory in bytes (for MemoryMax=N%), 0 when
// unknown.
func totalRAM() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// taskLimit is the host's task limit (for TasksMax=N%): the lower of
// kernel.pid_max and kernel.threads-max, as systemd takes it; 0 when
// unknown.
func taskLimit() uint64 {
	var lim uint64 = math.MaxUint64
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n < lim {
			lim = n
		}
	}
	if lim == math.MaxUint64 {
		return 0
	}
	return lim
}
