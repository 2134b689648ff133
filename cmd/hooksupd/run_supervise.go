// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/supervisor"
)

// oomPollInterval is how often the group's OOM counter is read while CMD
// runs under OOMPolicy=stop or kill. (An OOM kill is rare and the tree
// goes on meanwhile only as far as a process that lost a child can; the
// counter is one pread.)
const oomPollInterval = 100 * time.Millisecond

// runState is what happened during one run, for the exit status, the
// report and the summary.
type runState struct {
	caught           syscall.Signal // relayed terminating signal, 0 if none
	timedOut         bool
	stopping         bool // the stop signal went out; grace is running
	killedAfterGrace bool
	oomEnded         bool // OOMPolicy stop/kill ended the run
}

// superviseRun starts the spec, relays signals, enforces the timeout and
// OOMPolicy, and returns the exit status (or the signal to die of).
func superviseRun(spec *supervisor.Spec, o *runOptions, logger *slog.Logger, rep *runReport) (int, syscall.Signal) {
	// Subscribe before the backend exists: a signal from here on is
	// handled (backend closed, groups removed), never the default death.
	sigs := setupRunSignals()
	defer sigs.stop()
	if o.niceSet {
		if err := applyNice(o.nice); err != nil {
			errorf("run: --nice %d: %v", o.nice, err)
			rep.Error = err.Error()
			return exitRunOwnError, 0
		}
	}
	backend, err := supervisor.New(supervisor.Options{Kind: o.backend, Logger: logger})
	if err != nil {
		errorf("run: starting the %s backend: %v", o.backend, err)
		rep.Error = err.Error()
		return exitRunOwnError, 0
	}
	defer func() {
		if err := backend.Close(); err != nil {
			errorf("run: closing the backend: %v", err)
		}
	}()
	mech := backend.Mechanisms()
	var scopeErr error
	if mech.Backend == "linux" && canAskUserManager() && (mech.CgroupMode == "none" || backend.CanEnforce(o.limits) != nil) {
		// Unprivileged on cgroup v2 without a cgroup of its own (or one
		// without the controllers the limits need): a delegated scope of
		// the user's systemd manager gives the backend cgroups it may cap.
		scope, err := enterUserScope(filepath.Base(spec.Path))
		if err != nil {
			scopeErr = err
		} else {
			// Moved: the backend probed cgroups from where hooksupd was.
			if err := backend.Close(); err != nil {
				errorf("run: closing the backend: %v", err)
			}
			b, err := supervisor.New(supervisor.Options{Kind: o.backend, Logger: logger})
			if err != nil {
				backend = closedBackend{}
				errorf("run: starting the %s backend in %s: %v", o.backend, scope, err)
				rep.Error = err.Error()
				return exitRunOwnError, 0
			}
			backend, mech = b, b.Mechanisms()
			rep.Notes = append(rep.Notes, "ran in the delegated scope "+scope+" of the user's systemd manager")
			if o.verbose {
				errorf("run: running in %s of the user's systemd manager", scope)
			}
		}
	}
	rep.Backend, rep.CgroupMode = mech.Backend, mech.CgroupMode
	rep.Mechanism = runMechanism{Spawn: mech.Spawn, Attach: mech.Attach, Kill: mech.Kill}
	if err := backend.CanEnforce(o.limits); err != nil {
		names := unenforced(backend, o.limits)
		if !o.allowUncapped {
			errorf("run: %s not enforceable by the %s backend (cgroup mode %s): %v%s", names, mech.Backend, mech.CgroupMode, err, unprivilegedHint(mech, scopeErr))
			rep.Error = err.Error()
			return exitRunOwnError, 0
		}
		errorf("run: running without %s: %v", names, err)
		rep.Notes = append(rep.Notes, "not enforced: "+names)
	}
	select {
	case s := <-sigs.relay:
		errorf("run: %v before CMD started", s)
		return exitRunSignalled + signalNumber(s), 0
	default:
	}
	start := time.Now()
	proc, err := startRun(backend, spec)
	if err != nil {
		code := startErrorCode(err)
		errorf("run: %v", err)
		rep.ExitCode, rep.Error, rep.Result = code, err.Error(), resultFor(code)
		writeReport(o.report, rep, start)
		return code, 0
	}
	restoreTTY := foregroundTTY(proc.Pid())
	var rs runState
	waitRun(proc, o, sigs, &rs, filepath.Base(spec.Path))
	waitCtx, cancel := context.WithTimeout(context.Background(), runCleanupTimeout)
	st, waitErr := proc.Wait(waitCtx)
	cancel()
	// ReleaseStats kills what is left of the tree (a daemonised
	// grandchild, say), reads the group once it is empty and removes it:
	// nothing of CMD outlives hooksupd run, and the figures cover all of it.
	stats, err := supervisor.ReleaseStats(proc)
	if err != nil {
		errorf("run: cleaning up CMD's tree: %v", err)
	}
	restoreTTY()
	rep.WallMS = time.Since(start).Milliseconds()

	if o.limits.MemoryMax > 0 && o.oomPolicy != "continue" && (st.OOMKilled || stats.OOMKills > 0) {
		// The OOM kill may have ended CMD before the poll saw it.
		rs.oomEnded = true
	}
	code, sig := runExitStatus(st, waitErr, &rs, o)
	fillReport(rep, st, stats, &rs, spec, mech)
	rep.ExitCode = code
	if sig != 0 {
		rep.ExitCode = exitRunSignalled + int(sig)
	}
	switch {
	case rep.OOMKilled && spec.Limits.MemoryMax > 0:
		errorf("run: the memory limit (%s) killed %s of CMD's tree", formatRunBytes(spec.Limits.MemoryMax), plural(rep.OOMKills, "process", "processes"))
	case rep.OOMKilled:
		errorf("run: the OOM killer killed %s of CMD's tree", plural(rep.OOMKills, "process", "processes"))
	}
	if o.verbose {
		errorf("run: %s", summary(rep, st))
	}
	if !writeReport(o.report, rep, time.Time{}) && code == 0 && sig == 0 {
		code = exitRunOwnError
	}
	return code, sig
}

// startRun starts spec; a file the kernel refuses to execute for its
// format (ENOEXEC: an executable script without "#!") runs with /bin/sh,
// as execvp(3) does.
func startRun(backend supervisor.Backend, spec *supervisor.Spec) (supervisor.Process, error) {
	proc, err := backend.Start(context.Background(), spec)
	if err != nil && errors.Is(err, syscall.ENOEXEC) {
		sh := *spec
		sh.Path, sh.Args = "/bin/sh", append([]string{spec.Path}, spec.Args...)
		return backend.Start(context.Background(), &sh)
	}
	return proc, err
}

// waitRun waits until the direct child exits, relaying signals, firing
// the timeout and enforcing the grace and OOMPolicy on the way.
func waitRun(proc supervisor.Process, o *runOptions, sigs *runSignals, rs *runState, name string) {
	var timeoutC, graceC, oomC <-chan time.Time
	if o.timeout > 0 {
		t := time.NewTimer(o.timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	if o.limits.MemoryMax > 0 && o.oomPolicy != "continue" {
		tk := time.NewTicker(oomPollInterval)
		defer tk.Stop()
		oomC = tk.C
	}
	var grace *time.Timer
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	// stop sends sig to the tree and starts the grace, once.
	stop := func(sig syscall.Signal) {
		if o.verbose {
			errorf("run: sending signal %s to command '%s'", signalName(sig), name)
		}
		_ = supervisor.SignalTree(proc, sig)
		if sig == syscall.SIGKILL {
			_ = proc.Kill()
		}
		if !rs.stopping && o.grace > 0 {
			grace = time.NewTimer(o.grace)
			graceC = grace.C
		}
		rs.stopping = true
	}
	for {
		select {
		case <-proc.Done():
			return
		case <-timeoutC:
			timeoutC = nil
			rs.timedOut = true
			stop(o.signal)
		case s := <-sigs.relay:
			sig := s.(syscall.Signal)
			switch {
			case !terminating(sig):
				_ = supervisor.SignalTree(proc, sig)
			case sig == syscall.SIGALRM && !rs.stopping:
				// As GNU timeout: SIGALRM is the timeout, now.
				timeoutC = nil
				rs.timedOut = true
				stop(o.signal)
			case rs.stopping:
				// A second signal: no more grace.
				_ = supervisor.SignalTree(proc, sig)
				_ = proc.Kill()
			default:
				rs.caught = sig
				stop(sig)
			}
		case <-graceC:
			graceC = nil
			rs.killedAfterGrace = true
			if o.verbose {
				errorf("run: sending signal KILL to command '%s'", name)
			}
			_ = proc.Kill()
		case <-oomC:
			if s, err := proc.Stats(); err == nil && s.OOMKills > 0 {
				oomC = nil
				rs.oomEnded = true
				if o.oomPolicy == "kill" {
					_ = proc.Kill()
				} else if !rs.stopping {
					stop(syscall.SIGTERM)
				}
			}
		}
	}
}

// runExitStatus decides hooksupd run's status: an exit code, or a signal
// to die of (CMD's own death signal, as GNU timeout re-raises it).
func runExitStatus(st supervisor.ExitStatus, waitErr error, rs *runState, o *runOptions) (int, syscall.Signal) {
	if waitErr != nil {
		errorf("run: waiting for CMD: %v", waitErr)
		return exitRunOwnError, 0
	}
	childStatus := st.Code
	if st.Signal != 0 {
		childStatus = exitRunSignalled + int(st.Signal)
	}
	switch {
	case rs.oomEnded:
		return exitRunSignalled + int(syscall.SIGKILL), 0
	case rs.timedOut:
		if rs.killedAfterGrace || st.Signal == syscall.SIGKILL {
			return exitRunSignalled + int(syscall.SIGKILL), 0
		}
		if o.preserve {
			return childStatus, 0
		}
		return exitRunTimeout, 0
	case st.Signal != 0:
		return childStatus, st.Signal
	case st.Code < 0:
		return exitRunOwnError, 0
	}
	return st.Code, 0
}

// startErrorCode maps a Start error to the timeout(1) status.
func startErrorCode(err error) int {
	switch {
	case errors.Is(err, supervisor.ErrNotSupported):
		return exitRunOwnError
	case errors.Is(err, fs.ErrNotExist):
		// Also a missing script interpreter (#!) — as the shells report it.
		return exitRunNotFound
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR):
		return exitRunNotExec
	}
	return exitRunOwnError
}

// closedBackend stands in for a backend already closed, for the deferred
// Close.
type closedBackend struct{ supervisor.Backend }

func (closedBackend) Close() error { return nil }

// unenforced names the properties of l the backend cannot enforce
// ("MemoryHigh=, CPUWeight="), each checked alone.
func unenforced(b supervisor.Backend, l supervisor.Limits) string {
	var names []string
	for _, one := range []struct {
		name string
		l    supervisor.Limits
	}{
		{"MemoryMax=", supervisor.Limits{MemoryMax: l.MemoryMax}},
		{"MemoryHigh=", supervisor.Limits{MemoryHigh: l.MemoryHigh}},
		{"CPUQuota=", supervisor.Limits{CPUQuota: l.CPUQuota, CPUPeriod: l.CPUPeriod}},
		{"CPUWeight=", supervisor.Limits{CPUWeight: l.CPUWeight}},
		{"TasksMax=", supervisor.Limits{PidsMax: l.PidsMax}},
		{"LimitNOFILE=", supervisor.Limits{NoFile: l.NoFile}},
	} {
		if !one.l.IsZero() && b.CanEnforce(one.l) != nil {
			names = append(names, one.name)
		}
	}
	if len(names) == 0 {
		return "the limits"
	}
	return strings.Join(names, ", ")
}

// unprivilegedHint says what an unprivileged user lacks when the backend
// has no cgroups to cap with.
func unprivilegedHint(mech supervisor.Mechanisms, scopeErr error) string {
	if os.Geteuid() == 0 || mech.Backend != "linux" {
		return ""
	}
	if scopeErr != nil {
		return "\nAs an unprivileged user hooksupd run needs a cgroup delegated to it; it asked the user's systemd manager" +
			" for a delegated scope and failed: " + scopeErr.Error()
	}
	if mech.CgroupMode != "none" {
		return ""
	}
	return "\nAs an unprivileged user hooksupd run needs a cgroup delegated to it: run it as root, or under systemd" +
		" with cgroup v2, where it asks the user's systemd manager for a delegated scope (this host has no cgroup v2" +
		" hierarchy of its own)"
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	if n == 0 {
		return "a " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
