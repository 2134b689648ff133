// SPDX-License-Identifier: Apache-2.0

package test

// Pitfalls 7 and 8: a seccomp profile that refuses pidfd_open or clone3
// with an errno. The filter is installed in a re-executed test binary
// (seccompSupervisor), never in the test process itself.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/config"
	"github.com/hooksupd/hooksupd/executor"
	"github.com/hooksupd/hooksupd/internal/testutil"
	"github.com/hooksupd/hooksupd/internal/testutil/testhook"
	"github.com/hooksupd/hooksupd/supervisor"
)

// seccompReport is what seccompSupervisor prints.
type seccompReport struct {
	Error             string
	ProbeErrno        string
	LinuxErr          string
	LinuxNotSupported bool
	Before, After     supervisor.Mechanisms
	Decision          string
	Cgroup            string
	HogError          string
}

// seccompSupervisor runs a Dispatcher from the test's hooks.toml in a process
// whose seccomp filter answers one syscall with an errno, as old container
// profiles do (pidfd_open: docs/pitfalls.md #7; clone3: docs/pitfalls.md #8). It fires
// pre_store (and pre_delete when configured) and prints a seccompReport.
func seccompSupervisor() int {
	var rep seccompReport
	defer func() {
		b, _ := json.Marshal(rep)
		fmt.Println(string(b))
	}()
	name := os.Getenv(reexecEnv + "_SYSCALL")
	errno := errnoOf(os.Getenv(reexecEnv + "_ERRNO"))
	nr, probe := seccompTarget(name)
	if err := denySyscall(nr, errno); err != nil {
		rep.Error = "seccomp: " + err.Error()
		return 0
	}
	if _, _, e := syscall.RawSyscall(nr, probe, 0, 0); e != 0 {
		rep.ProbeErrno = e.Error()
	}
	if b, err := supervisor.New(supervisor.Options{Kind: "linux"}); err != nil {
		rep.LinuxErr, rep.LinuxNotSupported = err.Error(), errors.Is(err, supervisor.ErrNotSupported)
	} else {
		b.Close()
	}
	cfg, err := config.Load(os.Getenv(reexecEnv + "_CONFIG"))
	if err != nil {
		rep.Error = err.Error()
		return 0
	}
	d, err := executor.New(cfg, executor.Options{})
	if err != nil {
		rep.Error = err.Error()
		return 0
	}
	defer d.Close(context.Background())
	rep.Before = d.Status().Mechanisms
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := d.Fire(ctx, "pre_store", nil, json.RawMessage(`{}`))
	if err != nil {
		rep.Error = err.Error()
		return 0
	}
	rep.Decision = string(res.Decision)
	var m struct{ Cgroup string }
	_ = json.Unmarshal(res.Delta["metadata"], &m)
	rep.Cgroup = m.Cgroup
	if len(cfg.HooksFor("pre_delete")) > 0 {
		if res, err = d.Fire(ctx, "pre_delete", nil, json.RawMessage(`{}`)); err == nil && len(res.Hooks) > 0 {
			rep.HogError = res.Hooks[0].Error
		}
	}
	rep.After = d.Status().Mechanisms
	return 0
}

// runSeccompSupervisor runs seccompSupervisor with src as its hooks.toml.
func runSeccompSupervisor(t *testing.T, name, errno, src string) seccompReport {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "hooks.toml")
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), reexecEnv+"=seccomp", reexecEnv+"_CONFIG="+cfgPath,
		reexecEnv+"_SYSCALL="+name, reexecEnv+"_ERRNO="+errno)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("supervisor: %v\n%s", err, out)
	}
	var rep seccompReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("supervisor said %q: %v", out, err)
	}
	t.Logf("%s %s: %+v", name, errno, rep)
	if rep.Error != "" {
		t.Fatalf("supervisor: %s", rep.Error)
	}
	if want := errnoOf(errno).Error(); rep.ProbeErrno != want {
		t.Fatalf("the filter did not answer %s with %s (got %q): the test proves nothing", name, errno, rep.ProbeErrno)
	}
	return rep
}

// errnoOf maps the errno names the tests use to their values.
func errnoOf(name string) syscall.Errno {
	switch name {
	case "EPERM":
		return syscall.EPERM
	case "E2BIG":
		return syscall.E2BIG
	case "EOPNOTSUPP":
		return syscall.EOPNOTSUPP
	}
	return syscall.ENOSYS
}

// TestPitfall07PidfdRefusedFallsBack: where a seccomp profile refuses
// pidfd_open (ENOSYS or EPERM), the Linux backend says it is not
// supported and "auto" runs hooks on the portable backend instead of
// failing or hanging. (A profile that kills with SIGSYS cannot be
// survived by any probe; Go itself does not use pidfds there.)
func TestPitfall07PidfdRefusedFallsBack(t *testing.T) {
	requireSeccomp(t)
	src := "[supervisor]\nbackend = \"auto\"\n\n" + linuxTOML(testhook.Path(t), `name = "plain"
event = "pre_store"
timeout_ms = 5000
args = ["allow"]`)
	for _, errno := range []string{"ENOSYS", "EPERM"} {
		t.Run(errno, func(t *testing.T) {
			rep := runSeccompSupervisor(t, "pidfd_open", errno, src)
			if !rep.LinuxNotSupported {
				t.Errorf("linux backend without pidfd_open: %q, want ErrNotSupported", rep.LinuxErr)
			}
			if rep.Before.Backend != "portable" || rep.Decision != "allow" {
				t.Errorf("auto backend %q answered %q, want the portable backend to answer allow", rep.Before.Backend, rep.Decision)
			}
		})
	}
}

// TestPitfall08Clone3RefusedFallsBack: where clone3 is refused (EPERM, as
// old Docker seccomp profiles do; ENOSYS; E2BIG and EOPNOTSUPP, as Linux
// 5.4 and threaded cgroups answer CLONE_INTO_CGROUP), the Linux backend
// falls back to clone plus a cgroup.procs write, says so in Mechanisms,
// and still runs capped hooks inside their groups with their limits
// enforced (an OOM kill is still reported as one).
func TestPitfall08Clone3RefusedFallsBack(t *testing.T) {
	requireSeccomp(t)
	testutil.RequireRoot(t)
	b := linuxBackend(t, nil)
	if err := b.CanEnforce(supervisor.Limits{MemoryMax: 64 << 20, PidsMax: 16}); err != nil {
		testutil.SkipOrFail(t, "%v", err)
	}
	unified := b.Mechanisms().CgroupMode != "v1" // clone3 CLONE_INTO_CGROUP is tried only with a cgroup2 tree
	b.Close()
	src := "[supervisor]\nbackend = \"linux\"\n\n" + linuxTOML(testhook.Path(t), `name = "where"
event = "pre_store"
timeout_ms = 10000
args = ["cgroups"]
limits.memory_max = "64M"
limits.pids_max = 16`, `name = "hog"
event = "pre_delete"
timeout_ms = 10000
args = ["memhog", "200"]
limits.memory_max = "64M"`)
	for _, errno := range []string{"EPERM", "ENOSYS", "E2BIG", "EOPNOTSUPP"} {
		t.Run(errno, func(t *testing.T) {
			if errno != "ENOSYS" && usesGlibcThreads() {
				// glibc's pthread_create tries clone3 and falls back to
				// clone only on ENOSYS: under this filter a cgo-linked Go
				// program (this -race test binary) cannot start a thread
				// at all. The CGO_ENABLED=0 builds (the VM's) run it.
				t.Skipf("this test binary starts threads through glibc, which fails under a clone3 filter answering %s (moby#42680)", errno)
			}
			rep := runSeccompSupervisor(t, "clone3", errno, src)
			if rep.Decision != "modify" {
				t.Fatalf("capped hook under the clone3 refusal answered %q", rep.Decision)
			}
			dirs := groupDirs(t, rep.Cgroup)
			if _, ok := dirs["0::"]; unified && !ok {
				t.Errorf("hook not placed in its cgroup2 group after the fallback:\n%s", rep.Cgroup)
			}
			if rep.Before.CgroupMode != "v2" && !slices.ContainsFunc(slices.Collect(maps.Keys(dirs)), func(k string) bool { return strings.Contains(k, "memory") }) {
				t.Errorf("hook not in its v1 memory group:\n%s", rep.Cgroup)
			}
			if unified && !strings.Contains(rep.After.Attach, "refused") {
				t.Errorf("Mechanisms().Attach = %q after clone3 was refused, want it to say so", rep.After.Attach)
			}
			if rep.HogError != "oom_killed" {
				t.Errorf("memhog under 64M after the fallback: error kind %q, want oom_killed", rep.HogError)
			}
		})
	}
}

// requireSeccomp gates the seccomp tests: they install an x86-64 filter.
func requireSeccomp(t *testing.T) {
	t.Helper()
	testutil.RequireLinux(t)
	if runtime.GOARCH != "amd64" {
		t.Skipf("the seccomp filter of this test is written for amd64, not %s", runtime.GOARCH)
	}
}

// seccompTarget returns the syscall number of name and an argument that
// makes the probe call harmless (pidfd_open of this process; clone3 with
// no arguments fails with EFAULT when it is not filtered).
func seccompTarget(name string) (nr, arg uintptr) {
	if name == "clone3" {
		return unix.SYS_CLONE3, 0
	}
	return unix.SYS_PIDFD_OPEN, uintptr(os.Getpid())
}

// denySyscall installs a seccomp filter on every thread of this process
// (and so on every child it starts) that answers syscall nr with errno
// and allows everything else.
func denySyscall(nr uintptr, errno syscall.Errno) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("no filter for %s", runtime.GOARCH)
	}
	const (
		ldAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 1, Jf: 0, K: unix.AUDIT_ARCH_X86_64},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// no_new_privs lets an unprivileged process install the filter; TSYNC
	// sets it, and the filter, on every thread.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return e
	}
	return nil
}

// usesGlibcThreads reports whether this process has glibc mapped, i.e. is
// a cgo-linked binary whose runtime starts threads with pthread_create.
func usesGlibcThreads() bool {
	b, err := os.ReadFile("/proc/self/maps")
	return err == nil && (strings.Contains(string(b), "/libc.so") || strings.Contains(string(b), "/libc-"))
}
