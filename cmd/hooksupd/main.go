// SPDX-License-Identifier: Apache-2.0

// Command hooksupd runs hooks — programs fired on a host application's
// events that answer allow, modify, deny or ask_user — as resource-capped
// sandboxes, and runs any command the same way with `hooksupd run`.
//
// Every subcommand lives in its own file and adds itself to the command
// table from an init function with register; main only dispatches.
//
// Exit status conventions shared by the subcommands: 0 success (allow or
// modify for fire), 1 internal error, 2 usage or configuration error, 3
// deny, 4 ask_user. `run` follows timeout(1) instead: the command's own
// status, 124 timeout, 125 its own errors, 126 not executable, 127 not
// found, 128+N killed by signal N.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hooksupd/hooksupd/config"
)

// progName prefixes every diagnostic, so a message in a mixed log (a CI
// job, a systemd journal) says which program wrote it.
const progName = "hooksupd"

// Exit statuses shared by the hook-facing subcommands.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitDeny     = 3
	exitAskUser  = 4
)

// defaultConfigPath is where the configuration lives when neither -c nor
// $HOOKSUPD_CONFIG says otherwise.
const defaultConfigPath = "/etc/hooksupd/hooks.toml"

// command is one subcommand. Files of this package add theirs with
// register from init, so `serve` and `status` plug in beside the one-shot
// commands without main.go knowing them:
//
//	func init() {
//		register(&command{Name: "status", Synopsis: "status [--json]",
//			Summary: "show the daemon's hooks and counters", Run: runStatus})
//	}
//
//	func runStatus(args []string) int {
//		fs := newFlagSet(commands["status"])
//		asJSON := fs.Bool("json", false, "print JSON")
//		pos, ok, code := fs.parse(args, exitUsage, true)
//		if !ok {
//			return code
//		}
//		...
//	}
//
// Shared helpers: configPath and loadConfig (the -c / $HOOKSUPD_CONFIG /
// default rule and every config error printed), newLogger, errorf.
type command struct {
	// Name is the word after "hooksupd".
	Name string
	// Synopsis is the usage line without the program name, e.g.
	// "fire [-c FILE] EVENT".
	Synopsis string
	// Summary is one line for the command list of `hooksupd help`.
	Summary string
	// Help is the text printed after the synopsis by `--help`, before the
	// flag list.
	Help string
	// Run executes the command with the arguments after its name and
	// returns the process exit status. `--help` must print the usage to
	// stdout and return 0 (a flagSet's parse does this). Run must define
	// its flags with newFlagSet and call parse before anything else:
	// `hooksupd completion` learns the flags by running it with parse
	// returning at once (see describing in cli.go).
	Run func(args []string) int
	// Args says what the positional arguments are, for the shell
	// completions: files (the zero value), none, Words, or a command
	// line.
	Args argKind
	// Words lists the positional words when Args is argWords.
	Words func() []string
}

// commands is the command table, filled by register.
var commands = map[string]*command{}

// commandOrder is the order of `hooksupd help`; commands not listed here
// follow alphabetically.
var commandOrder = []string{"serve", "fire", "check", "status", "ping", "reload", "run", "version", "help"}

// register adds c to the command table. It panics on a duplicate name,
// which can only be a programming error.
func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("hooksupd: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

// dispatch runs the subcommand named by args[0] and returns the exit
// status.
func dispatch(args []string) int {
	if len(args) == 0 {
		printCommandList(os.Stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version", "-V":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		unknownCommand("", name)
		return exitUsage
	}
	return c.Run(args[1:])
}

// sortedCommands returns the registered commands in help order.
func sortedCommands() []*command {
	seen := map[string]bool{}
	var out []*command
	for _, n := range commandOrder {
		if c, ok := commands[n]; ok {
			out = append(out, c)
			seen[n] = true
		}
	}
	var rest []string
	for n := range commands {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		out = append(out, commands[n])
	}
	return out
}

func printCommandList(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s COMMAND [ARGS...]\n\n", progName)
	fmt.Fprintf(w, "hooksupd fires hooks (programs answering allow, modify, deny or ask_user on a\n")
	fmt.Fprintf(w, "host application's events) as resource-capped sandboxes.\n\nCommands:\n")
	width := 0
	for _, c := range sortedCommands() {
		width = max(width, len(c.Name))
	}
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s help COMMAND' or '%s COMMAND --help' for a command's options.\n", progName, progName)
	fmt.Fprintf(w, "The configuration is read from -c FILE, else $HOOKSUPD_CONFIG, else %s.\n", defaultConfigPath)
}

func init() {
	register(&command{
		Name:     "help",
		Synopsis: "help [COMMAND]",
		Summary:  "show the command list or one command's usage",
		Run:      runHelp,
		Args:     argWords,
		Words:    commandNames,
	})
}

func runHelp(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		printCommandList(os.Stdout)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok || c.Name == "help" {
		if !ok {
			unknownCommand("help: ", args[0])
			return exitUsage
		}
		printCommandList(os.Stdout)
		return exitOK
	}
	return c.Run([]string{"--help"})
}

// errorf prints "hooksupd: <message>" to stderr.
func errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, progName+": "+format+"\n", args...)
}

// configPath resolves the configuration file: the -c flag, else
// $HOOKSUPD_CONFIG, else the default.
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("HOOKSUPD_CONFIG"); env != "" {
		return env
	}
	return defaultConfigPath
}

// loadConfig loads the configuration and, on failure, prints every error
// of the file (one "file:line:col: ..." line each) prefixed with the
// command name. ok is false when the caller must exit with exitUsage.
func loadConfig(cmd, path string) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, true
	}
	printConfigError(cmd, err)
	return nil, false
}

// printConfigError prints a configuration error. A ConfigError carries
// every problem of the file; printing them all lets the user fix the file
// in one pass instead of one error per run.
func printConfigError(cmd string, err error) {
	var ce *config.ConfigError
	if errors.As(err, &ce) && len(ce.Errors) > 0 {
		for _, fe := range ce.Errors {
			errorf("%s: %s", cmd, fe.Error())
		}
		errorf("%s: %d error(s) in the configuration", cmd, len(ce.Errors))
		return
	}
	errorf("%s: %v", cmd, err)
}

// newLogger returns a text logger on stderr at the given level name
// (debug, info, warn, error).
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// stringList is a repeatable string flag (-n a -n b).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// formatDuration prints a duration the short way a config author writes it
// ("500ms", "2s", "1m30s").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

// flagSet is a flag.FlagSet with GNU-style usage output: `-c, --config
// FILE` for a flag with a short alias, `--trace` for a long one, and
// errors reported as "hooksupd CMD: ..." with a pointer to --help.
type flagSet struct {
	*flag.FlagSet
	cmd     *command
	aliases map[string]string // short name -> long name
}

// newFlagSet returns an empty flag set for c. The standard flag package
// accepts both -name and --name, so every long flag works GNU-style.
func newFlagSet(c *command) *flagSet {
	fs := flag.NewFlagSet(progName+" "+c.Name, flag.ContinueOnError)
	// Errors and usage are printed by parse, to the right stream: usage
	// asked for with --help goes to stdout, errors to stderr.
	fs.SetOutput(io.Discard)
	return &flagSet{FlagSet: fs, cmd: c, aliases: map[string]string{}}
}

// alias makes short another name for the already defined long flag.
func (fs *flagSet) alias(short, long string) {
	f := fs.Lookup(long)
	if f == nil {
		panic("hooksupd: alias for undefined flag " + long)
	}
	fs.Var(f.Value, short, "")
	fs.aliases[short] = long
}

// parse parses args. It returns ok=false and the status to exit with when
// the command must stop: 0 after --help, usageExit after a bad flag.
// Flags are accepted after positional arguments too unless interspersed
// is false (run, where everything after CMD belongs to CMD); "--" ends
// flag parsing either way.
func (fs *flagSet) parse(args []string, usageExit int, interspersed bool) (positional []string, ok bool, code int) {
	if describing != nil {
		describing(fs)
		return nil, false, exitOK
	}
	for {
		if msg := fs.unknownOption(args); msg != "" {
			usageError(fs.cmd, msg)
			return nil, false, usageExit
		}
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.printUsage(os.Stdout)
			return nil, false, exitOK
		}
		if err != nil {
			usageError(fs.cmd, gnuError(err))
			return nil, false, usageExit
		}
		rest := fs.Args()
		if !interspersed || len(rest) == 0 {
			return append(positional, rest...), true, 0
		}
		// flag stops at the first non-flag; keep it and go on parsing,
		// unless the stop was an explicit "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), true, 0
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printUsage writes the synopsis, the help text and the flag list to w.
func (fs *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s %s\n", progName, fs.cmd.Synopsis)
	if fs.cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(fs.cmd.Help, "\n"))
	}
	shortOf := map[string]string{}
	for s, l := range fs.aliases {
		shortOf[l] = s
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		if _, isAlias := fs.aliases[f.Name]; isAlias {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		var b strings.Builder
		b.WriteString("  ")
		if s, ok := shortOf[f.Name]; ok {
			b.WriteString("-" + s + ", ")
		}
		if len(f.Name) == 1 {
			b.WriteString("-" + f.Name)
		} else {
			b.WriteString("--" + f.Name)
		}
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n        " + strings.ReplaceAll(usage, "\n", "\n        "))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" && f.DefValue != "0s" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		lines = append(lines, b.String())
	})
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nOptions:\n%s\n", strings.Join(lines, "\n"))
	}
}
