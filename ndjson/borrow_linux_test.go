// SPDX-License-Identifier: Apache-2.0

//go:build linux

package ndjson

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestWatchBorrow: while borrowed, the loop reads nothing of the watch and
// the borrower reads it; after Return the loop reads what is left; a
// Close while borrowed takes effect at Return; an ended watch cannot be
// borrowed.
func TestWatchBorrow(t *testing.T) {
	testutil.CheckFDLeak(t)
	l, err := NewLoop()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, w := pipe(t)
	defer w.Close()
	s := newRecSink()
	wa, err := l.Watch(r, s)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("a"))
	waitData(t, s, "a")

	fd, ok := wa.Borrow()
	if !ok {
		t.Fatal("Borrow of a live watch failed")
	}
	w.Write([]byte("b"))
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); n != 1 || err != nil {
		t.Fatalf("poll: %d %v", n, err)
	}
	time.Sleep(20 * time.Millisecond) // the loop would have read it by now
	var buf [8]byte
	if n, err := unix.Read(fd, buf[:]); err != nil || string(buf[:n]) != "b" {
		t.Fatalf("borrower read %q, %v", buf[:n], err)
	}
	w.Write([]byte("c")) // unread at Return: the loop reads it
	if err := wa.Return(); err != nil {
		t.Fatal(err)
	}
	waitData(t, s, "ac")

	if _, ok := wa.Borrow(); !ok {
		t.Fatal("second Borrow failed")
	}
	wa.Close()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-s.closed:
		t.Fatal("closed while borrowed")
	default:
	}
	wa.Return()
	if err := s.wait(t); !errors.Is(err, ErrClosed) {
		t.Fatalf("OnClose(%v), want ErrClosed", err)
	}
	if _, ok := wa.Borrow(); ok {
		t.Fatal("Borrow of an ended watch succeeded")
	}
	s.check(t)
}
