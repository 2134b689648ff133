// SPDX-License-Identifier: Apache-2.0

//go:build unix

package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/supervisor"
)

// Dispatcher tests run real /bin/sh hooks on the portable backend; the
// Linux backend is exercised by the integration suite.

func needSh(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		testutil.SkipOrFail(t, "needs /bin/sh")
	}
}

// leakChecks verifies, after everything else the test registered, that no
// goroutine and no fd outlived the dispatcher.
func leakChecks(t *testing.T) {
	t.Helper()
	testutil.CheckFDLeak(t)
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// script writes an executable /bin/sh hook into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// hookTOML renders one [[hook]] block; extra lines are appended verbatim
// (a "namespace = ..." line replaces the default "*").
func hookTOML(name, event, command string, priority int, extra ...string) string {
	s := fmt.Sprintf("\n[[hook]]\nname = %q\nevent = %q\ncommand = %q\npriority = %d\ntimeout_ms = 5000\nenabled = true\n",
		name, event, command, priority)
	ns := "namespace = \"*\"\n"
	for _, e := range extra {
		if strings.HasPrefix(e, "namespace") {
			ns = ""
		}
	}
	s += ns
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// testConfig parses hooks.toml text; the hooks live in a temp dir under
// the world-writable /tmp, so strict_modes is off.
func testConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("hooks.toml", []byte("[policy]\nstrict_modes = false\n"+body))
	if err != nil {
		t.Fatalf("config:\n%s\n%v", body, err)
	}
	return cfg
}

func portableBackend(t *testing.T) supervisor.Backend {
	t.Helper()
	b, err := supervisor.NewPortable(supervisor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newTestDispatcher(t *testing.T, cfg *config.Config) *Dispatcher {
	t.Helper()
	d, err := New(cfg, Options{Backend: portableBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func fire(t *testing.T, d *Dispatcher, event string, nss []string, payload string) *Result {
	t.Helper()
	res, err := d.Fire(context.Background(), event, nss, json.RawMessage(payload))
	if err != nil {
		t.Fatalf("Fire(%s): %v", event, err)
	}
	return res
}

// wire renders the decision fields of a result as the service's fire
// reply shapes them, for compact assertions.
func wire(res *Result) string {
	b, _ := json.Marshal(struct {
		Decision Action                     `json:"decision"`
		Delta    map[string]json.RawMessage `json:"delta,omitempty"`
		Payload  json.RawMessage            `json:"payload,omitempty"`
		Reason   string                     `json:"reason,omitempty"`
		Code     int                        `json:"code,omitempty"`
	}{res.Decision, res.Delta, res.Payload, res.Reason, res.Code})
	return string(b)
}

const (
	shAllow = `cat >/dev/null; echo '{"action":"allow"}'`
	shDeny  = `cat >/dev/null; echo '{"action":"deny","reason":"team hooks say no","code":451}'`
)

func TestDispatcherFire(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	// check answers allow only if it sees the stamped title and the
	// resolved namespace, never the one the body claimed.
	check := script(t, dir, "check", `read -r line
case "$line" in
*'"payload":{"namespace":"ops","title":"stamped"}'*) echo '{"action":"allow"}' ;;
*) echo "{\"action\":\"deny\",\"reason\":\"unexpected envelope\"}" ;;
esac`)
	cfg := testConfig(t,
		hookTOML("stamp", "pre_store", script(t, dir, "stamp", `cat >/dev/null; echo '{"action":"modify","delta":{"title":"stamped","junk":1}}'`), 200)+
			hookTOML("deny-team", "pre_store", script(t, dir, "deny", shDeny), 100, `namespace = "team/*"`)+
			hookTOML("check", "pre_store", check, 50)+
			hookTOML("post-deny", "post_store", script(t, dir, "postdeny", shDeny), 1))
	d := newTestDispatcher(t, cfg)

	res := fire(t, d, "pre_store", []string{"team/a"}, `{"namespace":"spoof"}`)
	if got := wire(res); got != `{"decision":"deny","reason":"team hooks say no","code":451}` {
		t.Errorf("team namespace: %s (trace %v)", got, decisions(res))
	}
	res = fire(t, d, "pre_store", []string{"ops"}, `{"namespace": "spoof"}`)
	// The unknown delta key "junk" is dropped (pre_store deltas are typed).
	if got := wire(res); got != `{"decision":"modify","delta":{"title":"stamped"},"payload":{"namespace":"ops","title":"stamped"}}` {
		t.Errorf("ops namespace: %s (trace %+v)", got, res.Hooks)
	}
	if want := []string{"stamp:modify", "check:allow"}; strings.Join(decisions(res), " ") != strings.Join(want, " ") {
		t.Errorf("trace %v, want %v", decisions(res), want)
	}
	for _, tr := range res.Hooks {
		if !tr.Ran || tr.Duration <= 0 || tr.Error != "" {
			t.Errorf("trace %+v", tr)
		}
	}
	// A notify event's deny is logged only.
	if res := fire(t, d, "post_store", nil, ``); res.Decision != ActionAllow || res.Hooks[0].Decision != "deny" {
		t.Errorf("post_store: %+v", res)
	}
	if _, err := d.Fire(context.Background(), "no_such_event", nil, nil); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unknown event: %v", err)
	}
	if _, err := d.Fire(context.Background(), "pre_store", nil, json.RawMessage(`{"a":`)); !errors.Is(err, ErrBadPayload) {
		t.Errorf("bad payload: %v", err)
	}

	st := d.Status()
	if st.Mechanisms.Backend != "portable" || len(st.Hooks) != 4 {
		t.Fatalf("status %+v", st)
	}
	byName := map[string]HookStatus{}
	for _, h := range st.Hooks {
		byName[h.Name] = h
	}
	if s := byName["stamp"]; s.Metrics.Fires != 2 || s.Metrics.Outcomes["modify"] != 2 || s.Mode != config.ModeExec ||
		s.Priority != 200 || s.FailMode != config.FailOpen || !s.Enabled || s.State.Mode != config.ModeExec {
		t.Errorf("stamp status %+v", s)
	}
	if s := byName["deny-team"]; s.Metrics.Fires != 1 || s.Namespace != "team/*" {
		t.Errorf("deny-team status %+v", s)
	}
}

func TestDispatcherLimits(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	cmd := script(t, dir, "h", shAllow)
	capped := hookTOML("capped", "pre_store", cmd, 1, "[hook.limits]", `memory_max = "64M"`, "pids_max = 32")
	_, err := New(testConfig(t, capped), Options{Backend: portableBackend(t)})
	var ce *config.ConfigError
	if !errors.As(err, &ce) || len(ce.Errors) != 2 {
		t.Fatalf("New with limits on the portable backend: %v", err)
	}
	for i, field := range []string{"limits.memory_max", "limits.pids_max"} {
		fe := ce.Errors[i]
		if fe.Hook != "capped" || fe.Field != field || fe.Pos.Line == 0 {
			t.Errorf("error %d: %+v", i, fe)
		}
	}
	want := `hook "capped": limits.memory_max: the portable backend cannot enforce limits; set allow_uncapped = true to run uncapped`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}

	// allow_uncapped, or a disabled hook, is fine.
	uncapped := hookTOML("capped", "pre_store", cmd, 1, "allow_uncapped = true", "[hook.limits]", `memory_max = "64M"`)
	d := newTestDispatcher(t, testConfig(t, uncapped))
	if res := fire(t, d, "pre_store", nil, `{}`); res.Decision != ActionAllow || res.Hooks[0].Error != "" {
		t.Errorf("uncapped hook: %+v", res.Hooks)
	}
	disabled := strings.Replace(capped, "enabled = true", "enabled = false", 1)
	newTestDispatcher(t, testConfig(t, disabled))

	// Reload refuses the same config and keeps the running one.
	if err := d.Reload(testConfig(t, capped)); !errors.As(err, &ce) {
		t.Errorf("Reload with unenforceable limits: %v", err)
	}
	if !d.Config().Hooks[0].AllowUncapped {
		t.Error("the rejected config replaced the running one")
	}
}

// TestDispatcherOwnBackend: with no Backend, New builds the one
// [supervisor] names, and Close closes it.
func TestDispatcherOwnBackend(t *testing.T) {
	needSh(t)
	leakChecks(t)
	cfg := testConfig(t, "[supervisor]\nbackend = \"portable\"\n"+hookTOML("a", "pre_store", script(t, testutil.HookDir(t), "a", shAllow), 1))
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.ownBackend || d.Status().Mechanisms.Backend != "portable" {
		t.Fatalf("backend %+v", d.Status().Mechanisms)
	}
	fire(t, d, "pre_store", nil, `{}`)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.backend.Start(context.Background(), &supervisor.Spec{Pipes: supervisor.PipeAll, Path: "/bin/true"}); err == nil {
		t.Error("the dispatcher's own backend is still open after Close")
	}
}

func TestDispatcherEnforce(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	// A fail_mode=open hook of a required event that fails (and prints a
	// secret on stderr) must deny under enforce, without the secret.
	broken := script(t, dir, "broken", `cat >/dev/null; echo 'API_TOKEN=hunter2' >&2; exit 1`)
	cfg := testConfig(t, "[enforce]\nmode = \"enforce\"\nrequired_events = [\"pre_store\", \"pre_delete\"]\n"+
		hookTOML("broken", "pre_store", broken, 1, `fail_mode = "open"`)+
		hookTOML("scoped", "pre_link", script(t, dir, "ok", shAllow), 1, `namespace = "team/*"`))
	d := newTestDispatcher(t, cfg)

	res := fire(t, d, "pre_store", []string{"x"}, `{}`)
	if res.Decision != ActionDeny || res.Code != 503 || !strings.HasPrefix(res.Reason, "hook broken errored under fail_mode=closed: ") {
		t.Errorf("forced closed: %+v", res)
	}
	if strings.Contains(res.Reason, "hunter2") {
		t.Errorf("deny reason leaks hook stderr: %q", res.Reason)
	}
	if res.Hooks[0].Error != "exit" || !res.Hooks[0].Ran {
		t.Errorf("trace %+v", res.Hooks[0])
	}
	res = fire(t, d, "pre_delete", []string{"x"}, `{}`)
	if res.Decision != ActionDeny || res.Code != 503 || res.Reason != "hooks.enforce: required event pre_delete has no enabled hook (enforce mode → fail-closed)" {
		t.Errorf("presence: %+v", res)
	}
	res = fire(t, d, "pre_link", nil, `{}`)
	if res.Decision != ActionDeny || res.Code != 503 || !strings.Contains(res.Reason, "cannot resolve the in-flight namespace") {
		t.Errorf("unresolved namespace: %+v", res)
	}
	if res := fire(t, d, "pre_link", []string{"team/a"}, `{}`); res.Decision != ActionAllow || len(res.Hooks) != 1 {
		t.Errorf("resolved namespace: %+v", res)
	}
	for _, h := range d.Status().Hooks {
		if h.Name == "broken" && h.FailMode != config.FailClosed {
			t.Errorf("status fail mode %s, want the forced closed", h.FailMode)
		}
	}
}

func TestDispatcherTimeoutViolations(t *testing.T) {
	needSh(t)
	leakChecks(t)
	cfg := testConfig(t, strings.Replace(hookTOML("slow", "pre_store", script(t, testutil.HookDir(t), "slow", `sleep 5`), 1),
		"timeout_ms = 5000", "timeout_ms = 100", 1))
	d := newTestDispatcher(t, cfg)
	start := time.Now()
	res := fire(t, d, "pre_store", nil, `{}`)
	if el := time.Since(start); el > 100*time.Millisecond+3*time.Second {
		t.Errorf("timed-out fire took %v", el)
	}
	if res.Decision != ActionAllow || res.Hooks[0].Error != "timeout" {
		t.Errorf("result %+v", res)
	}
	st := d.Status()
	if st.TimeoutViolations != 1 || st.Hooks[0].Metrics.Timeouts != 1 {
		t.Errorf("violations %d, metrics %+v", st.TimeoutViolations, st.Hooks[0].Metrics)
	}
}

// waitFile waits until path exists: a hook touches it when it starts.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

// waitReconciled waits until no old generation is draining and the
// reconcile that follows has run (it holds reloadMu while it runs).
func waitReconciled(t *testing.T, d *Dispatcher) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		d.reloadMu.Lock()
		n := len(d.retiring)
		d.reloadMu.Unlock()
		if n == 0 {
			return
		}
	}
	t.Fatal("old generations never drained")
}

// TestDispatcherReloadInFlight: a fire runs entirely on the config it
// started with; fires after Reload use the new one; an invalid reload
// keeps the running config.
func TestDispatcherReloadInFlight(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	marker := filepath.Join(dir, "started")
	oldHook := script(t, dir, "old", fmt.Sprintf(`cat >/dev/null; touch %q; sleep 0.4; echo '{"action":"deny","reason":"old config"}'`, marker))
	newHook := script(t, dir, "new", `cat >/dev/null; echo '{"action":"deny","reason":"new config"}'`)
	d := newTestDispatcher(t, testConfig(t, hookTOML("v", "pre_store", oldHook, 1)))

	done := make(chan *Result, 1)
	go func() {
		res, _ := d.Fire(context.Background(), "pre_store", nil, json.RawMessage(`{}`))
		done <- res
	}()
	waitFile(t, marker)
	if err := d.Reload(testConfig(t, hookTOML("v", "pre_store", newHook, 1))); err != nil {
		t.Fatal(err)
	}
	if res := fire(t, d, "pre_store", nil, `{}`); res.Reason != "new config" {
		t.Errorf("fire after reload: %+v", res)
	}
	if res := <-done; res == nil || res.Reason != "old config" {
		t.Errorf("in-flight fire: %+v", res)
	}

	bad := testConfig(t, hookTOML("v", "pre_store", newHook, 1, "[hook.limits]", "pids_max = 8"))
	if err := d.Reload(bad); err == nil {
		t.Fatal("invalid reload accepted")
	}
	if res := fire(t, d, "pre_store", nil, `{}`); res.Reason != "new config" {
		t.Errorf("after a failed reload: %+v", res)
	}
	if err := d.Reload(nil); err == nil {
		t.Error("nil config accepted")
	}
	waitReconciled(t, d)
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// TestDispatcherReloadDaemons: a reload that leaves a daemon hook's child
// settings alone keeps its process; one that removes the hook stops it
// once the old generation has drained (docs/seed-compatibility.md).
func TestDispatcherReloadDaemons(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	daemon := script(t, dir, "daemon", `while IFS= read -r line; do echo '{"action":"allow"}'; done`)
	other := script(t, dir, "other", shAllow)
	block := hookTOML("d", "pre_store", daemon, 1, `mode = "daemon"`)
	d := newTestDispatcher(t, testConfig(t, block))

	if res := fire(t, d, "pre_store", nil, `{}`); res.Decision != ActionAllow || res.Hooks[0].Error != "" {
		t.Fatalf("daemon fire: %+v", res.Hooks)
	}
	st, ok := d.registry.State("d")
	if !ok || st.Pid <= 0 || !st.Running {
		t.Fatalf("daemon state %+v %v", st, ok)
	}
	pid := st.Pid

	// Priority and fail_mode do not touch the child: same process.
	changed := strings.Replace(block, "priority = 1", "priority = 9", 1) + "fail_mode = \"closed\"\n"
	if err := d.Reload(testConfig(t, changed)); err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, d)
	fire(t, d, "pre_store", nil, `{}`)
	if st, _ := d.registry.State("d"); st.Pid != pid || !processAlive(pid) {
		t.Errorf("daemon restarted by a reload that did not change it: pid %d -> %d", pid, st.Pid)
	}

	// Hook removed: its daemon is stopped.
	if err := d.Reload(testConfig(t, hookTOML("o", "pre_store", other, 1))); err != nil {
		t.Fatal(err)
	}
	waitReconciled(t, d)
	for deadline := time.Now().Add(10 * time.Second); processAlive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("daemon %d of the removed hook still runs", pid)
		}
	}
	if _, ok := d.registry.State("d"); ok {
		t.Error("registry still has the removed hook")
	}
	for _, h := range d.Status().Hooks {
		if h.Name == "d" {
			t.Error("status lists the removed hook")
		}
	}
}

// TestDispatcherClose: Close waits for fires in flight, then refuses.
func TestDispatcherClose(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	marker := filepath.Join(dir, "started")
	slow := script(t, dir, "slow", fmt.Sprintf(`cat >/dev/null; touch %q; sleep 0.3; echo '{"action":"allow"}'`, marker))
	d, err := New(testConfig(t, hookTOML("slow", "pre_store", slow, 1)), Options{Backend: portableBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var res *Result
	go func() {
		var err error
		res, err = d.Fire(context.Background(), "pre_store", nil, nil)
		done <- err
	}()
	waitFile(t, marker)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The hook sleeps 0.3 s after touching the marker: a Close that waits
	// for the fire in flight cannot return much sooner. (The fire's
	// goroutine reports on done only after Fire has returned, so done
	// itself may lag Close by a scheduling delay.)
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("Close returned after %v, before the fire in flight finished", elapsed)
	}
	select {
	case err := <-done:
		if err != nil || res.Decision != ActionAllow || res.Hooks[0].Error != "" {
			t.Errorf("in-flight fire: %v %+v", err, res)
		}
	case <-time.After(5 * time.Second):
		t.Error("the fire in flight never returned")
	}
	if _, err := d.Fire(context.Background(), "pre_store", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Fire after Close: %v", err)
	}
	if err := d.Reload(d.Config()); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Close: %v", err)
	}
	if err := d.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDispatcherReloadWaitsForFires: a hook removed by a reload keeps its
// daemon until the fire that is using it has finished.
func TestDispatcherReloadWaitsForFires(t *testing.T) {
	needSh(t)
	leakChecks(t)
	dir := testutil.HookDir(t)
	marker := filepath.Join(dir, "started")
	daemon := script(t, dir, "daemon", fmt.Sprintf(
		`while IFS= read -r line; do touch %q; sleep 0.3; echo '{"action":"deny","reason":"from the daemon"}'; done`, marker))
	d := newTestDispatcher(t, testConfig(t, hookTOML("d", "pre_store", daemon, 1, `mode = "daemon"`)))
	done := make(chan *Result, 1)
	go func() {
		res, _ := d.Fire(context.Background(), "pre_store", nil, json.RawMessage(`{}`))
		done <- res
	}()
	waitFile(t, marker)
	if err := d.Reload(testConfig(t, "")); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res == nil || res.Reason != "from the daemon" {
		t.Fatalf("in-flight fire on the removed daemon: %+v", res)
	}
	waitReconciled(t, d)
	if _, ok := d.registry.State("d"); ok {
		t.Error("removed daemon hook still registered after the drain")
	}
}

// TestDispatcherReloadRace fires and reloads concurrently (for -race and
// for the pin/retire protocol): every generation drains, no fire fails.
func TestDispatcherReloadRace(t *testing.T) {
	needSh(t)
	leakChecks(t)
	cmd := script(t, testutil.HookDir(t), "h", shAllow)
	// The hook is scoped elsewhere, so fires exercise the generation
	// protocol without spawning.
	cfg := func(prio int) *config.Config {
		return testConfig(t, hookTOML("h", "pre_store", cmd, prio, `namespace = "elsewhere"`))
	}
	d := newTestDispatcher(t, cfg(1))
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				res, err := d.Fire(context.Background(), "pre_store", []string{"ns"}, json.RawMessage(`{"a":1}`))
				if err != nil || res.Decision != ActionAllow {
					errs <- fmt.Errorf("fire: %v %+v", err, res)
					return
				}
			}
		}()
	}
	for i := range 50 {
		if err := d.Reload(cfg(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	waitReconciled(t, d)
	if p := d.Config().Hooks[0].Priority; p != 49 {
		t.Errorf("config priority %d after the last reload", p)
	}
}
