// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestSuggest(t *testing.T) {
	flags := []string{"config", "trace", "timeout", "namespace", "log-level", "help"}
	for _, c := range []struct{ in, want string }{
		{"tracee", "trace"}, // one extra letter
		{"trcae", "trace"},  // two neighbours swapped
		{"trac", "trace"},   // a unique prefix
		{"confg", "config"}, // one letter missing
		{"loglevel", "log-level"},
		{"t", ""},           // too short to mean anything
		{"frobnicate", ""},  // nothing near
		{"time", "timeout"}, // prefix of one only
		{"name", "namespace"},
	} {
		if got := suggest(c.in, flags); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A prefix of two candidates is not a suggestion by prefix; the edit
	// distance decides.
	if got := suggest("ti", []string{"timeout", "tier"}); got != "" {
		t.Errorf("suggest(ti) among two prefixed words = %q, want none", got)
	}
	if got := suggest("fier", commandNames()); got != "fire" {
		t.Errorf("suggest(fier) = %q, want fire", got)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"trace", "trace", 0},
		{"tracee", "trace", 1}, {"trcae", "trace", 1}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestUsageErrors runs the binary with mistyped flags and commands: the
// GNU wording, the suggestion, the hint, and exit 2 (125 for run), with
// nothing on stdout.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fire", "--tracee", "pre_store"}, 2, "hooksupd: fire: unrecognized option '--tracee'; did you mean '--trace'?\nTry 'hooksupd fire --help' for more information.\n"},
		{[]string{"fire", "pre_store", "--tracee"}, 2, "unrecognized option '--tracee'; did you mean '--trace'?"}, // after the event too
		{[]string{"fire", "-tracee", "x"}, 2, "unrecognized option '-tracee'; did you mean '--trace'?"},
		{[]string{"fire", "--tracee=1", "x"}, 2, "unrecognized option '--tracee'; did you mean '--trace'?"},
		{[]string{"fire", "-x", "pre_store"}, 2, "hooksupd: fire: invalid option -- 'x'\n"},
		{[]string{"fire", "--zzzzzz", "pre_store"}, 2, "hooksupd: fire: unrecognized option '--zzzzzz'\nTry"},
		{[]string{"fire", "--timeout"}, 2, "option '--timeout' requires an argument"},
		{[]string{"fire", "--trace=maybe", "x"}, 2, "option '--trace' takes true or false, not 'maybe'"},
		{[]string{"check", "--confg", "x"}, 2, "hooksupd: check: unrecognized option '--confg'; did you mean '--config'?"},
		{[]string{"serve", "--log-levle", "debug"}, 2, "did you mean '--log-level'?"},
		{[]string{"status", "--jsn"}, 2, "did you mean '--json'?"},
		{[]string{"version", "--verbose"}, 2, "hooksupd: version: unrecognized option '--verbose'"},
		{[]string{"run", "--memry-max", "1M", "--", "true"}, 125, "hooksupd: run: unrecognized option '--memry-max'; did you mean '--memory-max'?\nTry 'hooksupd run --help' for more information.\n"},
		{[]string{"run", "-vx", "true"}, 125, "hooksupd: run: invalid option -- 'x'"},
		{[]string{"run", "--timeout"}, 125, "option '--timeout' requires an argument"},
		{[]string{"fier"}, 2, "hooksupd: unknown command 'fier'; did you mean 'fire'?\nRun 'hooksupd help' for the list of commands.\n"},
		{[]string{"sttaus"}, 2, "did you mean 'status'?"},
		{[]string{"frobnicate"}, 2, "hooksupd: unknown command 'frobnicate'\n"},
		{[]string{"--verison"}, 2, "hooksupd: unrecognized option '--verison'; did you mean '--version'?"},
		{[]string{"help", "chek"}, 2, "hooksupd: help: unknown command 'chek'; did you mean 'check'?"},
		{[]string{"completion", "bsh"}, 2, "unknown shell 'bsh'; did you mean 'bash'?"},
		{[]string{"completion"}, 2, "want one shell"},
	} {
		r := hooksupd(t, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("hooksupd %s: exit %d, stdout %q, stderr %q; want exit %d and stderr containing %q",
				strings.Join(c.args, " "), r.code, r.stdout, r.stderr, c.code, c.want)
		}
	}
}

// TestDescribeHasNoSideEffects: completion learns each command's flags
// by running it with parse returning at once. Nothing may be printed
// and every command but help and completion must reach parse.
func TestDescribeHasNoSideEffects(t *testing.T) {
	r := hooksupd(t, "", "completion", "bash")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("completion bash: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "# bash completion for hooksupd") {
		t.Errorf("completion bash output begins with something else:\n%.300s", r.stdout)
	}
	for _, c := range sortedCommands() {
		fs := commandFlags(c)
		if c.Name == "help" || c.Name == "completion" {
			continue
		}
		if fs == nil {
			t.Errorf("%s: Run did not reach parse without arguments", c.Name)
		}
	}
}

// TestCompletionFlagsMatchHelp: the completion scripts offer exactly the
// flags each command's --help lists, because both come from the same
// flag set.
func TestCompletionFlagsMatchHelp(t *testing.T) {
	for _, c := range completionSpec() {
		if c.Name == "help" || c.Name == "completion" {
			continue
		}
		r := hooksupd(t, "", c.Name, "--help")
		var help []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if m := optionLine.FindStringSubmatch(l); m != nil {
				help = append(help, "--"+m[2])
				if m[1] != "" {
					help = append(help, "-"+m[1])
				}
			}
		}
		got := optionWords(c.Options)
		slices.Sort(help)
		slices.Sort(got)
		if !slices.Equal(help, got) {
			t.Errorf("%s: completion offers %v, --help lists %v", c.Name, got, help)
		}
	}
}

// TestCompletionChoicesInUsage: a closed value set offered by the
// completions is one the flag's usage text names, word by word, so a
// value the command stops accepting cannot stay offered.
func TestCompletionChoicesInUsage(t *testing.T) {
	for _, c := range completionSpec() {
		for _, o := range c.Options {
			for _, v := range o.Choices {
				if o.Long == "signal" || o.Long == "system-call-error-number" || o.Long == "protect-home" || o.Long == "protect-system" {
					continue // names and errno values the usage summarises
				}
				if !regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(o.full) {
					t.Errorf("%s --%s: completion offers %q, which its usage %q does not name", c.Name, o.Long, v, o.full)
				}
			}
		}
	}
}

// completionScript writes `hooksupd completion SHELL` to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	r := hooksupd(t, "", "completion", shell)
	if r.code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, r.code, r.stderr)
	}
	p := filepath.Join(t.TempDir(), "hooksupd."+shell)
	if err := os.WriteFile(p, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func needShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.SkipOrFail(t, "%s not installed (apt: %s): %v", name, name, err)
	}
	return p
}

// TestBashCompletion sources the bash script and completes as bash would
// on TAB, word by word.
func TestBashCompletion(t *testing.T) {
	bash := needShell(t, "bash")
	script := completionScript(t, "bash")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooks.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string // the words before the cursor, then the word at it
		want []string
		not  []string
	}{
		{"hooksupd fi", []string{"fire"}, []string{"check"}},
		{"hooksupd ", []string{"serve", "fire", "check", "status", "run", "version", "help", "completion"}, nil},
		{"hooksupd --ver", []string{"--version"}, nil},
		{"hooksupd fire --tr", []string{"--trace"}, nil},
		{"hooksupd fire -c hooks.t", []string{"hooks.toml"}, nil},
		{"hooksupd fire --log-level ", []string{"debug", "info", "warn", "error"}, nil},
		{"hooksupd fire --trace pre_st", []string{"pre_store"}, nil},
		{"hooksupd fire -n team/a pre_st", []string{"pre_store"}, nil},
		{"hooksupd serve --log-format ", []string{"text", "json"}, nil},
		{"hooksupd run --mem", []string{"--memory-max", "--memory-high"}, nil},
		{"hooksupd run --backend ", []string{"auto", "linux", "portable"}, nil},
		{"hooksupd run --timeout 5s -- ech", []string{"echo"}, nil},
		{"hooksupd run -k 5 ech", []string{"echo"}, nil},
		{"hooksupd run -- echo --mem", nil, []string{"--memory-max"}}, // CMD's own arguments
		{"hooksupd completion ", []string{"bash", "zsh", "fish"}, nil},
		{"hooksupd help fi", []string{"fire"}, nil},
	} {
		words := strings.Split(c.line, " ")
		prog := "source " + shq(script) + "\nCOMP_WORDS=("
		for _, w := range words {
			prog += shq(w) + " "
		}
		prog += ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
			"\n_hooksupd\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: bash: %v\n%s", c.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q<TAB>: %v lacks %q", c.line, got, w)
			}
		}
		for _, w := range c.not {
			if slices.Contains(got, w) {
				t.Errorf("%q<TAB>: %v offers %q", c.line, got, w)
			}
		}
	}
}

// TestFishCompletion loads the fish script and asks fish what it would
// complete (complete -C).
func TestFishCompletion(t *testing.T) {
	fish := needShell(t, "fish")
	script := completionScript(t, "fish")
	// fish completes the command by name: put the binary on PATH as
	// hooksupd.
	bin := t.TempDir()
	if err := os.Symlink(binPath, filepath.Join(bin, "hooksupd")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(fish, "--no-config", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("fish -n: %v\n%s", err, out)
	}
	for _, c := range []struct {
		line string
		want string
	}{
		{"hooksupd fi", "fire"},
		{"hooksupd fire --tr", "--trace"},
		{"hooksupd serve --log-level ", "debug"},
		{"hooksupd fire pre_st", "pre_store"},
		{"hooksupd run --private-", "--private-network"},
		{"hooksupd completion ", "zsh"},
	} {
		cmd := exec.Command(fish, "--no-config", "-c", "source "+shq(script)+"; complete -C "+shq(c.line))
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: fish: %v\n%s", c.line, err, out)
			continue
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
		if !slices.Contains(got, c.want) {
			t.Errorf("%q<TAB>: fish offers %q, not %q", c.line, got, c.want)
		}
	}
}

// TestZshCompletion: the zsh script parses and, loaded by compinit from
// a directory on fpath, defines the completion function for hooksupd.
func TestZshCompletion(t *testing.T) {
	zsh := needShell(t, "zsh")
	script := completionScript(t, "zsh")
	if out, err := exec.Command(zsh, "-f", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := os.Rename(script, filepath.Join(dir, "_hooksupd")); err != nil {
		t.Fatal(err)
	}
	prog := "fpath=(" + shq(dir) + " $fpath); autoload -Uz compinit; compinit -u -d " + shq(filepath.Join(dir, "zcompdump")) +
		"; print -r -- ${_comps[hooksupd]}"
	out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_hooksupd" {
		t.Errorf("compinit does not bind _hooksupd to hooksupd: %v, output %q", err, out)
	}
}

// TestReadmeCommandLine keeps README's "Command line" section in step
// with --help: its synopsis block has exactly each command's usage
// lines, and the section names every flag of every command.
func TestReadmeCommandLine(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\n## Command line\n")
	if i < 0 {
		t.Fatal(`README.md has no "## Command line" section`)
	}
	section := readme[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	block := regexp.MustCompile("(?s)```\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("the Command line section has no code block")
	}
	var readmeSyn []string
	for _, l := range strings.Split(block[1], "\n") {
		switch {
		case strings.HasPrefix(l, "hooksupd "):
			readmeSyn = append(readmeSyn, l)
		case strings.TrimSpace(l) != "" && len(readmeSyn) > 0:
			readmeSyn[len(readmeSyn)-1] += " " + l
		}
	}
	for k := range readmeSyn {
		readmeSyn[k] = strings.Join(strings.Fields(readmeSyn[k]), " ")
	}
	var want []string
	for _, c := range sortedCommands() {
		if c.Name == "help" {
			continue // its usage is the command list; the prose names it
		}
		r := hooksupd(t, "", c.Name, "--help")
		usage, _, _ := strings.Cut(r.stdout, "\n\n")
		syn := strings.Join(strings.Fields(strings.TrimPrefix(usage, "Usage: ")), " ")
		want = append(want, syn)
		if !slices.Contains(readmeSyn, syn) {
			t.Errorf("README's Command line block lacks (or has another form of) the synopsis of %s --help:\n  %s", c.Name, syn)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			m := optionLine.FindStringSubmatch(l)
			if m != nil && !regexp.MustCompile(`--`+regexp.QuoteMeta(m[2])+`\b`).MatchString(section) {
				t.Errorf("README's Command line section does not mention %s --%s", c.Name, m[2])
			}
		}
	}
	for _, s := range readmeSyn {
		if !slices.Contains(want, s) {
			t.Errorf("README's Command line block has a synopsis no command prints: %s", s)
		}
	}
}

// shq single-quotes s for a POSIX shell (and fish, for the strings used
// here).
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
