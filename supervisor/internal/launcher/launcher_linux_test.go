// SPDX-License-Identifier: Apache-2.0

package launcher

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBlobMatchesSource rebuilds the launcher with build.sh and compares it
// with the committed blob. A different compiler may legitimately produce
// other bytes, so a mismatch only fails under CI, whose toolchain is the
// reference.
func TestBlobMatchesSource(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the committed blob is for amd64")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: cannot rebuild the launcher")
	}
	out := filepath.Join(t.TempDir(), "launcher.bin")
	cmd := exec.Command("sh", "build.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, Blob()) {
		testutil.SkipOrFail(t, "launcher_amd64.bin differs from a fresh build of csrc/launcher.c (%d vs %d bytes): run go generate ./supervisor/internal/launcher", len(Blob()), len(fresh))
	}
}

// parked is a launcher started the way the supervisor starts one.
type parked struct {
	pid            int
	stdin, stdout  *os.File // parent ends
	control, state *os.File // parent ends
}

func startLauncher(t *testing.T, exe *Exe, extra ...*os.File) *parked {
	return startLauncherArgv(t, exe, Argv(0), true, extra...)
}

// startLauncherArgv starts a launcher with argv; with wantReady it waits
// for the ready byte.
func startLauncherArgv(t *testing.T, exe *Exe, argv []string, wantReady bool, extra ...*os.File) *parked {
	t.Helper()
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	ctlR, ctlW := pipe(t)
	stR, stW := pipe(t)
	files := []uintptr{inR.Fd(), outW.Fd(), outW.Fd(), ctlR.Fd(), stW.Fd()}
	for _, f := range extra {
		files = append(files, f.Fd())
	}
	path, files := exe.Attach(files)
	pid, _, err := syscall.StartProcess(path, argv, &syscall.ProcAttr{
		Dir:   "/",
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		t.Fatalf("start launcher: %v", err)
	}
	for _, f := range []*os.File{inR, outW, ctlR, stW} {
		f.Close()
	}
	p := &parked{pid: pid, stdin: inW, stdout: outR, control: ctlW, state: stR}
	t.Cleanup(func() {
		unix.Kill(pid, unix.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil)
		for _, f := range []*os.File{inW, outR, ctlW, stR} {
			f.Close()
		}
	})
	if !wantReady {
		return p
	}
	var b [1]byte
	if n, err := p.state.Read(b[:]); n != 1 || b[0] != Ready {
		t.Fatalf("ready byte: %q %v", b[:n], err)
	}
	return p
}

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

// fire sends req and returns the launcher's report: nil when execve
// succeeded.
func (p *parked) fire(t *testing.T, req *Request) error {
	t.Helper()
	msg, err := req.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.control.Write(msg); err != nil {
		t.Fatalf("write request: %v", err)
	}
	p.control.Close()
	st, _ := io.ReadAll(p.state)
	return DecodeStatus(st)
}

func (p *parked) wait(t *testing.T) syscall.WaitStatus {
	t.Helper()
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(p.pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return ws
}

func loadExe(t *testing.T) *Exe {
	t.Helper()
	if Blob() == nil {
		t.Skipf("no launcher blob for %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exe.Close() })
	return exe
}

func TestExecRunsHookWithSamePid(t *testing.T) {
	testutil.CheckFDLeak(t)
	exe := loadExe(t)
	// A stray inheritable fd, as a careless embedding program might leak.
	strayR, strayW := pipe(t)
	defer strayR.Close()
	defer strayW.Close()
	p := startLauncher(t, exe, strayR)

	err := p.fire(t, &Request{
		Path:   "/bin/sh",
		Argv:   []string{"/bin/sh", "-c", `echo started; read line; echo "$line|$FOO|$(pwd)|$(ulimit -n)|$(ulimit -c)|$$"`},
		Env:    []string{"FOO=bar baz", "PATH=/usr/bin:/bin"},
		Dir:    "/tmp",
		NoFile: 77,
	})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	// The hook runs its own code (the dynamic loader briefly holds an fd
	// of its own before) and blocks on stdin: only 0, 1, 2 are open.
	if line := readLine(t, p.stdout); line != "started" {
		t.Fatalf("got %q", line)
	}
	fds := listFDs(t, p.pid)
	if !slices.Equal(fds, []string{"0", "1", "2"}) {
		t.Errorf("hook fds = %v, want [0 1 2]", fds)
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/exe"); exe != "/usr/bin/dash" && exe != "/bin/dash" && exe != "/usr/bin/bash" && !strings.HasSuffix(exe, "sh") {
		t.Errorf("pid %d runs %q after exec", p.pid, exe)
	}
	p.stdin.Write([]byte("hello\n"))
	p.stdin.Close()
	out, _ := io.ReadAll(p.stdout)
	want := "hello|bar baz|/tmp|77|0|" + strconv.Itoa(p.pid) + "\n"
	if string(out) != want {
		t.Errorf("output = %q, want %q", out, want)
	}
	if ws := p.wait(t); ws.ExitStatus() != 0 {
		t.Errorf("exit = %v", ws)
	}
}

func listFDs(t *testing.T, pid int) []string {
	t.Helper()
	d, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range d {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// readLine reads one line byte by byte (nothing after it is consumed).
func readLine(t *testing.T, f *os.File) string {
	t.Helper()
	var sb strings.Builder
	var c [1]byte
	for {
		if _, err := f.Read(c[:]); err != nil {
			t.Fatalf("read line (got %q): %v", sb.String(), err)
		}
		if c[0] == '\n' {
			return sb.String()
		}
		sb.WriteByte(c[0])
	}
}

func TestExecFailures(t *testing.T) {
	testutil.CheckFDLeak(t)
	exe := loadExe(t)
	cases := []struct {
		req   Request
		stage string
		errno syscall.Errno
	}{
		{Request{Path: "/nonexistent/hook", Argv: []string{"x"}}, "execve", syscall.ENOENT},
		{Request{Path: "/bin/true", Argv: []string{"x"}, Dir: "/nonexistent"}, "chdir", syscall.ENOENT},
		{Request{Path: "/etc/passwd", Argv: []string{"x"}}, "execve", syscall.EACCES},
	}
	for _, c := range cases {
		p := startLauncher(t, exe)
		err := p.fire(t, &c.req)
		var ee *ExecError
		if !errors.As(err, &ee) || ee.Stage != c.stage || ee.Errno != c.errno {
			t.Errorf("%+v: err = %v, want %s: %v", c.req, err, c.stage, c.errno)
		}
		if ws := p.wait(t); ws.ExitStatus() != ExitCode {
			t.Errorf("exit = %v, want %d", ws, ExitCode)
		}
	}
}

func TestEOFExitsZero(t *testing.T) {
	testutil.CheckFDLeak(t)
	p := startLauncher(t, loadExe(t))
	p.control.Close()
	if ws := p.wait(t); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("parked launcher after EOF: %v, want exit 0", ws)
	}
}

func TestMalformedRequest(t *testing.T) {
	p := startLauncher(t, loadExe(t))
	p.control.Write([]byte("this is not a request, but it is longer than a header"))
	p.control.Close()
	st, _ := io.ReadAll(p.state)
	var ee *ExecError
	if err := DecodeStatus(st); !errors.As(err, &ee) || ee.Stage != "request" || ee.Errno != syscall.EPROTO {
		t.Fatalf("status = %v", err)
	}
	if ws := p.wait(t); ws.ExitStatus() != ExitCode {
		t.Fatalf("exit = %v", ws)
	}
}

// TestLargeRequest crosses the launcher's 64 KiB static buffer, so the
// request is read in pieces into an mmap'd one.
func TestLargeRequest(t *testing.T) {
	p := startLauncher(t, loadExe(t))
	big := "BIG=" + strings.Repeat("x", 100<<10)
	env := []string{big}
	for i := range 2000 {
		env = append(env, "V"+strconv.Itoa(i)+"=1")
	}
	go func() { io.Copy(io.Discard, p.stdout) }()
	if err := p.fire(t, &Request{
		Path: "/bin/sh",
		Argv: []string{"sh", "-c", `test ${#BIG} -eq 102400 && test "$V1999" = 1`},
		Env:  env,
	}); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	if ws := p.wait(t); ws.ExitStatus() != 0 {
		t.Fatalf("exit = %v", ws)
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, err := (&Request{Path: "/bin/true"}).Encode(nil); err == nil {
		t.Error("empty argv accepted")
	}
	if _, err := (&Request{Path: "/bin/true", Argv: []string{"a\x00b"}}).Encode(nil); err == nil {
		t.Error("NUL byte accepted")
	}
	if err := DecodeStatus([]byte{1, 2, 3}); err == nil {
		t.Error("short status accepted")
	}
}

func TestExeSealed(t *testing.T) {
	exe := loadExe(t)
	seals, err := unix.FcntlInt(uintptr(exe.FD()), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{unix.F_SEAL_SEAL, unix.F_SEAL_WRITE, unix.F_SEAL_GROW, unix.F_SEAL_SHRINK} {
		if seals&s == 0 {
			t.Errorf("seal %#x missing (seals %#x)", s, seals)
		}
	}
	if _, err := unix.Write(exe.FD(), []byte("x")); err == nil {
		t.Error("write to the launcher memfd succeeded")
	}
	if err := exe.Close(); err != nil {
		t.Fatal(err)
	}
	if err := exe.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

// TestSelfPlacement: the launcher writes "0" into each placement fd (a
// pipe stands in for cgroup.procs here) and closes it before it reports
// ready; a failed write is reported as the "place" stage.
func TestSelfPlacement(t *testing.T) {
	testutil.CheckFDLeak(t)
	exe := loadExe(t)
	var reads []*os.File
	var writes []*os.File
	for range 3 {
		r, w := pipe(t)
		reads, writes = append(reads, r), append(writes, w)
	}
	p := startLauncherArgv(t, exe, Argv(3), true, writes...)
	for _, w := range writes {
		w.Close()
	}
	for i, r := range reads {
		got, _ := io.ReadAll(r) // EOF: the launcher closed its copy
		r.Close()
		if string(got) != "0" {
			t.Errorf("placement fd %d got %q, want \"0\"", i, got)
		}
	}
	p.control.Close()
	if ws := p.wait(t); ws.ExitStatus() != 0 {
		t.Errorf("exit = %v", ws)
	}

	// A placement write that fails (EBADF: a read end) stops the launcher
	// before it reports ready.
	r, w := pipe(t)
	defer w.Close()
	q := startLauncherArgv(t, exe, Argv(1), false, r)
	r.Close()
	st, _ := io.ReadAll(q.state)
	var ee *ExecError
	if err := DecodeStatus(st); !errors.As(err, &ee) || ee.Stage != "place" || ee.Errno != syscall.EBADF {
		t.Errorf("status = %v, want place: EBADF", err)
	}
	if ws := q.wait(t); ws.ExitStatus() != ExitCode {
		t.Errorf("exit = %v", ws)
	}
}
