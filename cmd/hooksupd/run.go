package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Exit statuses of `hooksupd run`, as GNU timeout(1) and the shells use
// them, so scripts that wrap a command keep working when hooksupd run is
// put in front of it.
const (
	exitRunTimeout   = 124
	exitRunOwnError  = 125
	exitRunNotExec   = 126
	exitRunNotFound  = 127
	exitRunSignalled = 128 // + signal number
)

// runCleanupTimeout bounds waiting for the tree to go after the kill.
const runCleanupTimeout = 10 * time.Second

func init() {
	register(&command{
		Name: "run",
		Synopsis: "run [--memory-max SIZE] [--cpu-max PCT] [--pids-max N] [--nofile N] [--timeout DUR]\n" +
			"                    [--user U] [--env K=V]... [--pass-env NAME]... [--report FILE]\n" +
			"                    [--backend auto|linux|portable] [--] CMD [ARGS...]",
		Summary: "run one command as a resource-capped sandbox",
		Help: `Runs CMD (looked up in the caller's PATH) in its own group with the given
limits, stdin/stdout/stderr passed through, in the current directory. The
environment is exactly PATH (the caller's), the --env pairs and the
--pass-env variables that are set; nothing else is inherited. When
hooksupd run returns, no process of CMD's tree is left. On a terminal,
CMD is the foreground job while it runs (it may read the terminal, and
Ctrl-C reaches it directly).

On SIGTERM, SIGINT or SIGHUP, CMD's tree gets SIGTERM, then after the grace
period it is killed; hooksupd run then exits 128+N for the signal it got.
A second signal kills the tree at once.

Exit status (as timeout(1)): CMD's status; 128+N when CMD was killed by
signal N; 124 when --timeout fired (the tree is killed); 125 for hooksupd's
own errors (bad options, limits the backend cannot enforce, spawn
failures); 126 CMD not executable; 127 CMD not found.

--report FILE writes one JSON object when CMD ends: exit_code (hooksupd
run's status), child_exit_code (CMD's code, -1 when killed by a signal),
signal, timed_out, oom_killed, cpu_usec, memory_peak_bytes, wall_ms,
backend, cgroup_mode and mechanism {spawn, attach, kill}.`,
		Run: runRun,
	})
}

// runOptions are the parsed flags of `hooksupd run`.
type runOptions struct {
	limits        supervisor.Limits
	allowUncapped bool
	timeout       time.Duration
	grace         time.Duration
	user          string
	env           stringList
	passEnv       stringList
	report        string
	backend       string
	sandbox       supervisor.Sandbox
}

func runRun(args []string) int {
	c := commands["run"]
	fs := newFlagSet(c)
	var o runOptions
	memMax := fs.String("memory-max", "", "memory limit of the whole tree as a `SIZE` such as 64M or 1G (swap is capped at 0)")
	cpuMax := fs.String("cpu-max", "", "CPU limit: `PCT` of one CPU (\"20%\", \"150%\") or CPUs (\"0.5\", \"2\")")
	pidsMax := fs.Int64("pids-max", 0, "allow at most `N` tasks in the tree")
	nofile := fs.Uint64("nofile", 0, "set RLIMIT_NOFILE of CMD to `N`")
	timeout := fs.String("timeout", "", "kill the tree after `DUR` (\"10s\", \"1m\", or seconds as \"2.5\") and exit 124")
	fs.DurationVar(&o.grace, "grace", 2*time.Second, "give CMD's tree `DUR` after SIGTERM before it is killed")
	fs.StringVar(&o.user, "user", "", "run as `USER[:GROUP]` (name or numeric id); needs privileges")
	fs.Var(&o.env, "env", "add `K=V` to CMD's environment; repeatable")
	fs.Var(&o.passEnv, "pass-env", "pass the caller's variable `NAME` to CMD when set; repeatable")
	fs.StringVar(&o.report, "report", "", "write a JSON report of the run to `FILE`")
	fs.StringVar(&o.backend, "backend", "auto", "supervisor backend `KIND`: auto, linux or portable")
	fs.BoolVar(&o.allowUncapped, "allow-uncapped", false, "run even when the backend cannot enforce the limits")
	logLevel := fs.String("log-level", "warn", "`LEVEL` of hooksupd's own diagnostics on stderr: debug, info, warn or error")
	sbFlags := addRunSandboxFlags(fs)
	pos, ok, code := fs.parse(args, exitRunOwnError, false)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		errorf("run: missing CMD\nTry '%s run --help'.", progName)
		return exitRunOwnError
	}
	var err error
	if o.limits, err = parseRunLimits(*memMax, *cpuMax, *pidsMax, *nofile); err != nil {
		errorf("run: %v", err)
		return exitRunOwnError
	}
	if o.sandbox, err = sbFlags.sandbox(); err != nil {
		errorf("run: %v", err)
		return exitRunOwnError
	}
	if o.timeout, err = parseTimeout(*timeout); err != nil {
		errorf("run: --timeout: %v", err)
		return exitRunOwnError
	}
	if o.grace < 0 {
		errorf("run: --grace must not be negative")
		return exitRunOwnError
	}
	switch o.backend {
	case "auto", "linux", "portable":
	default:
		errorf("run: --backend must be auto, linux or portable, not %q", o.backend)
		return exitRunOwnError
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		errorf("run: %v", err)
		return exitRunOwnError
	}
	spec, code := buildRunSpec(pos, &o)
	if spec == nil {
		return code
	}

	// Subscribe before the backend exists: a signal from here on is
	// handled (backend closed, groups removed), never the default death.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	backend, err := supervisor.New(supervisor.Options{Kind: o.backend, Logger: logger})
	if err != nil {
		errorf("run: starting the %s backend: %v", o.backend, err)
		return exitRunOwnError
	}
	defer func() {
		if err := backend.Close(); err != nil {
			errorf("run: closing the backend: %v", err)
		}
	}()
	mech := backend.Mechanisms()
	if err := backend.CanEnforce(o.limits); err != nil && !o.allowUncapped {
		errorf("run: limits not enforceable by the %s backend (cgroup mode %s): %v", mech.Backend, mech.CgroupMode, err)
		return exitRunOwnError
	}
	return superviseRun(backend, spec, &o, mech, sigs)
}

// buildRunSpec resolves CMD and builds the spec. A nil spec comes with the
// exit status to return.
func buildRunSpec(argv []string, o *runOptions) (*supervisor.Spec, int) {
	path, code, err := lookCommand(argv[0])
	if err != nil {
		errorf("run: %v", err)
		return nil, code
	}
	env, err := runEnv(o.env, o.passEnv)
	if err != nil {
		errorf("run: %v", err)
		return nil, exitRunOwnError
	}
	dir, err := os.Getwd()
	if err != nil {
		errorf("run: current directory: %v", err)
		return nil, exitRunOwnError
	}
	spec := &supervisor.Spec{
		Name:          "run-" + groupName(filepath.Base(path)),
		Path:          path,
		Args:          argv[1:],
		Env:           env,
		Dir:           dir,
		Limits:        o.limits,
		AllowUncapped: o.allowUncapped,
		Sandbox:       o.sandbox,
		Stdin:         os.Stdin,
		Stdout:        os.Stdout,
		Stderr:        os.Stderr,
	}
	if o.user != "" {
		cred, err := lookupCredential(o.user)
		if err != nil {
			errorf("run: --user: %v", err)
			return nil, exitRunOwnError
		}
		spec.Credential = cred
	}
	return spec, 0
}

// superviseRun starts the spec, waits for the end (exit, timeout or a
// signal to hooksupd itself), cleans up and returns the exit status.
func superviseRun(backend supervisor.Backend, spec *supervisor.Spec, o *runOptions, mech supervisor.Mechanisms, sigs <-chan os.Signal) int {
	select {
	case s := <-sigs:
		errorf("run: %v before CMD started", s)
		return exitRunSignalled + signalNumber(s)
	default:
	}
	rep := runReport{Backend: mech.Backend, CgroupMode: mech.CgroupMode,
		Mechanism: runMechanism{Spawn: mech.Spawn, Attach: mech.Attach, Kill: mech.Kill}}
	start := time.Now()
	proc, err := backend.Start(context.Background(), spec)
	if err != nil {
		code := startErrorCode(err)
		errorf("run: %v", err)
		rep.ExitCode, rep.ChildExitCode, rep.Error = code, -1, err.Error()
		writeReport(o.report, &rep, start)
		return code
	}

	restoreTTY := foregroundTTY(proc.Pid())
	var timeoutC <-chan time.Time
	if o.timeout > 0 {
		t := time.NewTimer(o.timeout)
		defer t.Stop()
		timeoutC = t.C
	}
	var caught os.Signal
	select {
	case <-proc.Done():
	case <-timeoutC:
		rep.TimedOut = true
		stopTree(proc, o.grace, sigs)
	case caught = <-sigs:
		stopTree(proc, o.grace, sigs)
	}
	waitCtx, cancel := context.WithTimeout(context.Background(), runCleanupTimeout)
	st, waitErr := proc.Wait(waitCtx)
	cancel()
	rep.WallMS = time.Since(start).Milliseconds()
	peak := st.MemoryPeak
	if peak == 0 {
		if s, err := proc.Stats(); err == nil {
			peak = s.MemoryPeak
		}
	}
	// Release kills what is left of the tree (a daemonised grandchild, say)
	// and removes the group: nothing of CMD outlives hooksupd run.
	if err := proc.Release(); err != nil {
		errorf("run: cleaning up CMD's tree: %v", err)
	}
	restoreTTY()

	code := st.Code
	switch {
	case caught != nil:
		code = exitRunSignalled + signalNumber(caught)
	case rep.TimedOut:
		code = exitRunTimeout
	case waitErr != nil:
		errorf("run: waiting for CMD: %v", waitErr)
		code = exitRunOwnError
	case st.Signal != 0:
		code = exitRunSignalled + int(st.Signal)
	case code < 0:
		code = exitRunOwnError
	}
	rep.ExitCode, rep.ChildExitCode = code, st.Code
	rep.Signal = int(st.Signal)
	if st.Signal != 0 {
		rep.SignalName = st.Signal.String()
	}
	rep.OOMKilled = st.OOMKilled
	rep.CPUUsec = st.CPU.Microseconds()
	rep.MemoryPeakBytes = peak
	if st.OOMKilled {
		errorf("run: the memory limit (%d bytes) killed a process of CMD's tree", spec.Limits.MemoryMax)
	}
	if rep.TimedOut {
		errorf("run: timed out after %v; CMD's tree was killed", o.timeout)
	}
	if !writeReport(o.report, &rep, time.Time{}) && code == 0 {
		code = exitRunOwnError
	}
	return code
}

// stopTree sends SIGTERM to the tree and kills it after grace; a further
// signal to hooksupd cuts the grace short.
func stopTree(proc supervisor.Process, grace time.Duration, sigs <-chan os.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), grace+runCleanupTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = proc.Stop(ctx, grace)
	}()
	select {
	case <-done:
	case <-sigs:
		_ = proc.Kill()
		<-done
	}
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

// lookCommand resolves name like the shell and timeout(1) do: a name with
// a slash is used as is, anything else is searched in the caller's PATH.
// The result is absolute, because the spec's working directory need not
// be the one the name is relative to.
func lookCommand(name string) (string, int, error) {
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		// A PATH entry "." (or empty) finds it: honour it as the shell
		// would, this is the caller's own PATH.
		err = nil
	}
	if err != nil {
		if strings.ContainsRune(name, filepath.Separator) || strings.ContainsRune(name, '/') {
			if fi, serr := os.Stat(name); serr == nil {
				if fi.IsDir() {
					return "", exitRunNotExec, fmt.Errorf("%s: is a directory", name)
				}
				return "", exitRunNotExec, fmt.Errorf("%s: not executable", name)
			}
		}
		return "", exitRunNotFound, fmt.Errorf("%s: command not found", name)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return "", exitRunNotExec, fmt.Errorf("%s: is a directory", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", exitRunOwnError, err
	}
	return abs, 0, nil
}

// runEnv builds CMD's environment: the caller's PATH, then --env, then
// --pass-env; a later setting of a name replaces an earlier one.
func runEnv(set, pass []string) ([]string, error) {
	var order []string
	vals := map[string]string{}
	put := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	if p, ok := os.LookupEnv("PATH"); ok {
		put("PATH", p)
	}
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want K=V", kv)
		}
		put(k, v)
	}
	for _, k := range pass {
		if k == "" || strings.Contains(k, "=") {
			return nil, fmt.Errorf("--pass-env %q: want a variable name", k)
		}
		if v, ok := os.LookupEnv(k); ok {
			put(k, v)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env, nil
}

// parseRunLimits turns the limit flags into supervisor limits.
func parseRunLimits(mem, cpu string, pids int64, nofile uint64) (supervisor.Limits, error) {
	var l supervisor.Limits
	if mem != "" {
		n, err := executor.ParseSize(mem)
		if err != nil {
			return l, fmt.Errorf("--memory-max: %w", err)
		}
		if n <= 0 {
			return l, fmt.Errorf("--memory-max %q: must be positive", mem)
		}
		l.MemoryMax = n
	}
	if cpu != "" {
		q, err := parseCPUMax(cpu)
		if err != nil {
			return l, fmt.Errorf("--cpu-max: %w", err)
		}
		l.CPUQuota, l.CPUPeriod = q, cpuPeriod
	}
	if pids < 0 {
		return l, fmt.Errorf("--pids-max %d: must not be negative", pids)
	}
	l.PidsMax = pids
	l.NoFile = nofile
	return l, nil
}

// cpuPeriod is the CFS period --cpu-max quotas are expressed in.
const cpuPeriod = 100 * time.Millisecond

// parseCPUMax accepts "20%" (of one CPU) or a number of CPUs ("0.5", "2")
// and returns the quota per cpuPeriod.
func parseCPUMax(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	scale := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(p), 0.01
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f != f || f > 1e6 {
		return 0, fmt.Errorf("%q: want a percentage (\"20%%\") or a positive number of CPUs (\"0.5\")", s)
	}
	q := time.Duration(f * scale * float64(cpuPeriod))
	// The kernel refuses quotas under 1ms.
	if q < time.Millisecond {
		return 0, fmt.Errorf("%q: below the minimum of 1%% of a CPU", s)
	}
	return q, nil
}

// parseTimeout accepts a Go duration ("1m30s") or seconds as timeout(1)
// does ("10", "2.5").
func parseTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 || f != f || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("%q: out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 10s, 1m or 2.5", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: must not be negative", s)
	}
	return d, nil
}

// lookupCredential resolves USER[:GROUP] (names or numeric ids).
func lookupCredential(s string) (*supervisor.Credential, error) {
	uname, gname, hasGroup := strings.Cut(s, ":")
	var u *user.User
	var err error
	if _, nerr := strconv.ParseUint(uname, 10, 32); nerr == nil {
		u, err = user.LookupId(uname)
		if err != nil {
			// A numeric uid without a passwd entry is fine (containers).
			u = &user.User{Uid: uname, Gid: uname}
		}
	} else if u, err = user.Lookup(uname); err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q is not numeric on this system", uname, u.Uid)
	}
	gidStr := u.Gid
	var groups []uint32
	if hasGroup {
		if _, nerr := strconv.ParseUint(gname, 10, 32); nerr == nil {
			gidStr = gname
		} else {
			g, err := user.LookupGroup(gname)
			if err != nil {
				return nil, err
			}
			gidStr = g.Gid
		}
	} else if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(n))
			}
		}
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("group %q: gid %q is not numeric on this system", gname, gidStr)
	}
	return &supervisor.Credential{UID: uint32(uid), GID: uint32(gid), Groups: groups}, nil
}

// groupName turns a program name into a valid group-name element.
func groupName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	s = strings.Trim(string(b), ".")
	if len(s) > 48 {
		s = s[:48]
	}
	if s == "" {
		s = "cmd"
	}
	return s
}

// runReport is the JSON object --report writes.
type runReport struct {
	ExitCode        int          `json:"exit_code"`
	ChildExitCode   int          `json:"child_exit_code"`
	Signal          int          `json:"signal"`
	SignalName      string       `json:"signal_name,omitempty"`
	TimedOut        bool         `json:"timed_out"`
	OOMKilled       bool         `json:"oom_killed"`
	CPUUsec         int64        `json:"cpu_usec"`
	MemoryPeakBytes int64        `json:"memory_peak_bytes"`
	WallMS          int64        `json:"wall_ms"`
	Backend         string       `json:"backend"`
	CgroupMode      string       `json:"cgroup_mode"`
	Mechanism       runMechanism `json:"mechanism"`
	Error           string       `json:"error,omitempty"`
}

type runMechanism struct {
	Spawn  string `json:"spawn"`
	Attach string `json:"attach"`
	Kill   string `json:"kill"`
}

// writeReport writes rep to path (no-op without --report). A non-zero
// start sets the wall time. It reports success.
func writeReport(path string, rep *runReport, start time.Time) bool {
	if path == "" {
		return true
	}
	if !start.IsZero() {
		rep.WallMS = time.Since(start).Milliseconds()
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(data, '\n'), 0o644)
	}
	if err != nil {
		errorf("run: --report: %v", err)
		return false
	}
	return true
}
