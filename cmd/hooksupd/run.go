// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hooksupd/hooksupd/internal/units"
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

// defaultGrace is how long the tree gets between the stop signal and
// SIGKILL unless -k says otherwise. GNU timeout never sends SIGKILL
// without -k; hooksupd run does, so that nothing outlives it.
const defaultGrace = 2 * time.Second

func init() {
	register(&command{
		Name: "run",
		Synopsis: "run [-p NAME=VALUE]... [--timeout DUR] [-k DUR] [-s SIG] [-v] [--preserve-status]\n" +
			"                    [-D DIR] [-E K=V]... [--inherit-env=false] [--report FILE] [--] CMD [ARGS...]",
		Summary: "run one command as a resource-capped sandbox (timeout(1), systemd-run --scope)",
		Help:    runHelpText,
		Run:     runRun,
		Args:    argCommand,
	})
}

// runOptions are the parsed flags of `hooksupd run`.
type runOptions struct {
	limits        supervisor.Limits
	allowUncapped bool
	timeout       time.Duration
	grace         time.Duration // 0: never SIGKILL (GNU -k 0)
	signal        syscall.Signal
	preserve      bool
	foreground    bool
	verbose       bool
	user          string
	env           stringList
	passEnv       stringList
	inheritEnv    bool
	dir           string
	nice          int
	niceSet       bool
	oomPolicy     string // "stop", "continue" or "kill"
	report        string
	backend       string
	// unenforceable are the properties asked for that this build cannot
	// enforce (name -> why); an error unless allowUncapped.
	unenforceable []string
	sandbox       supervisor.Sandbox
}

func runRun(args []string) int {
	code, sig := runMain(args)
	if sig != 0 {
		// CMD died of sig: die of it too, as GNU timeout does, so that a
		// shell running hooksupd run sees what it would have seen running
		// CMD (an interactive bash stops a script on a child's SIGINT).
		reraise(sig)
	}
	return code
}

// runMain does the work of run; everything it opened is closed when it
// returns. A non-zero sig is a signal to die of instead of exiting code.
func runMain(args []string) (code int, sig syscall.Signal) {
	o := runOptions{grace: defaultGrace, signal: syscall.SIGTERM, inheritEnv: true, oomPolicy: "stop"}
	// Report every exit once --report is known, usage errors included.
	rep := &runReport{ChildExitCode: -1}
	defer func() {
		if o.report != "" && !rep.written {
			rep.ExitCode = code
			writeReport(o.report, rep, time.Time{})
		}
	}()
	fs, props := runFlags(&o)
	// Quiet by default, as timeout(1): hooksupd run says what went wrong
	// in its own words; the backend's warnings (no cgroups for a run that
	// asked for no limits, say) come with -v or --log-level.
	logLevel := fs.String("log-level", "error", "`LEVEL` of the supervisor's diagnostics on stderr: debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit (timeout --version)")
	sbFlags := addRunSandboxFlags(fs)
	pos, ok, c := fs.parse(expandShortFlags(fs.FlagSet, args), exitRunOwnError, false)
	if !ok {
		return c, 0
	}
	if *showVersion {
		writeVersion(os.Stdout)
		return 0, 0
	}
	if props.err != nil {
		errorf("run: %v", props.err)
		rep.Error = props.err.Error()
		return exitRunOwnError, 0
	}
	var err error
	if o.sandbox, err = sbFlags.sandbox(); err != nil {
		errorf("run: %v", err)
		rep.Error = err.Error()
		return exitRunOwnError, 0
	}
	if len(pos) == 0 {
		errorf("run: missing CMD\nTry '%s run --help'.", progName)
		return exitRunOwnError, 0
	}
	switch o.backend {
	case "auto", "linux", "portable":
	default:
		errorf("run: --backend must be auto, linux or portable, not %q", o.backend)
		return exitRunOwnError, 0
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		errorf("run: %v", err)
		return exitRunOwnError, 0
	}
	if o.verbose && *logLevel == "error" {
		logger, _ = newLogger("info")
	}
	// Packages that log through slog's default logger (the cgroup
	// package's note about groups left by a killed instance) obey the
	// level too.
	slog.SetDefault(logger)
	if len(o.unenforceable) > 0 {
		msg := strings.Join(o.unenforceable, "; ")
		if !o.allowUncapped {
			errorf("run: %s (--allow-uncapped runs without them)", msg)
			rep.Error = msg
			return exitRunOwnError, 0
		}
		errorf("run: running without: %s", msg)
	}
	spec, c := buildRunSpec(pos, &o)
	if spec == nil {
		rep.Error = "cannot run " + pos[0]
		return c, 0
	}
	return superviseRun(spec, &o, logger, rep)
}

// durationValue is a flag holding a GNU timeout duration.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return formatDuration(*v.d)
}

func (v durationValue) Set(s string) error {
	d, err := units.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// signalValue is a flag holding a signal name or number.
type signalValue struct{ s *syscall.Signal }

func (v signalValue) String() string {
	if v.s == nil {
		return ""
	}
	return signalName(*v.s)
}

func (v signalValue) Set(s string) error {
	sig, err := parseSignal(s)
	if err != nil {
		return err
	}
	*v.s = sig
	return nil
}

// propFlag is a long flag that sets one property (--memory-max is
// MemoryMax=).
type propFlag struct {
	name string
	p    *propSet
}

func (f propFlag) String() string { return "" }
func (f propFlag) Set(v string) error {
	f.p.set(f.name, v)
	return nil // errors are kept and reported after parsing, with the name
}

// propSet applies -p NAME=VALUE (and the shorthand flags) to the options
// in command-line order; the first error is kept.
type propSet struct {
	o   *runOptions
	err error
}

func (p *propSet) set(name, value string) {
	if err := applyProperty(p.o, name, value); err != nil && p.err == nil {
		p.err = err
	}
}

// propertyArg is the -p flag.
type propertyArg struct{ p *propSet }

func (a propertyArg) String() string { return "" }
func (a propertyArg) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want NAME=VALUE, e.g. MemoryMax=512M", s)
	}
	a.p.set(name, value)
	return nil
}

// runFlags defines run's flags on a new flag set.
func runFlags(o *runOptions) (*flagSet, *propSet) {
	fs := newFlagSet(commands["run"])
	props := &propSet{o: o}
	fs.Var(propertyArg{props}, "property", "set a systemd resource property `NAME=VALUE` (systemd-run -p); repeatable, see Properties")
	fs.alias("p", "property")
	for _, s := range shorthandProps {
		fs.Var(propFlag{s.prop, props}, s.flag, s.usage)
	}
	fs.Var(durationValue{&o.timeout}, "timeout", "send the stop signal after `DUR` and exit 124 (timeout's DURATION; systemd RuntimeMaxSec=)")
	fs.Var(durationValue{&o.grace}, "kill-after", "SIGKILL the tree `DUR` after the stop signal if CMD still runs; 0 never (timeout -k)")
	fs.alias("k", "kill-after")
	fs.Var(durationValue{&o.grace}, "grace", "same as --kill-after `DUR`")
	fs.Var(signalValue{&o.signal}, "signal", "send `SIG` (name or number) to the tree on timeout (timeout -s)")
	fs.alias("s", "signal")
	fs.BoolVar(&o.preserve, "preserve-status", false, "on timeout exit with CMD's status, not 124 (timeout --preserve-status)")
	fs.BoolVar(&o.foreground, "foreground", false, "accepted for timeout(1) compatibility: CMD gets the terminal anyway (timeout --foreground)")
	fs.BoolVar(&o.verbose, "verbose", false, "say which signal is sent on timeout and print a summary at the end (timeout -v; systemd-run --wait)")
	fs.alias("v", "verbose")
	fs.StringVar(&o.dir, "working-directory", "", "run CMD in `DIR` (systemd-run -D; default: the current directory)")
	fs.alias("D", "working-directory")
	fs.Var(&o.env, "setenv", "add `K=V` to CMD's environment; repeatable (systemd-run -E)")
	fs.alias("E", "setenv")
	fs.Var(&o.env, "env", "same as --setenv `K=V`")
	fs.BoolVar(&o.inheritEnv, "inherit-env", true, "pass the caller's environment to CMD, as timeout(1) does; with =false CMD gets\nPATH, --setenv and --pass-env only, as a systemd unit would")
	fs.Var(&o.passEnv, "pass-env", "with --inherit-env=false, pass the caller's variable `NAME` when set; repeatable")
	fs.StringVar(&o.user, "user", "", "run as `USER[:GROUP]` (name or numeric id); needs privileges (systemd-run --uid/--gid)")
	fs.StringVar(&o.report, "report", "", "write a JSON report of the run to `FILE`")
	fs.StringVar(&o.backend, "backend", "auto", "supervisor backend `KIND`: auto, linux or portable")
	fs.BoolVar(&o.allowUncapped, "allow-uncapped", false, "run even when a property cannot be enforced here (warning on stderr)")
	return fs, props
}

// shortFlagsWithValue are the one-letter flags that take a value, for
// expandShortFlags.
const shortFlagsWithValue = "pksDE"

// expandShortFlags rewrites GNU-style clusters the flag package does not
// read: "-k5" becomes "-k 5" and "-vp" "-v -p". Only arguments before CMD
// are touched; a long flag written with one dash ("-timeout") stays.
func expandShortFlags(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if strings.HasPrefix(a, "--") || fs.Lookup(name) != nil || len(a) < 3 {
			out = append(out, a)
			if !hasValue && fs.Lookup(name) != nil && !isBoolFlag(fs, name) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		// A cluster: "-vk5", "-k5", "-vp".
		cl := a[1:]
		for j := 0; j < len(cl); j++ {
			c := string(cl[j])
			if strings.Contains(shortFlagsWithValue, c) {
				out = append(out, "-"+c)
				if j+1 < len(cl) {
					out = append(out, cl[j+1:])
				} else if i+1 < len(args) {
					i++
					out = append(out, args[i])
				}
				break
			}
			out = append(out, "-"+c) // a boolean (-v), or unknown: flag reports it
		}
	}
	return out
}

func isBoolFlag(fs *flag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// buildRunSpec resolves CMD and builds the spec. A nil spec comes with the
// exit status to return.
func buildRunSpec(argv []string, o *runOptions) (*supervisor.Spec, int) {
	path, code, err := lookCommand(argv[0])
	if err != nil {
		errorf("run: %v", err)
		return nil, code
	}
	env, err := runEnv(o.inheritEnv, o.env, o.passEnv)
	if err != nil {
		errorf("run: %v", err)
		return nil, exitRunOwnError
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			errorf("run: current directory: %v", err)
			return nil, exitRunOwnError
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		errorf("run: working directory %s: %v", dir, err)
		return nil, exitRunOwnError
	}
	if dir, err = filepath.Abs(dir); err != nil {
		errorf("run: working directory: %v", err)
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

// lookCommand resolves name as execvp(3) does, which is what timeout(1)
// and the shells report: a name with a slash is used as is, anything else
// is searched in the caller's PATH, where a match that is a directory or
// not executable is remembered and the search goes on; with no executable
// match the result is 126 (permission denied) if there was such a match,
// else 127 (not found). The result is absolute, because the spec's working
// directory need not be the one the name is relative to.
func lookCommand(name string) (string, int, error) {
	if name == "" {
		return "", exitRunNotFound, errors.New("'': command not found")
	}
	if strings.Contains(name, "/") {
		code, err := runCheckExec(name)
		if err != nil {
			return "", code, err
		}
		abs, err := filepath.Abs(name)
		if err != nil {
			return "", exitRunOwnError, err
		}
		return abs, 0, nil
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin" // execvp's default, roughly
	}
	var denied error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "." // an empty PATH entry is the current directory
		}
		p := d + "/" + name // not Join: "dir/." must stay a directory
		code, err := runCheckExec(p)
		if err == nil {
			abs, err := filepath.Abs(p)
			if err != nil {
				return "", exitRunOwnError, err
			}
			return abs, 0, nil
		}
		if code == exitRunNotExec && denied == nil {
			denied = fmt.Errorf("%s: permission denied (%v)", name, err)
			if p == d+"/." || p == d+"/.." {
				denied = fmt.Errorf("%s: permission denied", name)
			}
		}
	}
	if denied != nil {
		return "", exitRunNotExec, denied
	}
	return "", exitRunNotFound, fmt.Errorf("%s: command not found", name)
}

// runCheckExec says whether p can be executed: 127 when it does not
// exist, 126 when it is a directory or lacks execute permission.
func runCheckExec(p string) (int, error) {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return exitRunNotFound, fmt.Errorf("%s: no such file or directory", p)
		}
		return exitRunNotExec, fmt.Errorf("%s: %v", p, err)
	}
	if fi.IsDir() {
		return exitRunNotExec, fmt.Errorf("%s: is a directory", p)
	}
	if !executable(p, fi) {
		return exitRunNotExec, fmt.Errorf("%s: not executable", p)
	}
	return 0, nil
}

// runEnv builds CMD's environment. With inherit, the caller's whole
// environment, else only the caller's PATH; then the --setenv pairs, then
// the --pass-env variables that are set. A later setting of a name
// replaces an earlier one.
func runEnv(inherit bool, set, pass []string) ([]string, error) {
	var order []string
	vals := map[string]string{}
	put := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	if inherit {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
				put(k, v)
			}
		}
	} else if p, ok := os.LookupEnv("PATH"); ok {
		put("PATH", p)
	}
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--setenv %q: want K=V", kv)
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
