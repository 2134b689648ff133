// SPDX-License-Identifier: Apache-2.0

package pidfd

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start spawns /bin/sh -c script with a pidfd from clone itself.
func start(t *testing.T, script string) *FD {
	t.Helper()
	pidfd := -1
	_, _, err := syscall.StartProcess("/bin/sh", []string{"sh", "-c", script}, &syscall.ProcAttr{
		Env: []string{"PATH=/usr/bin:/bin"},
		Sys: &syscall.SysProcAttr{PidFD: &pidfd},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return New(pidfd)
}

func requirePidfd(t *testing.T) {
	t.Helper()
	if err := Probe(); err != nil {
		testutil.SkipOrFail(t, "pidfd: %v", err)
	}
}

func TestProbe(t *testing.T) {
	requirePidfd(t)
	if err := Probe(); err != nil { // cached answer
		t.Fatal(err)
	}
}

func TestCloseTwice(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)
	p, err := Open(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.Raw() < 0 {
		t.Fatal("Raw < 0 on an open FD")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := p.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v, want os.ErrClosed", err)
	}
	if p.Raw() != -1 {
		t.Fatal("Raw after Close is not -1")
	}
	if err := p.Signal(0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Signal after Close = %v, want os.ErrClosed", err)
	}
}

func TestWaitStatus(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)

	p := start(t, "exit 7")
	defer p.Close()
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 7 || st.Signal != 0 {
		t.Fatalf("status = %+v, want code 7", st)
	}
	if err := p.Signal(unix.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Signal after exit = %v, want os.ErrProcessDone", err)
	}
	if _, err := p.Wait(); !errors.Is(err, unix.ECHILD) {
		t.Fatalf("second Wait = %v, want ECHILD", err)
	}

	k := start(t, "exec sleep 30")
	defer k.Close()
	if err := k.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, err = k.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != -1 || st.Signal != unix.SIGKILL {
		t.Fatalf("status = %+v, want SIGKILL", st)
	}
}

func TestRusage(t *testing.T) {
	requirePidfd(t)
	p := start(t, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	defer p.Close()
	st, err := p.Wait()
	if err != nil || st.Code != 0 {
		t.Fatalf("wait: %+v %v", st, err)
	}
	cpu := time.Duration(st.Rusage.Utime.Nano() + st.Rusage.Stime.Nano())
	if cpu <= 0 || st.Rusage.Maxrss <= 0 {
		t.Fatalf("rusage not filled: cpu %v maxrss %d", cpu, st.Rusage.Maxrss)
	}
}

// TestCloseDuringWait: Close while a Wait is blocked must not close the
// descriptor under it; the blocked Wait still reaps, and the fd is closed
// exactly once afterwards.
func TestCloseDuringWait(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)
	p := start(t, "exec sleep 30")
	res := make(chan error, 1)
	go func() { _, err := p.Wait(); res <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(unix.SIGKILL); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Signal after Close = %v", err)
	}
	// Kill through the pid: the pidfd is closed for new calls.
	select {
	case err := <-res:
		t.Fatalf("Wait returned before the child exited: %v", err)
	default:
	}
	killChildren(t)
	if err := <-res; err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// killChildren SIGKILLs this process's direct children that are sleeping
// (the test's own).
func killChildren(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if statPPid(b) == me {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

func TestWatcherCallbacksOnce(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const n = 20
	var calls [n]atomic.Int32
	var wg sync.WaitGroup
	fds := make([]*FD, n)
	for i := range n {
		fds[i] = start(t, "exit 3")
		wg.Add(1)
		if err := w.Add(fds[i], func() {
			calls[i].Add(1)
			if st, err := fds[i].Wait(); err != nil || st.Code != 3 {
				t.Errorf("child %d: %+v %v", i, st, err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond) // a second callback would show now
	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("child %d: %d callbacks", i, c)
		}
		fds[i].Close()
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d after all exits", w.Len())
	}
	if err := w.Add(fds[0], func() {}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Add of a closed FD = %v", err)
	}
}

func TestWatcherRemoveAndClose(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	removed := start(t, "exec sleep 30")
	kept := start(t, "exec sleep 30")
	var called atomic.Int32
	for _, p := range []*FD{removed, kept} {
		if err := w.Add(p, func() { called.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(kept, func() {}); err == nil {
		t.Fatal("second Add of the same FD succeeded")
	}
	w.Remove(removed)
	w.Remove(removed) // idempotent
	// The owner closes while the watcher still holds kept: the fd must
	// stay valid until the watcher lets go.
	removed.Signal(unix.SIGKILL)
	removed.Wait()
	removed.Close()
	time.Sleep(50 * time.Millisecond)
	if called.Load() != 0 {
		t.Fatal("callback ran for a removed FD")
	}
	kept.Signal(unix.SIGKILL)
	if _, err := kept.Wait(); err != nil { // reaped here, not by a callback
		t.Fatal(err)
	}
	kept.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if err := w.Add(New(-1), func() {}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}
}

func TestConcurrentSignalClose(t *testing.T) {
	requirePidfd(t)
	testutil.CheckFDLeak(t)
	for range 50 {
		p := start(t, "exec sleep 30")
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { p.Signal(0) })
		}
		wg.Go(func() { p.Close() })
		wg.Wait()
		// Closed: reap through a fresh pidfd-less wait on the pid.
		killChildren(t)
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid > 0 || err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// statPPid returns the parent pid from /proc/<pid>/stat contents.
func statPPid(stat []byte) int {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
