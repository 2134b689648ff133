// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/internal/testutil"
)

// policyFile writes an executable file with mode into dir.
func policyFile(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantRefused(t *testing.T, err error, msg string) {
	t.Helper()
	if !errors.Is(err, ErrPolicyRefused) || err.Error() != msg {
		t.Errorf("got %v, want refusal %q", err, msg)
	}
}

func TestPolicyGlobs(t *testing.T) {
	dir := t.TempDir()
	cmd := policyFile(t, dir, "hook", 0o755)
	var p config.Policy
	wantRefused(t, checkPolicy(&p, "hook"), `policy: command "hook" is not an absolute path`)
	if err := checkPolicy(&p, cmd); err != nil {
		t.Errorf("empty policy: %v", err)
	}

	p = config.Policy{DenyCommands: []string{dir + "/*"}}
	wantRefused(t, checkPolicy(&p, cmd), "policy: "+cmd+" matches deny_commands \""+dir+"/*\"")
	p = config.Policy{DenyCommands: []string{"["}} // malformed: fail closed
	if err := checkPolicy(&p, cmd); !errors.Is(err, ErrPolicyRefused) {
		t.Errorf("malformed deny glob: %v", err)
	}

	p = config.Policy{AllowCommands: []string{"/usr/libexec/hooks/*", "["}}
	wantRefused(t, checkPolicy(&p, cmd), "policy: "+cmd+" is not in allow_commands")
	p = config.Policy{AllowCommands: []string{dir + "/h*"}}
	if err := checkPolicy(&p, cmd); err != nil {
		t.Errorf("allowed: %v", err)
	}

	// deny_commands also sees through symlinks.
	other := t.TempDir()
	link := filepath.Join(other, "innocent")
	if err := os.Symlink(cmd, link); err != nil {
		t.Fatal(err)
	}
	p = config.Policy{DenyCommands: []string{dir + "/*"}}
	if err := checkPolicy(&p, link); !errors.Is(err, ErrPolicyRefused) {
		t.Errorf("symlink into a denied directory: %v", err)
	}
}

func TestPolicyStrictModes(t *testing.T) {
	strict := &config.Policy{StrictModes: true}
	dir := t.TempDir() // 0700, ours, under the root-owned sticky /tmp
	good := policyFile(t, dir, "good", 0o755)
	if err := checkPolicy(strict, good); err != nil {
		t.Fatalf("0755 file in a 0700 dir: %v", err)
	}
	wantRefused(t, checkPolicy(strict, policyFile(t, dir, "ww", 0o757)), "policy: "+dir+"/ww is world-writable (strict_modes)")
	wantRefused(t, checkPolicy(strict, policyFile(t, dir, "gw", 0o775)), "policy: "+dir+"/gw is group-writable (strict_modes)")
	// A missing command is the spawn's error to report.
	if err := checkPolicy(strict, filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing command: %v", err)
	}

	// A writable directory anywhere above the command refuses it.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	inSub := policyFile(t, sub, "hook", 0o755)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, checkPolicy(strict, inSub), "policy: "+dir+" is world-writable (strict_modes)")
	// ...unless it is sticky and root-owned, like /tmp.
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
			t.Fatal(err)
		}
		if err := checkPolicy(strict, inSub); err != nil {
			t.Errorf("sticky root-owned parent: %v", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}

	// A symlink is judged by its target too.
	ww := filepath.Join(dir, "ww")
	link := filepath.Join(sub, "link")
	if err := os.Symlink(ww, link); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, checkPolicy(strict, link), "policy: "+ww+" is world-writable (strict_modes)")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if err := checkPolicy(strict, link); err != nil {
		t.Errorf("symlink to a good file: %v", err)
	}
	// Off, nothing of this is checked.
	if err := checkPolicy(&config.Policy{}, ww); err != nil {
		t.Errorf("strict_modes off: %v", err)
	}
}

func TestPolicyStrictModesOwner(t *testing.T) {
	testutil.RequireRoot(t)
	strict := &config.Policy{StrictModes: true}
	dir := t.TempDir()
	f := policyFile(t, dir, "theirs", 0o755)
	if err := os.Chown(f, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	err := checkPolicy(strict, f)
	wantRefused(t, err, "policy: "+f+" is owned by uid 12345, not root or uid 0 (strict_modes)")
	if err := os.Chown(f, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 12345, 0); err != nil {
		t.Fatal(err)
	}
	if err := checkPolicy(strict, f); err == nil || !strings.Contains(err.Error(), dir+" is owned by uid 12345") {
		t.Errorf("foreign parent dir: %v", err)
	}
}

// TestPolicyGateCache: the gate's cached verdict is re-evaluated at once
// when the command file changes (chmod moves its ctime) or the policy is
// replaced, and a directory change above it is noticed once the verdict
// ages out.
func TestPolicyGateCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := policyFile(t, dir, "h", 0o755)
	p := &config.Policy{StrictModes: true}
	var g policyGate
	if err := g.check(p, cmd); err != nil {
		t.Fatalf("clean command refused: %v", err)
	}
	if err := os.Chmod(cmd, 0o777); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, g.check(p, cmd), "policy: "+cmd+" is world-writable (strict_modes)")
	if err := os.Chmod(cmd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.check(p, cmd); err != nil {
		t.Fatalf("fixed command still refused: %v", err)
	}
	deny := &config.Policy{DenyCommands: []string{dir + "/*"}}
	if err := g.check(deny, cmd); err == nil || !strings.Contains(err.Error(), "deny_commands") {
		t.Fatalf("replaced policy not applied: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	// The directory's change does not touch the command's ctime: it shows
	// once the cached verdict is older than policyRecheck.
	v := g.last.Load()
	aged := *v
	aged.policy, aged.at = p, v.at.Add(-2*policyRecheck)
	g.last.Store(&aged)
	wantRefused(t, g.check(p, cmd), "policy: "+dir+" is world-writable (strict_modes)")
}

// TestPolicyDoubleStar: "*" stays within a path element, "**" crosses them,
// for deny_commands and allow_commands alike.
func TestPolicyDoubleStar(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	deep := policyFile(t, filepath.Join(dir, "sub"), "h", 0o755)
	p := config.Policy{DenyCommands: []string{dir + "/*"}}
	if err := checkPolicy(&p, deep); err != nil {
		t.Errorf("%s/* denied %s: %v", dir, deep, err)
	}
	p = config.Policy{DenyCommands: []string{dir + "/**"}}
	wantRefused(t, checkPolicy(&p, deep), "policy: "+deep+" matches deny_commands \""+dir+"/**\"")
	p = config.Policy{AllowCommands: []string{dir + "/**/h"}}
	if err := checkPolicy(&p, deep); err != nil {
		t.Errorf("%s/**/h did not allow %s: %v", dir, deep, err)
	}
}

// TestNewRefusesHooksPolicyRefuses: a hook the spawn gate would refuse on
// every fire is a load error naming the hook, the field and the rule, at
// New and at Reload (which keeps the running generation).
func TestNewRefusesHooksPolicyRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	good := policyFile(t, dir, "good", 0o755)
	loose := policyFile(t, dir, "loose", 0o757)
	wdir := filepath.Join(dir, "w")
	if err := os.Mkdir(wdir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wdir, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	inW := policyFile(t, wdir, "h", 0o755)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(inW, link); err != nil {
		t.Fatal(err)
	}
	// The temp dir sits in /tmp (sticky, root-owned: accepted as a
	// parent); anything above it must be safe for strict_modes to pass.
	if err := checkStrictModes(good); err != nil {
		testutil.SkipOrFail(t, "the temp dir itself fails strict_modes here: %v", err)
	}
	load := func(policy, command string) *config.Config {
		t.Helper()
		body := policy + "\n" + hookTOML("h", "pre_store", command, 1)
		cfg, err := config.Parse("hooks.toml", []byte(body))
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		return cfg
	}
	for _, c := range []struct {
		policy, command, want string
	}{
		{"", loose, loose + " is world-writable (strict_modes)"},
		{"", inW, wdir + " is world-writable (strict_modes)"},
		{"", link, wdir + " is world-writable (strict_modes)"},
		{"[policy]\nallow_commands = [\"/usr/libexec/hooks/*\"]", good, good + " is not in allow_commands"},
		{"[policy]\ndeny_commands = [\"" + dir + "/**\"]", good, good + ` matches deny_commands "` + dir + `/**"`},
	} {
		_, err := New(load(c.policy, c.command), Options{Backend: portableBackend(t)})
		var ce *config.ConfigError
		if !errors.As(err, &ce) || len(ce.Errors) != 1 {
			t.Errorf("%s %q: New = %v, want one field error", c.command, c.policy, err)
			continue
		}
		fe := ce.Errors[0]
		if fe.Hook != "h" || fe.Field != "command" || fe.Pos.Line == 0 || !strings.HasSuffix(fe.Msg, c.want) {
			t.Errorf("%s: %+v, want hook h, field command, a position and %q", c.command, fe, c.want)
		}
	}

	d := newTestDispatcher(t, load("", good))
	if err := d.Reload(load("", loose)); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("Reload to a refused hook: %v", err)
	}
	if got := d.Config().Hooks[0].Command; got != good {
		t.Errorf("after the refused reload the config runs %s, want %s", got, good)
	}
}
