// SPDX-License-Identifier: Apache-2.0

//go:build linux

package test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
)

// Hostile hooks, through hooks.toml and the Dispatcher: each hook tries
// one escape (testhook "escape", escape_linux.go) and reports on stderr
// what the kernel answered. Every escape must be refused, and the fire's
// result must be the hook's fail_mode: deny 503 for "closed", allow for
// "open", each with the hook's error in the trace and its stderr in the
// log. A control case per mechanism shows the same probe getting through
// where the sandbox option is off, so a probe that cannot succeed does
// not pass for a refusal. The control socket is tried in
// service/reach_linux_test.go, where a real server listens. See
// docs/sandbox.md for what backs each refusal; supervisor/sandbox*_test.go
// try the same escapes on the backend alone, with the exact errno.

// hostileBackendReady fails (skips on a laptop) unless the backend
// builds sandboxes: root, a launcher and the hook PID namespace.
func hostileBackendReady(t *testing.T, notes []string) {
	t.Helper()
	testutil.RequireRoot(t)
	all := strings.Join(notes, "; ")
	if !strings.Contains(all, "mount/network/PID namespaces by the launcher") || !strings.Contains(all, "born in a PID namespace") {
		testutil.SkipOrFail(t, "no sandboxing backend: %s", all)
	}
}

func TestHostileHooks(t *testing.T) {
	testutil.CheckFDLeak(t)
	log := &logBuf{}
	b := linuxBackend(t, log)
	hostileBackendReady(t, b.Mechanisms().Notes)
	// The hooks run a copy of the test hook outside /tmp, which
	// private_tmp covers.
	bin := copyOutsideTmp(t, testhook.Path(t))
	secret := fmt.Sprintf("hostile-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Setenv("SECRET_TOKEN", secret)
	sup := strconv.Itoa(os.Getpid())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted sync.WaitGroup
	accepted.Add(1)
	go func() {
		defer accepted.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer accepted.Wait()
	defer l.Close()

	marker, err := os.CreateTemp("/tmp", "hooksupd-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	etc := fmt.Sprintf("/etc/hooksupd-hostile-%d", os.Getpid())
	rw, outside := testutil.HookDir(t), testutil.HookDir(t)
	// A setuid-root copy of the test hook, in a directory every uid may
	// enter on a file system that honours setuid bits (else the setuid
	// case would prove nothing).
	suid := filepath.Join(rootOnlyDir(t, true), "suid")
	data, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(suid, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(suid, 0o4755)
	}
	if err != nil {
		t.Fatal(err)
	}

	type escapeCase struct {
		name  string
		args  string // the escape's arguments
		extra string // hooks.toml lines of the hook
		// control: the escape must get through (the option is off).
		control bool
	}
	root := `user = "root"`
	cases := []escapeCase{
		{name: "raise-dynamic", args: "raise", extra: "limits.pids_max = 16"},
		{name: "raise-root", args: "raise", extra: root + "\nlimits.pids_max = 16"},
		{name: "kill-supervisor-dynamic", args: "kill " + sup},
		{name: "kill-supervisor-root", args: "kill " + sup, extra: root},
		{name: "environ-dynamic", args: "environ " + sup},
		{name: "environ-root", args: "environ " + sup, extra: root},
		{name: "ptrace-supervisor-root", args: "ptrace " + sup, extra: root},
		{name: "tcp-private-network", args: "tcp " + l.Addr().String(), extra: "sandbox.private_network = true"},
		{name: "tcp-control", args: "tcp " + l.Addr().String(), control: true},
		{name: "write-etc-root", args: "write " + etc, extra: root + "\nsandbox.protect_system = \"full\""},
		{name: "write-outside-rw", args: "write " + filepath.Join(outside, "f"),
			extra: fmt.Sprintf("sandbox.protect_system = \"strict\"\nsandbox.read_write_paths = [%q]", rw)},
		{name: "write-inside-rw-control", args: "write " + filepath.Join(rw, "f"), control: true,
			extra: fmt.Sprintf("sandbox.protect_system = \"strict\"\nsandbox.read_write_paths = [%q]", rw)},
		{name: "see-host-tmp", args: "see " + marker.Name(), extra: "sandbox.private_tmp = true"},
		{name: "see-host-tmp-control", args: "see " + marker.Name(), control: true},
		{name: "mount-root", args: "mount /tmp", extra: root},
		{name: "denied-syscall", args: "getcwd", extra: `sandbox.system_call_filter = ["~getcwd"]`},
		{name: "denied-syscall-control", args: "getcwd", control: true, extra: `sandbox.system_call_filter = ["~@mount"]`},
		{name: "setuid-binary", args: "setuid " + suid},
	}
	var src strings.Builder
	for _, c := range cases {
		for _, mode := range []string{"closed", "open"} {
			fmt.Fprintf(&src, "%s", eventTOML("x_"+strings.ReplaceAll(c.name, "-", "_")+"_"+mode, 20*time.Second))
		}
	}
	var blocks []string
	for _, c := range cases {
		for _, mode := range []string{"closed", "open"} {
			argv := `["escape"`
			for _, a := range strings.Fields(c.args) {
				argv += fmt.Sprintf(", %q", a)
			}
			blocks = append(blocks, fmt.Sprintf("name = %q\nevent = %q\ntimeout_ms = 10000\nfail_mode = %q\nargs = %s]\n%s",
				c.name+"-"+mode, "x_"+strings.ReplaceAll(c.name, "-", "_")+"_"+mode, mode, argv, c.extra))
		}
	}
	d := newDispatcher(t, b, src.String()+linuxTOML(bin, blocks...), log)

	for _, c := range cases {
		for _, mode := range []string{"closed", "open"} {
			hook := c.name + "-" + mode
			res, _ := dfire(t, d, "x_"+strings.ReplaceAll(c.name, "-", "_")+"_"+mode, `{"k":"v"}`, 30*time.Second)
			tr := traceOf(t, res, hook)
			wire := fmt.Sprintf("%+v %s %s", res, res.Delta["metadata"], res.Reason)
			if strings.Contains(wire, secret) {
				t.Errorf("%s: the supervisor's secret reached the result: %s", hook, wire)
			}
			if c.control {
				if res.Decision != executor.ActionModify || !strings.Contains(string(res.Delta["metadata"]), `"escaped"`) {
					t.Errorf("%s (control, the option is off): %s, want the probe to get through", hook, wire)
				}
				continue
			}
			if !tr.Ran || tr.Decision != "error" || tr.Error == "" {
				t.Errorf("%s: trace %+v, want the hook ran and failed", hook, tr)
			}
			switch mode {
			case "closed":
				if res.Decision != executor.ActionDeny || res.Code != 503 {
					t.Errorf("%s: %s, want deny 503 (fail_mode closed)", hook, wire)
				}
			case "open":
				if res.Decision != executor.ActionAllow {
					t.Errorf("%s: %s, want allow (fail_mode open)", hook, wire)
				}
			}
		}
	}
	// Reported: every refusal's stderr is in the log, under its hook.
	logs := log.String()
	for _, c := range cases {
		if c.control {
			continue
		}
		kind := strings.Fields(c.args)[0]
		if kind == "setuid" {
			kind = "euid" // the setuid copy reports as what it was exec'd as
		}
		if !strings.Contains(logs, "refused "+kind+":") {
			t.Errorf("%s: no \"refused %s:\" in the log", c.name, kind)
		}
	}
	if strings.Contains(logs, secret) {
		t.Error("the supervisor's secret reached the log")
	}
	for _, l := range strings.Split(logs, "\n") {
		if i := strings.Index(l, "refused "); i >= 0 {
			t.Logf("%s", l[i:])
		}
	}
	if _, err := os.Stat(etc); err == nil {
		os.Remove(etc)
		t.Error("a hook created a file in /etc")
	}
	if _, err := os.Stat(filepath.Join(outside, "f")); err == nil {
		t.Error("a hook wrote outside its read_write_paths")
	}
	noHookProcsLeft(t, bin, 5*time.Second)
}

// TestHostileHookSignalsAnother: a hook cannot signal another hook's
// process (both dynamic users: distinct uids), by its pid in the hook PID
// namespace; the victim's fire ends normally.
func TestHostileHookSignalsAnother(t *testing.T) {
	testutil.CheckFDLeak(t)
	log := &logBuf{}
	b := linuxBackend(t, log)
	hostileBackendReady(t, b.Mechanisms().Notes)
	bin := testhook.Path(t)
	pidFile := filepath.Join(testutil.HookDir(t), "victim")
	d := newDispatcher(t, b, eventTOML("x_victim", 20*time.Second)+eventTOML("x_attack", 20*time.Second)+
		linuxTOML(bin,
			fmt.Sprintf("name = \"victim\"\nevent = \"x_victim\"\ntimeout_ms = 15000\nargs = [\"ns-pidfile\", %q, \"3000\"]", pidFile),
			"name = \"attacker\"\nevent = \"x_attack\"\ntimeout_ms = 5000\nfail_mode = \"closed\"\nargs = [\"escape\", \"signal\", \"PID\"]"), log)
	victim := make(chan *executor.Result, 1)
	go func() {
		res, _ := dfire(t, d, "x_victim", `{}`, 20*time.Second)
		victim <- res
	}()
	var nspid string
	eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		nspid = strings.TrimSpace(string(b))
		return err == nil && nspid != ""
	}, "the victim wrote its pid")
	// The attacker's args name the pid: reload with it filled in.
	cfg := parse(t, eventTOML("x_victim", 20*time.Second)+eventTOML("x_attack", 20*time.Second)+
		linuxTOML(bin,
			fmt.Sprintf("name = \"victim\"\nevent = \"x_victim\"\ntimeout_ms = 15000\nargs = [\"ns-pidfile\", %q, \"3000\"]", pidFile),
			"name = \"attacker\"\nevent = \"x_attack\"\ntimeout_ms = 5000\nfail_mode = \"closed\"\nargs = [\"escape\", \"signal\", \""+nspid+"\"]"))
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	res, _ := dfire(t, d, "x_attack", `{}`, 10*time.Second)
	if res.Decision != executor.ActionDeny || res.Code != 503 {
		t.Errorf("attacker: %+v, want deny 503 (refused, fail_mode closed)", res)
	}
	if !strings.Contains(log.String(), "refused signal:") || !strings.Contains(log.String(), "operation not permitted") {
		t.Errorf("no EPERM refusal in the log")
	}
	if r := <-victim; r.Decision != executor.ActionAllow || traceOf(t, r, "victim").Error != "" {
		t.Errorf("victim: %+v, want its own allow", r)
	}
	noHookProcsLeft(t, bin, 5*time.Second)
}

// rootOnlyDir is a new directory, removed when the test ends, owned by
// root and mode 0755 (strict_modes accepts commands in it; every uid may
// read it), outside /tmp and /var/tmp, on a file system that honours
// setuid bits when suid is set.
func rootOnlyDir(t *testing.T, suid bool) string {
	t.Helper()
	var tried []string
	for _, parent := range []string{"/run", "/var/lib", "/hooksupd", "/"} {
		var st unix.Statfs_t
		if unix.Statfs(parent, &st) != nil || (suid && st.Flags&unix.ST_NOSUID != 0) || st.Flags&unix.ST_NOEXEC != 0 {
			tried = append(tried, parent)
			continue
		}
		dir, err := os.MkdirTemp(parent, "hooksupd-hostile-")
		if err != nil {
			tried = append(tried, parent+": "+err.Error())
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	testutil.SkipOrFail(t, "no directory outside /tmp for hooks (suid %v): %s", suid, errors.New(strings.Join(tried, "; ")))
	return ""
}

// copyOutsideTmp copies the program bin into a rootOnlyDir.
func copyOutsideTmp(t *testing.T, bin string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(rootOnlyDir(t, false), "testhook")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
