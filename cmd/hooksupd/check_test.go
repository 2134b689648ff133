// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestCheckReport(t *testing.T) {
	dir := t.TempDir()
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	cfg := writeConfig(t, dir,
		hookBlock("observe", "pre_store", allow, 1)+
			hookBlock("guard", "pre_store", allow, 1000, `fail_mode = "closed"`)+
			hookBlock("enrich", "pre_store", allow, 500, "allow_uncapped = true", "[hook.limits]\nmemory_max = \"64M\"\ncpu_max = \"20%\"\npids_max = 16")+
			hookBlock("scoped", "pre_delete", allow, 0)+
			strings.Replace(hookBlock("off", "pre_link", allow, 0), "enabled = true", "enabled = false", 1))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	out := r.stdout
	// Chain order: priority descending.
	i1, i2, i3 := strings.Index(out, "1. guard"), strings.Index(out, "2. enrich"), strings.Index(out, "3. observe")
	if i1 < 0 || i2 < i1 || i3 < i2 {
		t.Errorf("pre_store chain not listed in priority order:\n%s", out)
	}
	for _, want := range []string{
		"config " + cfg + ": OK, 5 hooks (4 enabled)",
		"event pre_store (write, decision, pre, deadline 5s)",
		"event pre_delete",
		"fail_mode closed",
		`namespace "*"`,
		"memory_max=64M cpu_max=20% pids_max=16",
		"disabled: off (pre_link)",
		"strict_modes    OFF",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The backend and what it guarantees (the mechanisms: --verbose).
	for _, re := range []string{`(?m)^backend (linux|portable) \(cgroup mode (v1|v2|hybrid|none)\)$`,
		`(?m)^  limits +\S`, `(?m)^  timeouts +\S`, `(?m)^  orphans +\S`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("report does not match %s:\n%s", re, out)
		}
	}
	if !strings.Contains(out, "limits enforced") && !strings.Contains(out, "limits NOT enforced") {
		t.Errorf("no enforcement line for the capped hook:\n%s", out)
	}
}

// TestCheckPortableBackend: with the portable backend a capped hook with
// allow_uncapped is reported as running uncapped; without allow_uncapped
// the config is refused (exit 2), as fire and serve refuse it. A missing
// command is a warning that --strict turns into exit 1.
func TestCheckPortableBackend(t *testing.T) {
	dir := t.TempDir()
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	base := "[supervisor]\nbackend = \"portable\"\n\n"
	limits := "[hook.limits]\nmemory_max = \"64M\""
	cfg := writeConfig(t, dir, base+hookBlock("capped", "pre_store", allow, 0, "allow_uncapped = true", limits))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "backend portable") ||
		!strings.Contains(r.stdout, "limits NOT enforced, runs uncapped (allow_uncapped)") {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}

	refusedDir := mkdir(t, filepath.Join(dir, "refused"))
	cfg = writeConfig(t, refusedDir, base+hookBlock("capped", "pre_store", allow, 0, limits))
	r = hooksupd(t, "", "check", "-c", cfg)
	if r.code != 2 || !regexp.MustCompile(`hooks\.toml:\d+:\d+: hook "capped": limits\.memory_max: the portable backend cannot enforce`).MatchString(r.stderr) {
		t.Errorf("unenforceable limits: exit %d, stderr %q", r.code, r.stderr)
	}

	warnDir := mkdir(t, filepath.Join(dir, "warn"))
	cfg = writeConfig(t, warnDir, base+hookBlock("missing", "pre_store", filepath.Join(dir, "no-such-hook"), 0))
	r = hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 || strings.Count(r.stdout, "WARN") != 1 || !strings.Contains(r.stdout, "no-such-hook") {
		t.Errorf("warnings: exit %d:\n%s", r.code, r.stdout)
	}
	if r := hooksupd(t, "", "check", "--strict", "-c", cfg); r.code != 1 {
		t.Errorf("--strict with warnings: exit %d, want 1", r.code)
	}
}

func TestCheckEnforcementLines(t *testing.T) {
	dir := t.TempDir()
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	cfg := writeConfig(t, dir, "[enforce]\nmode = \"enforce\"\nrequired_events = [\"pre_store\", \"pre_delete\"]\n\n"+
		hookBlock("h", "pre_store", allow, 0))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "enforcement (mode enforce)") ||
		!strings.Contains(r.stdout, "pre_store: required, enabled hook present (OK)") ||
		!strings.Contains(r.stdout, "pre_delete: REQUIRED but NO enabled hook") {
		t.Errorf("enforcement lines missing:\n%s", r.stdout)
	}
}

// TestCheckBadConfig: every error, each with file:line:col, exit 2.
func TestCheckBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, hookBlock("a", "pre_stor", "/bin/true", 0)+
		strings.Replace(hookBlock("b", "pre_store", "relative/path", 0), "timeout_ms = 10000", "timeout_ms = 45000", 1))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	lines := regexp.MustCompile(`(?m)^hooksupd: check: hooks\.toml:\d+:\d+: hook "[ab]": .*$`).FindAllString(r.stderr, -1)
	if len(lines) != 3 {
		t.Errorf("want 3 positioned errors (event, command, timeout_ms), got %d:\n%s", len(lines), r.stderr)
	}
	for _, want := range []string{"pre_stor", "relative/path", "45000"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("a bad config printed a report: %s", r.stdout)
	}
}

// TestCheckWarnsAboutRoot: a hook written with user = "root" is a warning
// (its sandbox cannot keep it from other root hooks); --strict fails on it.
func TestCheckWarnsAboutRoot(t *testing.T) {
	dir := t.TempDir()
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	cfg := writeConfig(t, dir, hookBlock("rooted", "pre_store", allow, 1, `user = "root"`))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, `WARN runs as root (user = "root")`) {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	if r := hooksupd(t, "", "check", "--strict", "-c", cfg); r.code == 0 {
		t.Errorf("check --strict passed a root hook")
	}
}

// TestCheckWarnsUnreachableCommand: as root, a hook that names no user
// runs as a dynamic user; check warns when that uid cannot enter the
// command's directory, and not once the directory is readable by others.
func TestCheckWarnsUnreachableCommand(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir() // 0700, root's
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	cfg := writeConfig(t, dir, hookBlock("dyn", "pre_store", allow, 1))
	r := hooksupd(t, "", "check", "-c", cfg)
	if !strings.Contains(r.stdout, "user dynamic, uid ") || !strings.Contains(r.stdout, "cannot be entered by uid") {
		t.Errorf("exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if r := hooksupd(t, "", "check", "-c", cfg); strings.Contains(r.stdout, "cannot be") {
		t.Errorf("readable command still warned about:\n%s", r.stdout)
	}
}

// TestCheckRefusesWhatPolicyRefuses: a hook the spawn gate would refuse on
// every fire (here an allow_commands miss and a "**" deny) fails check
// with the hook, the field and the rule, exit 2 and no "OK" line, as
// serve refuses to load it.
func TestCheckRefusesWhatPolicyRefuses(t *testing.T) {
	dir := t.TempDir()
	allow := writeExec(t, dir, "allow.sh", hookAllow)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	deep := writeExec(t, filepath.Join(dir, "sub"), "deep.sh", hookAllow)
	cfg := filepath.Join(dir, "hooks.toml")
	body := "[policy]\nstrict_modes = false\nallow_commands = [\"" + dir + "/*\", \"" + dir + "/sub/*\"]\n" +
		"deny_commands = [\"" + dir + "/**/deep*\"]\n\n" +
		hookBlock("fine", "pre_store", allow, 2) + hookBlock("deep", "pre_store", deep, 1) +
		hookBlock("outside", "pre_store", "/bin/true", 3)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 2 || strings.Contains(r.stdout, "OK") {
		t.Fatalf("exit %d, want 2 and no OK; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`hooks\.toml:\d+:\d+: hook "deep": command: refused by \[policy\]: \S+/sub/deep\.sh matches deny_commands`),
		regexp.MustCompile(`hooks\.toml:\d+:\d+: hook "outside": command: refused by \[policy\]: /bin/true is not in allow_commands`),
	} {
		if !want.MatchString(r.stderr) {
			t.Errorf("stderr lacks %s:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, `"fine"`) {
		t.Errorf("the allowed hook was refused:\n%s", r.stderr)
	}
}

// check says what the backend guarantees in plain words; the kernel
// mechanisms appear only under --verbose.
func TestCheckPlainWordsAndVerbose(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, hookBlock("a", "pre_store", writeExec(t, dir, "allow.sh", hookAllow), 0))
	r := hooksupd(t, "", "check", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("check: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"  limits ", "  timeouts ", "  orphans ", "  sandbox ", "(--verbose shows the kernel mechanisms)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, jargon := range []string{"clone3", "CLONE_INTO_CGROUP", "pidfd", "epoll", "note: ", "kernel mechanisms\n"} {
		if strings.Contains(r.stdout, jargon) {
			t.Errorf("check without --verbose says %q:\n%s", jargon, r.stdout)
		}
	}
	r = hooksupd(t, "", "check", "--verbose", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "\nkernel mechanisms\n") || !strings.Contains(r.stdout, "  spawn ") ||
		!strings.Contains(r.stdout, "  kill ") || !strings.Contains(r.stdout, "  limits ") {
		t.Errorf("check --verbose: exit %d:\n%s", r.code, r.stdout)
	}
}
