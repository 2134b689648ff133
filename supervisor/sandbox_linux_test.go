// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"context"
	"errors"
	"fmt"
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
	case "unix": // connect to a unix socket and send reload
		c, err := net.DialTimeout("unix", arg(1), 2*time.Second)
		if err == nil {
			fmt.Fprintln(c, `{"id":1,"op":"reload"}`)
			c.Close()
		}
		return out(err)
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
	return &Spec{Pipes: PipeAll, Name: "probe", Path: lxProbeBin(t), Args: args, Credential: cred,
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
			// Another uid may not read it (ptrace access checks); a uid 0
			// hook, in a mount namespace for its read-only cgroup files,
			// does not even see the supervisor in its hidepid /proc.
			env := lxRunProbe(t, b, lxProbeSpec(t, cred, "read", "/proc/"+sup+"/environ"))
			wantEnv := error(unix.ENOENT)
			if cred != nil {
				wantEnv = unix.EACCES
			}
			lxRefused(t, "read the supervisor's environ", env, wantEnv)
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
	// On a file system that honours setuid bits: otherwise (a nosuid
	// /tmp, as in the v2 VM) the test would prove nothing.
	dir := ""
	for _, d := range []string{filepath.Dir(lxProbeBin(t)), "/var/tmp", "/run", "/"} {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) == nil && st.Flags&(unix.ST_NOSUID|unix.ST_NOEXEC) == 0 {
			if d != filepath.Dir(lxProbeBin(t)) {
				var err error
				if d, err = os.MkdirTemp(d, "hooksupd-suid-"); err != nil {
					continue
				}
				defer os.RemoveAll(d)
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dir = d
			break
		}
	}
	if dir == "" {
		testutil.SkipOrFail(t, "no file system that honours setuid bits")
	}
	suid := filepath.Join(dir, "suid")
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
