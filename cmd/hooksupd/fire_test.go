// SPDX-License-Identifier: Apache-2.0

//go:build unix

package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Hook scripts: read the envelope, answer one decision.
const (
	hookAllow  = "#!/bin/sh\ncat >/dev/null\necho '{\"action\":\"allow\"}'\n"
	hookDeny   = "#!/bin/sh\ncat >/dev/null\necho '{\"action\":\"deny\",\"reason\":\"not today\",\"code\":451}'\n"
	hookAsk    = "#!/bin/sh\ncat >/dev/null\necho '{\"action\":\"ask_user\",\"prompt\":\"Sure?\",\"options\":[\"yes\",\"no\"],\"default\":\"no\"}'\n"
	hookModify = "#!/bin/sh\ncat >/dev/null\necho debug output before the decision\necho '{\"action\":\"modify\",\"delta\":{\"tags\":[\"tagged\"]}}'\n"
)

// fireSetup writes the four hooks and a config binding them as given.
func fireSetup(t *testing.T, blocks func(dir string) string) string {
	t.Helper()
	dir := testutil.HookDir(t)
	writeExec(t, dir, "allow.sh", hookAllow)
	writeExec(t, dir, "deny.sh", hookDeny)
	writeExec(t, dir, "ask.sh", hookAsk)
	writeExec(t, dir, "modify.sh", hookModify)
	return writeConfig(t, dir, blocks(dir))
}

func decodeWire(t *testing.T, out string) map[string]any {
	t.Helper()
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("want exactly one JSON line on stdout, got %q", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %q: %v", out, err)
	}
	return m
}

func TestFireDecisionsAndExitCodes(t *testing.T) {
	cases := []struct {
		hook     string
		wantCode int
		check    func(t *testing.T, m map[string]any)
	}{
		{"allow.sh", 0, func(t *testing.T, m map[string]any) {
			if len(m) != 1 || m["decision"] != "allow" {
				t.Errorf("got %v, want exactly {\"decision\":\"allow\"}", m)
			}
		}},
		{"deny.sh", 3, func(t *testing.T, m map[string]any) {
			if m["decision"] != "deny" || m["reason"] != "not today" || m["code"] != float64(451) {
				t.Errorf("got %v", m)
			}
		}},
		{"ask.sh", 4, func(t *testing.T, m map[string]any) {
			ps, _ := m["prompts"].([]any)
			if m["decision"] != "ask_user" || len(ps) != 1 {
				t.Fatalf("got %v", m)
			}
			p := ps[0].(map[string]any)
			if p["prompt"] != "Sure?" || p["default"] != "no" || p["hook"] != "h" {
				t.Errorf("prompt %v", p)
			}
		}},
		{"modify.sh", 0, func(t *testing.T, m map[string]any) {
			delta, _ := m["delta"].(map[string]any)
			payload, _ := m["payload"].(map[string]any)
			if m["decision"] != "modify" || delta == nil || payload == nil {
				t.Fatalf("got %v", m)
			}
			if tags, _ := payload["tags"].([]any); len(tags) != 1 || tags[0] != "tagged" {
				t.Errorf("payload tags %v", payload["tags"])
			}
			if payload["title"] != "t" {
				t.Errorf("payload lost its other keys: %v", payload)
			}
		}},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.hook, ".sh"), func(t *testing.T) {
			cfg := fireSetup(t, func(dir string) string {
				return hookBlock("h", "pre_store", filepath.Join(dir, c.hook), 0)
			})
			r := hooksupd(t, `{"title":"t","content":"c"}`, "fire", "-c", cfg, "pre_store")
			if r.code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, c.wantCode, r.stderr)
			}
			c.check(t, decodeWire(t, r.stdout))
		})
	}
}

// TestFireTraceChainOrder: --trace lists the hooks in chain order
// (priority descending, ties in file order), and the config comes from
// $HOOKSUPD_CONFIG when -c is not given.
func TestFireTraceChainOrder(t *testing.T) {
	cfg := fireSetup(t, func(dir string) string {
		return hookBlock("low", "pre_store", filepath.Join(dir, "allow.sh"), 1) +
			hookBlock("high", "pre_store", filepath.Join(dir, "modify.sh"), 50) +
			hookBlock("tie-first", "pre_store", filepath.Join(dir, "allow.sh"), 10) +
			hookBlock("tie-second", "pre_store", filepath.Join(dir, "allow.sh"), 10)
	})
	r := hooksupdEnv(t, []string{"HOOKSUPD_CONFIG=" + cfg}, "", "fire", "pre_store", "--trace")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	m := decodeWire(t, r.stdout)
	hooks, _ := m["hooks"].([]any)
	var names []string
	for _, h := range hooks {
		hm := h.(map[string]any)
		names = append(names, hm["name"].(string))
		if _, ok := hm["ms"]; !ok {
			t.Errorf("trace entry without ms: %v", hm)
		}
	}
	if got, want := strings.Join(names, ","), "high,tie-first,tie-second,low"; got != want {
		t.Errorf("trace order %s, want %s", got, want)
	}
	// Empty stdin is the payload {}: the modify result is just the delta.
	if p, _ := m["payload"].(map[string]any); len(p) != 1 {
		t.Errorf("payload %v, want only the delta's key", m["payload"])
	}
}

// TestFireNamespace: a scoped hook fires only for its namespaces.
func TestFireNamespace(t *testing.T) {
	cfg := fireSetup(t, func(dir string) string {
		return hookBlock("everyone", "pre_promote", filepath.Join(dir, "allow.sh"), 0) +
			strings.Replace(hookBlock("prod-only", "pre_promote", filepath.Join(dir, "deny.sh"), 10),
				`namespace = "*"`, `namespace = "prod/*"`, 1)
	})
	for _, c := range []struct {
		ns   []string
		want int
	}{
		{nil, 0},
		{[]string{"dev"}, 0},
		{[]string{"production"}, 0},
		{[]string{"prod"}, 3},
		{[]string{"dev", "prod/api"}, 3},
	} {
		args := []string{"fire", "-c", cfg, "--trace"}
		for _, n := range c.ns {
			args = append(args, "-n", n)
		}
		r := hooksupd(t, `{"id":"m1"}`, append(args, "pre_promote")...)
		if r.code != c.want {
			t.Errorf("namespaces %v: exit %d, want %d (%s)", c.ns, r.code, c.want, r.stdout)
		}
	}
	// --namespace is the long form of -n, and flags may follow EVENT.
	r := hooksupd(t, `{}`, "fire", "--config", cfg, "pre_promote", "--namespace", "prod/x")
	if r.code != 3 {
		t.Errorf("--namespace prod/x after EVENT: exit %d, want 3", r.code)
	}
}

func TestFireBadPayload(t *testing.T) {
	cfg := fireSetup(t, func(dir string) string {
		return hookBlock("h", "pre_store", filepath.Join(dir, "allow.sh"), 0)
	})
	for _, in := range []string{`{"a":`, `not json`, `{"a":1} trailing`} {
		r := hooksupd(t, in, "fire", "-c", cfg, "pre_store")
		if r.code != 2 {
			t.Errorf("payload %q: exit %d, want 2", in, r.code)
		}
		if !strings.Contains(r.stderr, "hooksupd: fire: payload on stdin is not valid JSON") {
			t.Errorf("payload %q: stderr %q", in, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("payload %q: stdout %q, want nothing", in, r.stdout)
		}
	}
}

// TestFireBadConfig: every error of the file is printed with its
// file:line:col, and the exit status is 2.
func TestFireBadConfig(t *testing.T) {
	dir := testutil.HookDir(t)
	cfg := writeConfig(t, dir, hookBlock("a", "pre_store", "/bin/true", 0, "bogus_key = 1")+
		hookBlock("b", "pre_store", "/bin/true", 0, "timeout_msx = 5"))
	r := hooksupd(t, "", "fire", "-c", cfg, "pre_store")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	lines := regexp.MustCompile(`(?m)^hooksupd: fire: hooks\.toml:\d+:\d+: .*$`).FindAllString(r.stderr, -1)
	if len(lines) != 2 {
		t.Fatalf("want two file:line:col errors, got %d in %q", len(lines), r.stderr)
	}
	if !strings.Contains(lines[0], "bogus_key") || !strings.Contains(lines[1], "timeout_msx") {
		t.Errorf("errors %q", lines)
	}
	// The first bad key is on line 12 of the file (after the policy table
	// and the hook keys).
	if !strings.Contains(lines[0], "hooks.toml:12:") {
		t.Errorf("position of bogus_key: %q", lines[0])
	}

	r = hooksupd(t, "", "fire", "-c", filepath.Join(dir, "missing.toml"), "pre_store")
	if r.code != 2 || !strings.Contains(r.stderr, "missing.toml") {
		t.Errorf("missing config: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestFireUsage(t *testing.T) {
	cfg := fireSetup(t, func(dir string) string {
		return hookBlock("h", "pre_store", filepath.Join(dir, "allow.sh"), 0)
	})
	for _, args := range [][]string{
		{"fire", "-c", cfg},
		{"fire", "-c", cfg, "pre_store", "extra"},
		{"fire", "-c", cfg, "--bogus", "pre_store"},
		{"fire", "-c", cfg, "no_such_event"},
	} {
		r := hooksupd(t, "{}", args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "hooksupd: fire: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	r := hooksupd(t, "", "fire", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: hooksupd fire") || !strings.Contains(r.stdout, "-n, --namespace") {
		t.Errorf("fire --help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// hostPid is sh that sets $me to the shell's pid as seen from outside:
// $$ and $! are pids in the supervisor's hook PID namespace, /proc is the
// host's.
const hostPid = `read -r me _ </proc/self/stat`

// TestFireSignalCancels: SIGTERM during a fire cancels it, stops the hook's
// child and exits 143 without printing a result.
func TestFireSignalCancels(t *testing.T) {
	dir := testutil.HookDir(t)
	pidfile := filepath.Join(dir, "pid")
	slow := writeExec(t, dir, "slow.sh", "#!/bin/sh\n"+hostPid+"\necho $me > "+pidfile+"\nexec sleep 60\n")
	cfg := writeConfig(t, dir, hookBlock("slow", "pre_store", slow, 0))
	cmd, stdout, stderr := startHooksupd(t, "{}", "fire", "-c", cfg, "pre_store")
	pid := readPids(t, pidfile, 1, 10*time.Second)[0]
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 10*time.Second); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d, want 143; stderr %s", code, stderr)
	}
	if stdout.Len() != 0 {
		t.Errorf("a cancelled fire printed a result: %q", stdout)
	}
	waitGone(t, 2*time.Second, pid)
}

// TestFireDaemonStopped: a daemon-mode hook answers the fire and is
// stopped when fire exits.
func TestFireDaemonStopped(t *testing.T) {
	dir := testutil.HookDir(t)
	pidfile := filepath.Join(dir, "pid")
	daemon := writeExec(t, dir, "daemon.sh", "#!/bin/sh\n"+hostPid+"\necho $me > "+pidfile+"\n"+
		"while IFS= read -r line; do echo '{\"action\":\"deny\",\"reason\":\"daemon says no\"}'; done\n")
	cfg := writeConfig(t, dir, hookBlock("d", "pre_store", daemon, 0, `mode = "daemon"`))
	r := hooksupd(t, "{}", "fire", "-c", cfg, "pre_store")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3 (deny); stdout %s", r.code, r.stdout)
	}
	if m := decodeWire(t, r.stdout); m["reason"] != "daemon says no" || m["code"] != float64(403) {
		t.Errorf("result %v", m)
	}
	waitGone(t, 2*time.Second, readPids(t, pidfile, 1, time.Second)...)
}

// TestFireHookFailureIsAResult: a crashing hook is not a hooksupd error:
// fail_mode closed denies 503, open allows.
func TestFireHookFailureIsAResult(t *testing.T) {
	dir := testutil.HookDir(t)
	crash := writeExec(t, dir, "crash.sh", "#!/bin/sh\ncat >/dev/null\nexit 1\n")
	for _, c := range []struct {
		mode string
		want int
	}{{"open", 0}, {"closed", 3}} {
		sub := filepath.Join(dir, c.mode)
		cfg := writeConfig(t, mkdir(t, sub), hookBlock("crash", "pre_store", crash, 0, `fail_mode = "`+c.mode+`"`))
		r := hooksupd(t, "{}", "fire", "-c", cfg, "--trace", "pre_store")
		if r.code != c.want {
			t.Errorf("fail_mode %s: exit %d, want %d", c.mode, r.code, c.want)
			continue
		}
		m := decodeWire(t, r.stdout)
		hooks, _ := m["hooks"].([]any)
		if len(hooks) != 1 || hooks[0].(map[string]any)["error"] != "exit" {
			t.Errorf("fail_mode %s: trace %v", c.mode, m["hooks"])
		}
		if c.mode == "closed" && m["code"] != float64(503) {
			t.Errorf("fail_mode closed: code %v, want 503", m["code"])
		}
	}
}

// TestFireTimeoutFlag: --timeout bounds the whole fire; the slow hook is
// stopped and its fail_mode decides (open: allow, with the timeout in the
// trace).
func TestFireTimeoutFlag(t *testing.T) {
	dir := testutil.HookDir(t)
	pidfile := filepath.Join(dir, "pid")
	slow := writeExec(t, dir, "slow.sh", "#!/bin/sh\n"+hostPid+"\necho $me > "+pidfile+"\nexec sleep 60\n")
	cfg := writeConfig(t, dir, hookBlock("slow", "pre_store", slow, 0))
	r := hooksupd(t, "{}", "fire", "-c", cfg, "--trace", "--timeout", "500ms", "pre_store")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0 (fail_mode open)", r.code)
	}
	if r.elapsed > 5*time.Second {
		t.Errorf("a 500ms --timeout took %v", r.elapsed)
	}
	m := decodeWire(t, r.stdout)
	hooks, _ := m["hooks"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["error"] != "timeout" {
		t.Errorf("trace %v, want the hook's error to be timeout", m["hooks"])
	}
	waitGone(t, 2*time.Second, readPids(t, pidfile, 1, time.Second)...)
}

// TestFireNoHTMLEscaping: the result is JSON for programs, not HTML: a
// payload's "<", ">" and "&" come back as written, as in socket replies.
func TestFireNoHTMLEscaping(t *testing.T) {
	cfg := fireSetup(t, func(dir string) string {
		return hookBlock("h", "pre_store", filepath.Join(dir, "modify.sh"), 0)
	})
	r := hooksupd(t, `{"title":"a<b>&c"}`, "fire", "-c", cfg, "pre_store")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"title":"a<b>&c"`) {
		t.Errorf("payload escaped in %s", r.stdout)
	}
}
