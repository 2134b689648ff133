// SPDX-License-Identifier: Apache-2.0

//go:build linux && amd64

package launcher

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
	"golang.org/x/sys/unix"
)

// The arm64 blob is checked here, on amd64: rebuilt with the cross
// compiler and compared, and run under qemu-user (qemu-aarch64) through
// the protocol. The launcher's execve of the hook is passed to the host
// kernel by qemu, so an amd64 hook runs natively: the launcher's own
// code (the request, the rlimits, chdir, close_range, execve, the error
// report) is what runs emulated.

const arm64Blob = "launcher_arm64.bin"

func TestArm64BlobMatchesSource(t *testing.T) {
	if os.Getenv("VMTEST") == "1" {
		// The VM image has no cross compiler or qemu-user; the host run
		// of this test (CI installs both) is the check.
		t.Skip("arm64 tooling is checked on the host, not in the VM")
	}
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		testutil.SkipOrFail(t, "aarch64-linux-gnu-gcc not installed (apt: gcc-aarch64-linux-gnu): cannot rebuild the arm64 launcher")
	}
	out := filepath.Join(t.TempDir(), "launcher.bin")
	cmd := exec.Command("sh", "build.sh", out)
	cmd.Env = append(os.Environ(), "ARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ARCH=arm64 build.sh: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(arm64Blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Errorf("%s differs from a fresh build of csrc/launcher.c (%d vs %d bytes): run go generate ./supervisor/internal/launcher", arm64Blob, len(committed), len(fresh))
	}
}

// qemuLauncher starts the arm64 launcher under qemu-aarch64 with the
// protocol's fds and waits for its ready byte.
func qemuLauncher(t *testing.T) *parked {
	t.Helper()
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		if qemu, err = exec.LookPath("qemu-aarch64-static"); err != nil {
			testutil.SkipOrFail(t, "qemu-aarch64 not installed (apt: qemu-user)")
		}
	}
	blobPath, err := filepath.Abs(arm64Blob)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	ctlR, ctlW := pipe(t)
	stR, stW := pipe(t)
	argv := append([]string{qemu, blobPath}, Argv(0)[1:]...)
	pid, _, err := syscall.StartProcess(qemu, argv, &syscall.ProcAttr{
		Dir:   "/",
		Files: []uintptr{inR.Fd(), outW.Fd(), outW.Fd(), ctlR.Fd(), stW.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		t.Fatalf("start %s: %v", qemu, err)
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
	var b [1]byte
	if n, err := p.state.Read(b[:]); n != 1 || b[0] != Ready {
		t.Fatalf("arm64 launcher's ready byte: %q %v", b[:n], err)
	}
	return p
}

func TestArm64LauncherUnderQEMU(t *testing.T) {
	if os.Getenv("VMTEST") == "1" {
		// The VM image has no cross compiler or qemu-user; the host run
		// of this test (CI installs both) is the check.
		t.Skip("arm64 tooling is checked on the host, not in the VM")
	}
	t.Run("exec", func(t *testing.T) {
		p := qemuLauncher(t)
		p.stdin.Close()
		dir := t.TempDir()
		err := p.fire(t, &Request{
			Path:   "/bin/sh",
			Argv:   []string{"sh", "-c", `echo "$X $(pwd) $(ulimit -n)"; ls /proc/self/fd; exit 7`},
			Env:    []string{"X=from-arm64", "PATH=/usr/bin:/bin"},
			Dir:    dir,
			NoFile: 77,
		})
		if err != nil {
			t.Fatalf("exec through the arm64 launcher: %v", err)
		}
		out, _ := io.ReadAll(p.stdout)
		ws := p.wait(t)
		lines := strings.Fields(string(out))
		if len(lines) < 3 || lines[0] != "from-arm64" || lines[1] != dir || lines[2] != "77" {
			t.Errorf("hook output %q, want env, directory %s and nofile 77", out, dir)
		}
		// fds: 0, 1, 2 and ls's own directory fd; nothing of the
		// launcher's (control, status) or of qemu's.
		if fds := lines[3:]; len(fds) > 4 {
			t.Errorf("the hook has fds %v: the launcher did not close everything above 2", fds)
		}
		if !ws.Exited() || ws.ExitStatus() != 7 {
			t.Errorf("hook status %v, want exit 7", ws)
		}
	})
	t.Run("exec failure", func(t *testing.T) {
		p := qemuLauncher(t)
		err := p.fire(t, &Request{Path: "/nonexistent/hook", Argv: []string{"hook"}})
		var ee *ExecError
		if !errors.As(err, &ee) || !errors.Is(err, unix.ENOENT) || ee.Stage != "execve" {
			t.Errorf("exec of a missing program: %v, want an execve-stage ENOENT", err)
		}
		if ws := p.wait(t); ws.ExitStatus() != 127 {
			t.Errorf("launcher status %v, want 127", ws)
		}
	})
	t.Run("EOF", func(t *testing.T) {
		p := qemuLauncher(t)
		p.control.Close()
		if ws := p.wait(t); !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("launcher after EOF: %v, want exit 0", ws)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		p := qemuLauncher(t)
		p.control.Write(bytes.Repeat([]byte{0xff}, 40))
		p.control.Close()
		st, _ := io.ReadAll(p.state)
		if err := DecodeStatus(st); err == nil || !errors.Is(err, unix.EPROTO) {
			t.Errorf("malformed request: %v, want EPROTO", err)
		}
	})
}
