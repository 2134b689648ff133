// SPDX-License-Identifier: Apache-2.0

package main

// The command-line conventions every subcommand shares: GNU-style
// diagnostics for a bad option or command, with a suggestion, and the
// introspection that `hooksupd completion` builds its scripts from.
//
// Why the standard flag package and not cobra/pflag or kong: the flags are
// already defined with it in every subcommand, `run` depends on its exact
// parsing (GNU timeout's "-k5" clusters, "--" and interspersing rules kept
// in step with timeout(1) by run_gnu_test.go), and what the libraries would
// add is small — a suggestion, the GNU wording of four errors, three
// completion scripts — and written here once against flag.FlagSet, so any
// subcommand that uses newFlagSet and parse gets it without a line of its
// own. A library would bring a second flag model (pflag's shorthand and
// NoOptDefVal rules differ from flag's), a dependency tree into a
// security-sensitive binary, and a rewrite of every subcommand.

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// argKind says what a command's positional arguments are, for
// completions.
type argKind int

const (
	argFiles   argKind = iota // file names (the default)
	argNone                   // the command takes none
	argWords                  // the words of command.Words
	argCommand                // a program, then its arguments (run)
)

// describing, when set, makes parse hand the flag set to it instead of
// parsing, and the command return: `completion` learns each command's
// flags by running it this way, without side effects, because every Run
// defines its flags and calls parse before doing anything.
var (
	describeMu sync.Mutex
	describing func(*flagSet)
)

// commandFlags returns c's flag set as its Run defines it, or nil for
// help and completion, whose arguments are words, not flags.
func commandFlags(c *command) *flagSet {
	if c.Name == "help" || c.Name == "completion" {
		return nil
	}
	describeMu.Lock()
	defer describeMu.Unlock()
	var got *flagSet
	describing = func(fs *flagSet) { got = fs }
	defer func() { describing = nil }()
	c.Run(nil)
	return got
}

// option is one flag as the user sees it.
type option struct {
	Long, Short string // names without dashes; Short may be empty
	Arg         string // the value's placeholder ("FILE"); empty for a boolean
	Usage       string // the first line of the usage text
	Repeatable  bool
	Choices     []string // the values it accepts, when it is a closed set
	Files       bool     // the value is a path
	full        string   // the whole usage text
}

// placeholderChoices are the closed value sets named by a placeholder.
var placeholderChoices = map[string][]string{
	"LEVEL":  {"debug", "info", "warn", "error"},
	"FORMAT": {"text", "json"},
	"KIND":   {"auto", "linux", "portable"},
}

// flagChoices are closed value sets of flags whose placeholder is shared
// with flags of other sets.
var flagChoices = map[string][]string{
	"protect-system":           {"true", "false", "full", "strict"},
	"protect-home":             {"true", "false", "read-only", "tmpfs"},
	"system-call-error-number": {"EPERM", "EACCES", "ENOSYS", "kill"},
	"signal":                   {"TERM", "INT", "HUP", "KILL", "QUIT", "USR1", "USR2"},
	"log-format":               {"auto", "text", "json", "journal"},
}

// options lists fs's flags in name order, aliases folded into their long
// flag.
func (fs *flagSet) options() []option {
	shortOf := map[string]string{}
	for s, l := range fs.aliases {
		shortOf[l] = s
	}
	var out []option
	fs.VisitAll(func(f *flag.Flag) {
		if _, isAlias := fs.aliases[f.Name]; isAlias {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		o := option{Long: f.Name, Short: shortOf[f.Name], Arg: arg, Usage: strings.SplitN(usage, "\n", 2)[0], full: usage}
		_, list := f.Value.(*stringList)
		o.Repeatable = list || strings.Contains(usage, "repeat")
		o.Choices = flagChoices[f.Name]
		if o.Choices == nil {
			o.Choices = placeholderChoices[arg]
		}
		o.Files = arg == "FILE" || arg == "PATH" || arg == "DIR"
		out = append(out, o)
	})
	return out
}

// dashed is the name as typed: --long, or -x for a one-letter flag.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownOption returns the GNU-style complaint about the first option of
// args, up to where flag would stop, that fs does not define, or "".
// It mirrors flag's scan (a non-flag or "--" ends it, a non-boolean flag
// without "=" takes the next argument) so that it names exactly the
// argument flag would reject, spelt as the user typed it.
func (fs *flagSet) unknownOption(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			return ""
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return "" // flag's "bad flag syntax"
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return "" // flag answers these with ErrHelp
			}
			typed, _, _ := strings.Cut(a, "=")
			if !strings.HasPrefix(a, "--") && len(name) == 1 {
				return fmt.Sprintf("invalid option -- '%s'", name)
			}
			msg := fmt.Sprintf("unrecognized option '%s'", typed)
			if s := suggest(name, fs.longNames()); s != "" {
				msg += fmt.Sprintf("; did you mean '--%s'?", s)
			}
			return msg
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // its value
		}
	}
	return ""
}

// longNames are the flag names worth suggesting: the long ones.
func (fs *flagSet) longNames() []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) > 1 {
			names = append(names, f.Name)
		}
	})
	return append(names, "help")
}

// gnuError rewrites the flag package's error texts in getopt_long's
// words, with the option spelt with the dashes the user would type.
func gnuError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("option '%s' requires an argument", dashed(name))
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		// invalid value "x" for flag -name: cause
		val, after, ok1 := strings.Cut(rest, " for flag -")
		name, cause, ok2 := strings.Cut(after, ": ")
		if ok1 && ok2 {
			return fmt.Sprintf("invalid argument %s for '%s': %s", gnuQuote(val), dashed(name), cause)
		}
	}
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		// invalid boolean value "x" for -name: cause
		val, after, ok1 := strings.Cut(rest, " for -")
		name, _, ok2 := strings.Cut(after, ": ")
		if ok1 && ok2 {
			return fmt.Sprintf("option '%s' takes true or false, not %s", dashed(name), gnuQuote(val))
		}
	}
	return msg
}

// gnuQuote turns flag's Go-quoted value into GNU's 'value'.
func gnuQuote(q string) string {
	if len(q) >= 2 && q[0] == '"' && q[len(q)-1] == '"' {
		return "'" + q[1:len(q)-1] + "'"
	}
	return q
}

// usageError prints a bad-option diagnostic of command c and the hint.
func usageError(c *command, msg string) {
	errorf("%s: %s\nTry '%s %s --help' for more information.", c.Name, msg, progName, c.Name)
}

// unknownCommand prints the complaint about a command name that is not
// registered, with the nearest one as a suggestion. where prefixes the
// message ("" at the top level, "help: " for `help NAME`).
func unknownCommand(where, name string) {
	if strings.HasPrefix(name, "-") {
		msg := fmt.Sprintf("unrecognized option '%s'", name)
		if s := suggest(strings.TrimLeft(name, "-"), []string{"help", "version"}); s != "" {
			msg += fmt.Sprintf("; did you mean '--%s'?", s)
		}
		errorf("%s%s\nTry '%s --help' for more information.", where, msg, progName)
		return
	}
	msg := fmt.Sprintf("unknown command '%s'", name)
	if s := suggest(name, commandNames()); s != "" {
		msg += fmt.Sprintf("; did you mean '%s'?", s)
	}
	errorf("%s%s\nRun '%s help' for the list of commands.", where, msg, progName)
}

// commandNames are the registered command names in help order.
func commandNames() []string {
	var names []string
	for _, c := range sortedCommands() {
		names = append(names, c.Name)
	}
	return names
}

// suggest returns the candidate nearest to s, or "" when none is near
// enough to be what the user meant: a unique candidate s is a prefix of
// ("--tra" for --trace), else the closest by edit distance (a swap of two
// neighbours counts one) within a third of the length, at least one.
func suggest(s string, candidates []string) string {
	var prefixed []string
	for _, c := range candidates {
		if len(s) >= 2 && strings.HasPrefix(c, s) && c != s {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	best, bestD := "", len(s)/3
	if bestD < 1 {
		bestD = 1
	}
	bestD++ // strictly below the bound plus one: within it
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted) // ties go to the alphabetically first, stably
	for _, c := range sorted {
		if d := editDistance(s, c); d < bestD && c != s {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
