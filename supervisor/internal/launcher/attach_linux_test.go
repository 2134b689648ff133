// SPDX-License-Identifier: Apache-2.0

package launcher

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttachSurvivesChildFDSetup pins why the launcher is exec'd through
// Attach. Go's child fd setup dup2s the child's files onto 0, 1, 2, … and
// first moves its exec-status pipe to the number just above the highest of
// them. When that number is the memfd's, an exec by the name
// "/proc/self/fd/<memfd>" opens the pipe instead (EACCES); this happened
// to busy supervisors whose pipes reached the fd just below the memfd. The
// test builds exactly that layout, shows the plain name failing, and the
// name Attach gives working.
func TestAttachSurvivesChildFDSetup(t *testing.T) {
	exe, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	// Put a copy of the memfd at a number M whose neighbour M-1 is free.
	m := -1
	for cand := 300; cand < 1000 && m < 0; cand += 10 {
		if !fdOpen(cand) && !fdOpen(cand-1) {
			m = cand
		}
	}
	if m < 0 {
		t.Fatal("no free fd pair found")
	}
	if err := unix.Dup3(exe.FD(), m, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	hi := &Exe{fd: m}
	defer hi.Close()
	// The child's highest file is M-1: its status pipe moves to M.
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	ctlR, ctlW := pipe(t)
	stR, stW := pipe(t)
	if err := unix.Dup3(int(stW.Fd()), m-1, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(m - 1)
	files := []uintptr{null.Fd(), null.Fd(), null.Fd(), ctlR.Fd(), uintptr(m - 1)}

	_, _, err = syscall.StartProcess("/proc/self/fd/"+strconv.Itoa(m), Argv(0), &syscall.ProcAttr{Files: files})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("exec by the memfd's own name: err %v, want EACCES (the layout no longer reproduces the clobbering; the test proves nothing)", err)
	}

	path, attached := hi.Attach(files)
	pid, _, err := syscall.StartProcess(path, Argv(0), &syscall.ProcAttr{Files: attached})
	if err != nil {
		t.Fatalf("exec by the Attach name: %v", err)
	}
	ctlR.Close()
	unix.Close(m - 1)
	stW.Close()
	var b [1]byte
	if n, err := stR.Read(b[:]); n != 1 || b[0] != 'R' {
		t.Errorf("launcher not ready: %q %v", b[:n], err)
	}
	ctlW.Close() // EOF: the parked launcher exits 0
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("launcher exit: %v %v", ws, err)
	}
}

func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}
