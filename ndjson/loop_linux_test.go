// SPDX-License-Identifier: Apache-2.0

//go:build linux

package ndjson

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// threads returns the number of OS threads of this process.
func threads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads: in /proc/self/status")
	return 0
}

// TestLoopOneGoroutineForManyWatches pins the point of the epoll Loop: 500
// watched pipes add one goroutine (the loop) and no thread per pipe.
func TestLoopOneGoroutineForManyWatches(t *testing.T) {
	testutil.CheckFDLeak(t)
	const n = 500
	runtime.GC()
	goroutines, threadsBefore := runtime.NumGoroutine(), threads(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tl := platformLoop{l}
	sinks := make([]*recSink, n)
	writers := make([]*os.File, n)
	for i := range n {
		r, w := pipe(t)
		sinks[i], writers[i] = newRecSink(), w
		if _, err := l.Watch(r, sinks[i]); err != nil {
			t.Fatal(err)
		}
	}
	for i, w := range writers {
		w.Write([]byte("x" + strconv.Itoa(i)))
	}
	for i, s := range sinks {
		waitData(t, s, "x"+strconv.Itoa(i))
	}
	if got := runtime.NumGoroutine() - goroutines; got > 1 {
		t.Errorf("%d watches added %d goroutines, want 1 (the loop)", n, got)
	}
	// The loop's locked thread, plus a little slack for the runtime.
	if got := threads(t) - threadsBefore; got > 4 {
		t.Errorf("%d watches added %d OS threads", n, got)
	}
	for _, w := range writers {
		w.Close()
	}
	for _, s := range sinks {
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
	}
	waitLen(t, tl, 0)
}

// TestWatchDescriptorIsNonblockingAndPrivate checks that the Loop reads a
// non-blocking close-on-exec duplicate, and that the *os.File it was given
// is closed (so the runtime poller no longer watches the pipe).
func TestWatchDescriptorIsNonblockingAndPrivate(t *testing.T) {
	testutil.CheckFDLeak(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A blocking pipe, as os.NewFile of a raw pipe2() gives.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r := os.NewFile(uintptr(p[0]), "blocking-r")
	w := os.NewFile(uintptr(p[1]), "blocking-w")
	defer w.Close()
	s := newRecSink()
	wt, err := l.Watch(r, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the *os.File given to Watch is still open")
	}
	flags, err := unix.FcntlInt(uintptr(wt.fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Error("watched descriptor is blocking")
	}
	fdflags, _ := unix.FcntlInt(uintptr(wt.fd), unix.F_GETFD, 0)
	if fdflags&unix.FD_CLOEXEC == 0 {
		t.Error("watched descriptor is not close-on-exec")
	}
	// A second, quiet blocking pipe must not stall the loop.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r2, w2 := os.NewFile(uintptr(p[0]), "quiet-r"), os.NewFile(uintptr(p[1]), "quiet-w")
	defer w2.Close()
	s2 := newRecSink()
	if _, err := l.Watch(r2, s2); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("a"))
	waitData(t, s, "a")
	w.Write([]byte("b"))
	waitData(t, s, "ab")
	w.Close()
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestWatchRegularFileFails(t *testing.T) {
	testutil.CheckFDLeak(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	if err != nil {
		t.Fatal(err)
	}
	s := newRecSink()
	if _, err := l.Watch(f, s); !errors.Is(err, syscall.EPERM) {
		t.Errorf("Watch(regular file) = %v, want EPERM", err)
	}
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Error("a failed Watch left the file open")
	}
	select {
	case <-s.closed:
		t.Error("OnClose called for a failed Watch")
	case <-time.After(10 * time.Millisecond):
	}
	if l.Len() != 0 {
		t.Errorf("Len = %d", l.Len())
	}
}

// TestWatchCloseFdReuse closes a watch and immediately watches a new pipe,
// which usually gets the same descriptor number; the new watch must see its
// own data and the old one nothing more.
func TestWatchCloseFdReuse(t *testing.T) {
	testutil.CheckFDLeak(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 200 {
		r1, w1 := pipe(t)
		s1 := newRecSink()
		wt1, err := l.Watch(r1, s1)
		if err != nil {
			t.Fatal(err)
		}
		w1.Write([]byte("old"))
		wt1.Close()
		s1.wait(t)
		r2, w2 := pipe(t)
		s2 := newRecSink()
		if _, err := l.Watch(r2, s2); err != nil {
			t.Fatal(err)
		}
		w2.Write([]byte("new"))
		w2.Close()
		if err := s2.wait(t); err != nil {
			t.Fatal(err)
		}
		if got := string(s2.bytes()); got != "new" {
			t.Fatalf("new watch got %q", got)
		}
		if got := string(s1.bytes()); got != "" && got != "old" {
			t.Fatalf("old watch got %q", got)
		}
		s1.check(t)
		s2.check(t)
		w1.Close()
	}
}

// TestWatchSocketHalfClose covers sockets, where the peer's shutdown of its
// write side comes as EPOLLRDHUP.
func TestWatchSocketHalfClose(t *testing.T) {
	testutil.CheckFDLeak(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine := os.NewFile(uintptr(fds[0]), "sock-r")
	peer := os.NewFile(uintptr(fds[1]), "sock-w")
	defer peer.Close()
	s := newRecSink()
	if _, err := l.Watch(mine, s); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("{\"ok\":true}\n"))
	if err := unix.Shutdown(fds[1], unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t); err != nil {
		t.Errorf("OnClose(%v), want nil at EOF", err)
	}
	if got := string(s.bytes()); got != "{\"ok\":true}\n" {
		t.Errorf("data = %q", got)
	}
}
