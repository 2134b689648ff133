// SPDX-License-Identifier: Apache-2.0

//go:build linux

package launcher

import (
	"bytes"
	_ "embed"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// arm64Blob is the committed arm64 launcher, embedded on every
// architecture for the tests below.
//
//go:embed launcher_arm64.bin
var arm64Blob []byte

// TestArm64BlobMatchesSource rebuilds the arm64 launcher with Debian's
// cross compiler and compares it with the committed blob, as
// TestBlobMatchesSource does for amd64.
func TestArm64BlobMatchesSource(t *testing.T) {
	if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
		testutil.SkipOrFail(t, "aarch64-linux-gnu-gcc not installed (apt: gcc-aarch64-linux-gnu): cannot rebuild the arm64 launcher")
	}
	out := filepath.Join(t.TempDir(), "launcher.bin")
	cmd := exec.Command("sh", "build.sh", out)
	cmd.Env = append(os.Environ(), "ARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, arm64Blob) {
		testutil.SkipOrFail(t, "launcher_arm64.bin differs from a fresh build of csrc/launcher.c (%d vs %d bytes): run go generate ./supervisor/internal/launcher", len(arm64Blob), len(fresh))
	}
}

// TestArm64BlobUnderQemu runs the arm64 launcher under qemu-aarch64 (user
// mode) through its protocol: it reports ready, takes a request, applies
// the directory and environment, and execs the program (qemu hands the
// execve of a host program to the kernel), whose output and status come
// back. A bad request is reported on the status pipe with exit 127.
func TestArm64BlobUnderQemu(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		testutil.SkipOrFail(t, "qemu-aarch64 not installed (apt: qemu-user)")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		testutil.SkipOrFail(t, "no sh")
	}
	bin := filepath.Join(t.TempDir(), "launcher")
	if err := os.WriteFile(bin, arm64Blob, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	run := func(req *Request) (ready byte, status []byte, stdout string, code int) {
		t.Helper()
		ctlR, ctlW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stR, stW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.Command(qemu, append([]string{bin}, Argv(0)[1:]...)...)
		cmd.Stdout = &out
		cmd.ExtraFiles = []*os.File{ctlR, stW} // fds 3 and 4
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ctlR.Close()
		stW.Close()
		defer stR.Close()
		var b [1]byte
		if _, err := stR.Read(b[:]); err != nil {
			t.Fatalf("no ready byte: %v", err)
		}
		msg, err := req.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctlW.Write(msg); err != nil {
			t.Fatal(err)
		}
		ctlW.Close()
		rest := make([]byte, 64)
		n, _ := stR.Read(rest)
		err = cmd.Wait()
		code = cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("launcher: %v", err)
		}
		return b[0], rest[:n], out.String(), code
	}

	ready, status, stdout, code := run(&Request{
		Path: sh,
		Argv: []string{"sh", "-c", `echo "$GREETING from $(pwd)"; exit 7`},
		Env:  []string{"GREETING=hello", "PATH=/usr/bin:/bin"},
		Dir:  dir,
	})
	if ready != Ready {
		t.Errorf("ready byte %q, want %q", ready, Ready)
	}
	if len(status) != 0 {
		t.Errorf("status after a successful execve: %v", DecodeStatus(status))
	}
	if want := "hello from " + dir; strings.TrimSpace(stdout) != want || code != 7 {
		t.Errorf("got %q, exit %d; want %q, exit 7", stdout, code, want)
	}

	_, status, _, code = run(&Request{Path: "/nonexistent/prog", Argv: []string{"prog"}})
	if code != ExitCode {
		t.Errorf("exit %d for a missing program, want %d", code, ExitCode)
	}
	var ee *ExecError
	if err := DecodeStatus(status); err == nil || !errors.As(err, &ee) || ee.Stage != "execve" {
		t.Errorf("status %v, want an execve error", err)
	}
}
