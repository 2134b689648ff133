//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// Hostile hooks: each test below runs the test binary itself as a hook
// (lxProbe) that tries one escape and prints "ok" or the error it got, so
// that nothing but the kernel's answer is judged and no outside tool is
// needed (the v2 VM has only busybox).

// lxProbe is the "probe" helper role: args[0] names the escape.
func lxProbe(args []string) int {
	out := func(err error) int {
		if err != nil {
			fmt.Println("err:", err)
		} else {
			fmt.Println("ok")
		}
		return 0
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch arg(0) {
	case "raise": // write max into its own pids.max
		data, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return out(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.SplitN(l, ":", 3)
			if len(f) == 3 && f[1] == "pids" {
				p := filepath.Join("/sys/fs/cgroup/pids", f[2], "pids.max")
				fmt.Println(p)
				return out(os.WriteFile(p, []byte("max"), 0))
			}
		}
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "0::"); ok {
				p := filepath.Join("/sys/fs/cgroup", rest, "pids.max")
				fmt.Println(p)
				return out(os.WriteFile(p, []byte("max"), 0))
			}
		}
		return out(errors.New("no pids cgroup"))
	case "write": // write arg(2) into the existing file arg(1)
		f, err := os.OpenFile(arg(1), os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(arg(2))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		return out(err)
	case "create":
		f, err := os.OpenFile(arg(1), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			os.Remove(arg(1))
		}
		return out(err)
	case "read":
		_, err := os.ReadFile(arg(1))
		return out(err)
	case "ls":
		ents, err := os.ReadDir(arg(1))
		if err != nil {
			return out(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		fmt.Println("ls:", strings.Join(names, " "))
		return 0
	case "kill": // permission and existence, like SIGKILL, without killing
		pid, _ := strconv.Atoi(arg(1))
		return out(unix.Kill(pid, 0))
	case "ptrace":
		pid, _ := strconv.Atoi(arg(1))
		err := unix.PtraceSeize(pid)
		if err == nil {
			unix.PtraceDetach(pid)
		}
		return out(err)
	case "mount":
		return out(unix.Mount("tmpfs", arg(1), "tmpfs", 0, ""))
	case "connect":
		c, err := net.DialTimeout("tcp", arg(1), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return out(err)
	case "loopback": // listen and connect on the hook's own loopback
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return out(err)
		}
		defer l.Close()
		c, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return out(err)
	case "caps":
		data, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return out(err)
		}
		var caps []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "Cap") {
				caps = append(caps, strings.Join(strings.Fields(l), ""))
			}
		}
		fmt.Println("caps:", strings.Join(caps, " "))
		return 0
	case "getcwd":
		var buf [4096]byte
		_, err := unix.Getcwd(buf[:])
		return out(err)
	case "euid":
		fmt.Println("euid:", os.Geteuid())
		return 0
	case "exec": // exec arg(1) as the probe "euid"
		err := syscall.Exec(arg(1), []string{arg(1), "euid"}, os.Environ())
		return out(err)
	case "sleep":
		fmt.Println("pid:", os.Getpid())
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Println("unknown probe", args)
	return 2
}

var (
	probeOnce sync.Once
	probeBin  string
	probeErr  error
)

// lxProbeBin is a copy of the test binary that any uid may execute (the
// go command's build directory is private to its user).
func lxProbeBin(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			probeErr = err
			return
		}
		dir, err := os.MkdirTemp("", "hooksupd-probe-")
		if err != nil {
			probeErr = err
			return
		}
		testCleanups = append(testCleanups, func() { os.RemoveAll(dir) })
		probeBin = filepath.Join(dir, "probe")
		data, err := os.ReadFile(self)
		if err == nil {
			err = os.WriteFile(probeBin, data, 0o755)
		}
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		probeErr = err
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probeBin
}

// lxProbeSpec is a spec that runs one probe.
func lxProbeSpec(t *testing.T, cred *Credential, args ...string) *Spec {
	return &Spec{Name: "probe", Path: lxProbeBin(t), Args: args, Credential: cred,
		Env: []string{lxHelperEnv + "=probe"}}
}

// lxRunProbe runs spec to its exit and returns its output line.
func lxRunProbe(t *testing.T, b Backend, spec *Spec) string {
	t.Helper()
	p := lxStart(t, b, spec)
	p.Stdin().Close()
	out := lxReadAll(t, p.Stdout(), 10*time.Second)
	lxWait(t, p, 10*time.Second)
	t.Logf("probe %q: %s", spec.Args, strings.TrimSpace(out))
	return strings.TrimSpace(out)
}

// lxRefused fails unless the probe's answer is the error want.
func lxRefused(t *testing.T, what, got string, want error) {
	t.Helper()
	if got != "err: "+errString(want) && !strings.HasSuffix(got, ": "+errString(want)) {
		t.Errorf("%s: %q, want refused with %v", what, got, want)
	}
}

func errString(err error) string { return err.Error() }

// lxSandboxBackend is a backend for sandbox tests: root, cgroups, a
// launcher and the hook PID namespace.
func lxSandboxBackend(t *testing.T) *linuxBackend {
	t.Helper()
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{})
	lxNeedCgroups(t, b)
	if b.exe == nil {
		testutil.SkipOrFail(t, "no launcher: %s", b.exeNote)
	}
	if !b.keeper.active.Load() {
		testutil.SkipOrFail(t, "%s", b.pidNSNote())
	}
	return b
}

const dynUID = 61001 // a uid without a passwd entry, as a dynamic user

// TestSandboxHostileDefault: with the default sandbox, a hook running as
// uid 0 and one running as an unprivileged uid try the escapes a hostile
// review found: raise their own pids.max, signal or ptrace the
// supervisor, read its environment, mount, gain capabilities. Each is
// refused by the kernel, and the limit stays.
func TestSandboxHostileDefault(t *testing.T) {
	b := lxSandboxBackend(t)
	t.Setenv("HOOKSUPD_TEST_SECRET_TOKEN", "s3cret")
	sup := strconv.Itoa(os.Getpid())
	for _, cred := range []*Credential{nil, {UID: dynUID, GID: dynUID}} {
		who := "uid 0"
		if cred != nil {
			who = "uid " + strconv.Itoa(int(cred.UID))
		}
		t.Run(who, func(t *testing.T) {
			// Its own pids.max, found from inside through /proc/self/cgroup.
			spec := lxProbeSpec(t, cred, "raise")
			spec.Limits = Limits{PidsMax: 16}
			own, got, _ := strings.Cut(lxRunProbe(t, b, spec), "\n")
			if !strings.HasPrefix(own, "/sys/fs/cgroup/") {
				t.Fatalf("probe found no pids.max: %q %q", own, got)
			}
			want := error(unix.EROFS)
			if cred != nil {
				want = unix.EACCES
			}
			lxRefused(t, "write max into its own pids.max", got, want)
			if v, err := os.ReadFile(own); err == nil && strings.TrimSpace(string(v)) != "16" {
				t.Errorf("%s = %q after the attempt, want 16", own, v)
			}

			lxRefused(t, "signal the supervisor", lxRunProbe(t, b, lxProbeSpec(t, cred, "kill", sup)), unix.ESRCH)
			lxRefused(t, "ptrace the supervisor", lxRunProbe(t, b, lxProbeSpec(t, cred, "ptrace", sup)), unix.ESRCH)
			env := lxRunProbe(t, b, lxProbeSpec(t, cred, "read", "/proc/"+sup+"/environ"))
			lxRefused(t, "read the supervisor's environ", env, unix.EACCES)
			lxRefused(t, "mount", lxRunProbe(t, b, lxProbeSpec(t, cred, "mount", "/")), unix.EPERM)
			if got := lxRunProbe(t, b, lxProbeSpec(t, cred, "caps")); got != "caps: CapInh:0000000000000000 CapPrm:0000000000000000 CapEff:0000000000000000 CapBnd:0000000000000000 CapAmb:0000000000000000" {
				t.Errorf("capabilities: %s, want none at all", got)
			}
		})
	}
}

// TestSandboxHooksCannotTouchEachOther: two hooks with distinct
// unprivileged uids (as dynamic users get) cannot signal or ptrace one
// another.
func TestSandboxHooksCannotTouchEachOther(t *testing.T) {
	b := lxSandboxBackend(t)
	victim := lxStart(t, b, lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "sleep"))
	line := lxReadLine(t, victim.Stdout(), 10*time.Second)
	nspid, ok := strings.CutPrefix(line, "pid: ")
	if !ok {
		t.Fatalf("victim: %q", line)
	}
	other := &Credential{UID: dynUID + 1, GID: dynUID + 1}
	lxRefused(t, "signal another hook", lxRunProbe(t, b, lxProbeSpec(t, other, "kill", nspid)), unix.EPERM)
	lxRefused(t, "ptrace another hook", lxRunProbe(t, b, lxProbeSpec(t, other, "ptrace", nspid)), unix.EPERM)
	select {
	case <-victim.Done():
		t.Error("the victim died")
	default:
	}
}

// TestSandboxSetuidBinary: no_new_privs: a setuid-root program started
// by an unprivileged hook runs with the hook's uid.
func TestSandboxSetuidBinary(t *testing.T) {
	b := lxSandboxBackend(t)
	suid := filepath.Join(filepath.Dir(lxProbeBin(t)), "suid")
	data, err := os.ReadFile(lxProbeBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(suid, data, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(suid)
	if err := os.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	got := lxRunProbe(t, b, lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "exec", suid))
	if got != "euid: "+strconv.Itoa(dynUID) {
		t.Errorf("setuid-root binary: %q, want euid %d", got, dynUID)
	}
}

// TestSandboxKeptCapability: a listed capability is all a hook has, as
// uid 0 and as an unprivileged uid.
func TestSandboxKeptCapability(t *testing.T) {
	b := lxSandboxBackend(t)
	for _, cred := range []*Credential{nil, {UID: dynUID, GID: dynUID}} {
		spec := lxProbeSpec(t, cred, "caps")
		spec.Sandbox.Capabilities = []string{"CAP_NET_BIND_SERVICE"}
		got := lxRunProbe(t, b, spec)
		if !strings.Contains(got, "CapEff:0000000000000400") || !strings.Contains(got, "CapPrm:0000000000000400") ||
			!strings.Contains(got, "CapBnd:0000000000000400") {
			t.Errorf("cred %v: %s, want exactly CAP_NET_BIND_SERVICE (0x400)", cred, got)
		}
	}
	if _, err := CapabilityMask([]string{"CAP_NO_SUCH"}); err == nil {
		t.Error("an unknown capability name was accepted")
	}
	bad := lxProbeSpec(t, nil, "caps")
	bad.Sandbox.Capabilities = []string{"CAP_NO_SUCH"}
	if _, err := b.Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "CAP_NO_SUCH") {
		t.Errorf("Start with an unknown capability: %v", err)
	}
}

// TestSandboxPrivateNetwork: a hook with private_network cannot reach a
// listener on the host's 127.0.0.1, and has a working loopback of its
// own.
func TestSandboxPrivateNetwork(t *testing.T) {
	b := lxSandboxBackend(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := lxProbeSpec(t, nil, "connect", l.Addr().String())
	if got := lxRunProbe(t, b, open); got != "ok" {
		t.Fatalf("without private_network the listener is unreachable: %s", got)
	}
	for _, cred := range []*Credential{nil, {UID: dynUID, GID: dynUID}} {
		spec := lxProbeSpec(t, cred, "connect", l.Addr().String())
		spec.Sandbox.PrivateNetwork = true
		lxRefused(t, "connect to the host's 127.0.0.1", lxRunProbe(t, b, spec), unix.ECONNREFUSED)
		lo := lxProbeSpec(t, cred, "loopback")
		lo.Sandbox.PrivateNetwork = true
		if got := lxRunProbe(t, b, lo); got != "ok" {
			t.Errorf("own loopback: %s", got)
		}
	}
}

// TestSandboxPrivateTmp: a hook with private_tmp sees an empty /tmp, and
// what it writes there does not reach the host's.
func TestSandboxPrivateTmp(t *testing.T) {
	b := lxSandboxBackend(t)
	marker, err := os.CreateTemp("/tmp", "hooksupd-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	spec := &Spec{Name: "tmp", Path: "/bin/sh", Args: []string{"-c", `ls -A /tmp; echo x > /tmp/hooksupd-private-probe && echo wrote`},
		Env: []string{"PATH=/usr/bin:/bin"}}
	spec.Sandbox.PrivateTmp = true
	got := lxRunProbe(t, b, spec)
	if got != "wrote" {
		t.Errorf("private /tmp: %q, want only \"wrote\" (empty, writable)", got)
	}
	if _, err := os.Stat("/tmp/hooksupd-private-probe"); err == nil {
		os.Remove("/tmp/hooksupd-private-probe")
		t.Error("a file written to the private /tmp reached the host's")
	}
}

// TestSandboxProtectSystem: protect_system = "full" refuses writes to
// /etc; "strict" refuses them everywhere but read_write_paths and the API
// file systems.
func TestSandboxProtectSystem(t *testing.T) {
	b := lxSandboxBackend(t)
	etc := fmt.Sprintf("/etc/hooksupd-probe-%d", os.Getpid())
	defer os.Remove(etc)
	full := lxProbeSpec(t, nil, "create", etc)
	full.Sandbox.ProtectSystem = "full"
	lxRefused(t, "write /etc with protect_system=full", lxRunProbe(t, b, full), unix.EROFS)

	rw := t.TempDir()
	ro := t.TempDir()
	for _, c := range []struct {
		path string
		want error
	}{{filepath.Join(rw, "f"), nil}, {filepath.Join(ro, "f"), unix.EROFS}, {etc, unix.EROFS}} {
		spec := lxProbeSpec(t, nil, "create", c.path)
		spec.Sandbox.ProtectSystem = "strict"
		spec.Sandbox.ReadWritePaths = []string{rw}
		got := lxRunProbe(t, b, spec)
		if c.want == nil {
			if got != "ok" {
				t.Errorf("strict, %s in read_write_paths: %s", c.path, got)
			}
			continue
		}
		lxRefused(t, "strict, "+c.path, got, c.want)
	}
	dev := lxProbeSpec(t, nil, "write", "/dev/null", "x")
	dev.Sandbox.ProtectSystem = "strict"
	if got := lxRunProbe(t, b, dev); got != "ok" {
		t.Errorf("strict: /dev/null: %s", got)
	}
}

// TestSandboxPathRules: inaccessible_paths hides a directory,
// read_only_paths refuses writes, protect_home = "tmpfs" empties /root.
func TestSandboxPathRules(t *testing.T) {
	b := lxSandboxBackend(t)
	hidden, rodir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(hidden, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := lxProbeSpec(t, nil, "read", filepath.Join(hidden, "secret"))
	spec.Sandbox.InaccessiblePaths = []string{hidden}
	got := lxRunProbe(t, b, spec)
	if !strings.HasPrefix(got, "err:") {
		t.Errorf("inaccessible path read: %s", got)
	}
	ro := lxProbeSpec(t, nil, "create", filepath.Join(rodir, "f"))
	ro.Sandbox.ReadOnlyPaths = []string{rodir}
	lxRefused(t, "read_only_paths", lxRunProbe(t, b, ro), unix.EROFS)

	home := lxProbeSpec(t, nil, "ls", "/root")
	home.Sandbox.ProtectHome = "tmpfs"
	if got := lxRunProbe(t, b, home); got != "ls:" {
		t.Errorf("protect_home=tmpfs: /root lists %q, want nothing", got)
	}
	hide := lxProbeSpec(t, nil, "ls", "/root")
	hide.Sandbox.ProtectHome = "true"
	lxRefused(t, "protect_home=true", lxRunProbe(t, b, hide), unix.EACCES)

	for _, bad := range []Sandbox{{ProtectSystem: "yes please"}, {ReadOnlyPaths: []string{"relative"}}, {ProtectHome: "maybe"}} {
		s := lxProbeSpec(t, nil, "caps")
		s.Sandbox = bad
		if _, err := b.Start(context.Background(), s); err == nil {
			t.Errorf("sandbox %+v accepted", bad)
		}
	}
}

// TestSandboxNotSupported: what the backend cannot provide (here: no
// launcher) fails Start with ErrNotSupported naming the option, unless
// allow_unsandboxed.
func TestSandboxNotSupported(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{direct: true})
	spec := lxSh("exit 0")
	spec.Credential = &Credential{UID: dynUID, GID: dynUID}
	spec.Sandbox.PrivateNetwork = true
	_, err := b.Start(context.Background(), spec)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "private_network") {
		t.Fatalf("private_network without a launcher: %v, want ErrNotSupported naming it", err)
	}
	spec.Sandbox.AllowUnsandboxed = true
	p := lxStart(t, b, spec)
	p.Stdin().Close()
	io.Copy(io.Discard, p.Stdout())
	if st := lxWait(t, p, 5*time.Second); !st.Success() {
		t.Errorf("allow_unsandboxed: %v", st)
	}
}

// TestSandboxSystemCallFilter: a denied system call fails with EPERM, or
// kills the hook with SIGSYS on request; an allow list of
// @system-service runs a Go program; bad entries fail Start.
func TestSandboxSystemCallFilter(t *testing.T) {
	b := lxSandboxBackend(t)
	for _, c := range []struct {
		filter []string
		want   string
	}{
		{[]string{"~getcwd"}, "err: operation not permitted"},
		{[]string{"~@mount", "~getcwd"}, "err: operation not permitted"},
		{[]string{"@system-service"}, "ok"},
		{[]string{"@system-service", "~getcwd"}, "err: operation not permitted"},
		{[]string{"~@mount"}, "ok"},
	} {
		spec := lxProbeSpec(t, &Credential{UID: dynUID, GID: dynUID}, "getcwd")
		spec.Sandbox.SystemCallFilter = c.filter
		if got := lxRunProbe(t, b, spec); got != c.want {
			t.Errorf("filter %q: getcwd %q, want %q", c.filter, got, c.want)
		}
	}
	kill := lxProbeSpec(t, nil, "getcwd")
	kill.Sandbox.SystemCallFilter = []string{"~getcwd"}
	kill.Sandbox.SystemCallErrorNumber = "kill"
	p := lxStart(t, b, kill)
	p.Stdin().Close()
	lxReadAll(t, p.Stdout(), 10*time.Second)
	if st := lxWait(t, p, 10*time.Second); st.Signal != syscall.SIGSYS {
		t.Errorf("denied call with kill: %v, want SIGSYS", st)
	}
	for _, bad := range [][]string{{"~no_such_call"}, {"@no-such-group"}, {"~"}} {
		s := lxProbeSpec(t, nil, "getcwd")
		s.Sandbox.SystemCallFilter = bad
		if _, err := b.Start(context.Background(), s); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

// TestSandboxPrivatePIDs: with private_pids a hook is PID 1 of its own
// namespace and its /proc shows only its own tree.
func TestSandboxPrivatePIDs(t *testing.T) {
	b := lxSandboxBackend(t)
	spec := &Spec{Name: "pids", Path: "/bin/sh", Env: []string{"PATH=/usr/bin:/bin"},
		Args: []string{"-c", `echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done | sort -n | tr '\n' ' '`}}
	spec.Sandbox.PrivatePIDs = true
	got := lxRunProbe(t, b, spec)
	self, list, _ := strings.Cut(got, "\n")
	if self != "1" {
		t.Errorf("pid inside: %q, want 1", self)
	}
	// sh, and the subshells of the pipeline (for, sort, tr): nothing else.
	for _, f := range strings.Fields(list) {
		if n, _ := strconv.Atoi(f); n > 10 {
			t.Errorf("/proc shows pid %d: not the hook's own tree (%s)", n, list)
		}
	}
	if !strings.HasPrefix(list, "1 ") {
		t.Errorf("/proc: %q, want the hook as 1 first", list)
	}
}

// TestSandboxLandlock: a supervisor that may not build mount namespaces
// (simulated) enforces protect_system = "strict" with read_write_paths
// through Landlock, and refuses what Landlock cannot express.
func TestSandboxLandlock(t *testing.T) {
	testutil.RequireRoot(t)
	b := lxNew(t, linuxConfig{noNamespaces: true})
	if b.exe == nil {
		testutil.SkipOrFail(t, "no launcher: %s", b.exeNote)
	}
	fd, err := landlockRuleset(nil)
	if err != nil {
		testutil.SkipOrFail(t, "%v", err)
	}
	unix.Close(fd)
	rw, ro := t.TempDir(), t.TempDir()
	// Writable for the probe's uid by their modes: only Landlock refuses.
	for _, d := range []string{rw, ro, filepath.Dir(rw)} {
		os.Chmod(d, 0o777)
	}
	user := &Credential{UID: dynUID, GID: dynUID}
	for _, c := range []struct {
		path string
		want error
	}{{filepath.Join(rw, "f"), nil}, {filepath.Join(ro, "f"), unix.EACCES}} {
		spec := lxProbeSpec(t, user, "create", c.path)
		spec.Sandbox.ProtectSystem = "strict"
		spec.Sandbox.ReadWritePaths = []string{rw}
		got := lxRunProbe(t, b, spec)
		if c.want == nil {
			if got != "ok" {
				t.Errorf("landlock strict, %s in read_write_paths: %s", c.path, got)
			}
			continue
		}
		lxRefused(t, "landlock strict, "+c.path, got, c.want)
	}
	dev := lxProbeSpec(t, user, "write", "/dev/null", "x")
	dev.Sandbox.ProtectSystem = "strict"
	if got := lxRunProbe(t, b, dev); got != "ok" {
		t.Errorf("landlock strict: /dev/null: %s", got)
	}
	tmp := lxProbeSpec(t, user, "caps")
	tmp.Sandbox.PrivateTmp = true
	if _, err := b.Start(context.Background(), tmp); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "private_tmp") {
		t.Errorf("private_tmp without namespaces: %v, want ErrNotSupported naming it", err)
	}
}
