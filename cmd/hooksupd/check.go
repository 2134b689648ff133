// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

func init() {
	register(&command{
		Name:     "check",
		Synopsis: "check [-c FILE] [--strict] [--verbose] [--log-level LEVEL]",
		Summary:  "validate the configuration and print the preflight report",
		Help: `Validates the configuration (every error of the file is printed, exit 2)
and prints a preflight report: what the supervisor backend guarantees here
in plain words (limits, timeouts, orphans, sandbox; --verbose adds the
kernel mechanisms it chose), the policy, the enforcement status, then per
event the enabled hooks in chain order with their mode, timeout, fail_mode,
namespace and limits.

The configuration is checked against this host's backend as serve and
fire would: limits the backend cannot enforce on a hook without
allow_uncapped are errors (exit 2). A command that is missing or not
executable is printed as a WARN line (it fails at fire time, and its
fail_mode decides); --strict turns warnings into exit status 1. A backend
that cannot start at all is exit status 1.`,
		Run:  runCheck,
		Args: argNone,
	})
}

func runCheck(args []string) int {
	c := commands["check"]
	fs := newFlagSet(c)
	cfgFlag := fs.String("config", "", "configuration `FILE` (default $HOOKSUPD_CONFIG, else "+defaultConfigPath+")")
	fs.alias("c", "config")
	strict := fs.Bool("strict", false, "exit 1 when the report has warnings")
	verbose := fs.Bool("verbose", false, "also print the kernel mechanisms the backend chose")
	logLevel := fs.String("log-level", "warn", "`LEVEL` of diagnostics on stderr: debug, info, warn or error")
	pos, ok, code := fs.parse(args, exitUsage, true)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		errorf("check: unexpected argument %q\nTry '%s check --help'.", pos[0], progName)
		return exitUsage
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		errorf("check: %v", err)
		return exitUsage
	}
	cfg, ok := loadConfig("check", configPath(*cfgFlag))
	if !ok {
		return exitUsage
	}

	w := os.Stdout
	enabled := 0
	for _, h := range cfg.Hooks {
		if h.Enabled {
			enabled++
		}
	}

	// The backend the daemon would use, probed the same way: this is what
	// tells an operator which kernel mechanisms fires will get here.
	backend, err := supervisor.New(supervisor.Options{
		Kind:         cfg.Supervisor.Backend,
		CgroupParent: cfg.Supervisor.CgroupParent,
		Logger:       logger,
	})
	if err != nil {
		fmt.Fprintf(w, "\nbackend %s: UNAVAILABLE: %v\n", orDefault(cfg.Supervisor.Backend, "auto"), err)
		errorf("check: the supervisor backend cannot start: %v", err)
		return exitInternal
	}
	defer backend.Close()
	// Build the dispatcher as serve and fire would, for the checks that
	// need the backend (limits it cannot enforce without allow_uncapped).
	// It starts no child: daemons start on their first fire.
	d, err := executor.New(cfg, executor.Options{Backend: backend, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		printConfigError("check", err)
		return exitUsage
	}
	if err := d.Close(context.Background()); err != nil {
		errorf("check: %v", err)
	}
	// Only now is the config known to load as serve would load it (limits
	// the backend enforces, commands the policy lets run).
	fmt.Fprintf(w, "config %s: OK, %d hooks (%d enabled)\n", cfg.Path, len(cfg.Hooks), enabled)
	writeBackend(w, backend.Mechanisms(), *verbose)

	fmt.Fprintf(w, "\npolicy\n")
	writePolicy(w, cfg.Policy)

	fmt.Fprintf(w, "\nenforcement (mode %s)\n", orDefault(cfg.Enforce.Mode, "off"))
	lines := executor.Preflight(cfg)
	for _, line := range lines {
		fmt.Fprintf(w, "  %s\n", line)
	}
	if len(lines) == 0 {
		// Preflight is silent when the gate checks nothing; say so, so
		// an operator does not read silence as "all required events OK".
		fmt.Fprintf(w, "  no required events: the presence gate is off\n")
	}

	warnings := writeChains(w, cfg, backend)
	if warnings > 0 {
		fmt.Fprintf(w, "\n%d warning(s)\n", warnings)
		if *strict {
			return exitInternal
		}
	}
	return exitOK
}

func writePolicy(w io.Writer, p config.Policy) {
	strict := "on"
	if !p.StrictModes {
		strict = "OFF (commands and their directories are not checked for unsafe owners or modes)"
	}
	fmt.Fprintf(w, "  strict_modes    %s\n", strict)
	fmt.Fprintf(w, "  allow_commands  %s\n", listOr(p.AllowCommands, "any absolute path"))
	fmt.Fprintf(w, "  deny_commands   %s\n", listOr(p.DenyCommands, "none"))
	// strict_modes trusts root and the supervisor's own user: the verdict
	// is serve's only when check runs as serve's user.
	fmt.Fprintf(w, "  evaluated as    uid %d (run check as the service's user for serve's verdict)\n", os.Geteuid())
}

// writeChains prints, per event with enabled hooks, the chain in order,
// then the disabled hooks. It returns the number of warnings.
func writeChains(w io.Writer, cfg *config.Config, backend supervisor.Backend) int {
	var names []string
	for name := range cfg.Events {
		if len(cfg.HooksFor(name)) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	warnings := 0
	warn := func(format string, args ...any) {
		warnings++
		fmt.Fprintf(w, "       WARN "+format+"\n", args...)
	}
	for _, name := range names {
		ev := cfg.Events[name]
		var tags []string
		tags = append(tags, orDefault(ev.Class, "custom"), string(ev.Kind))
		if ev.Pre {
			tags = append(tags, "pre")
		}
		tags = append(tags, "deadline "+formatDuration(ev.Deadline))
		fmt.Fprintf(w, "\nevent %s (%s)\n", name, strings.Join(tags, ", "))
		for i, h := range cfg.HooksFor(name) {
			fmt.Fprintf(w, "  %d. %s\n", i+1, h.Name)
			fmt.Fprintf(w, "       priority %d, mode %s, timeout %s, fail_mode %s, namespace %q\n",
				h.Priority, h.Mode, formatDuration(h.Timeout), h.FailMode, h.Namespace)
			fmt.Fprintf(w, "       command %s\n", strings.Join(append([]string{h.Command}, h.Args...), " "))
			if h.User != "" {
				fmt.Fprintf(w, "       user %s\n", strings.Trim(h.User+":"+h.Group, ":"))
			}
			if h.DynamicUser {
				fmt.Fprintf(w, "       user dynamic, uid %d gid %d\n", h.UID, h.GID)
			}
			if h.User != "" && h.UID == 0 {
				warn("runs as root (user = %q): no capabilities, but it can signal and ptrace other root hooks and open what root owns; see docs/sandbox.md", h.User)
			}
			fmt.Fprintf(w, "       limits %s\n", formatLimits(h.Limits))
			if !h.Limits.IsZero() {
				if err := backend.CanEnforce(supervisor.Limits{MemoryMax: h.Limits.MemoryMax, CPUQuota: h.Limits.CPUQuota,
					CPUPeriod: h.Limits.CPUPeriod, PidsMax: h.Limits.PidsMax, NoFile: h.Limits.NoFile}); err != nil {
					// executor.New refused the config unless the hook
					// allows running uncapped.
					fmt.Fprintf(w, "       limits NOT enforced, runs uncapped (allow_uncapped): %v\n", err)
				} else {
					fmt.Fprintf(w, "       limits enforced\n")
				}
			}
			if err := checkExecutable(h.Command); err != nil {
				warn("%v", err)
			} else if h.DynamicUser {
				if err := checkReachable(h.Command, h.UID, h.GID); err != nil {
					warn("%v (the hook runs as dynamic uid %d: make the path readable by others, or set user)", err, h.UID)
				}
			}
		}
	}
	var disabled []string
	for _, h := range cfg.Hooks {
		if !h.Enabled {
			disabled = append(disabled, h.Name+" ("+h.Event+")")
		}
	}
	if len(disabled) > 0 {
		fmt.Fprintf(w, "\ndisabled: %s\n", strings.Join(disabled, ", "))
	}
	if len(names) == 0 {
		fmt.Fprintf(w, "\nno enabled hooks\n")
	}
	return warnings
}

// checkExecutable reports a command that cannot be executed as configured.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("command %s: %v", path, err)
	case fi.IsDir():
		return fmt.Errorf("command %s is a directory", path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("command %s is not executable", path)
	}
	return nil
}

// formatLimits prints limits the way hooks.toml spells them.
func formatLimits(l config.Limits) string {
	if l.IsZero() {
		return "none"
	}
	var parts []string
	if l.MemoryMax > 0 {
		parts = append(parts, "memory_max="+formatSize(l.MemoryMax))
	}
	if l.CPUQuota > 0 {
		period := l.CPUPeriod
		if period == 0 {
			period = 100 * time.Millisecond
		}
		pct := float64(l.CPUQuota) / float64(period) * 100
		parts = append(parts, fmt.Sprintf("cpu_max=%s%%", trimFloat(pct)))
	}
	if l.PidsMax > 0 {
		parts = append(parts, fmt.Sprintf("pids_max=%d", l.PidsMax))
	}
	if l.NoFile > 0 {
		parts = append(parts, fmt.Sprintf("nofile=%d", l.NoFile))
	}
	return strings.Join(parts, " ")
}

// formatSize prints bytes with the largest binary unit that divides them.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.suffix)
		}
	}
	return fmt.Sprintf("%d", n)
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func listOr(l []string, empty string) string {
	if len(l) == 0 {
		return empty
	}
	return strings.Join(l, ", ")
}
