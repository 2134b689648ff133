// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// testLoop is what the Loop tests need, so that they run against both the
// platform Loop (epoll on Linux) and the portable goroutine-per-watch one.
type testLoop interface {
	watch(f *os.File, s Sink) (interface{ Close() }, error)
	Len() int
	Close() error
}

type platformLoop struct{ *Loop }

func (l platformLoop) watch(f *os.File, s Sink) (interface{ Close() }, error) {
	w, err := l.Watch(f, s)
	if err != nil {
		return nil, err
	}
	return w, nil
}

type portableLoop struct{ *goroutineLoop }

func (l portableLoop) watch(f *os.File, s Sink) (interface{ Close() }, error) {
	w, err := l.goroutineLoop.watch(f, s)
	if err != nil {
		return nil, err
	}
	return w, nil
}
func (l portableLoop) Len() int     { return l.len() }
func (l portableLoop) Close() error { return l.close() }

var loopImpls = []struct {
	name string
	new  func() (testLoop, error)
}{
	{"platform", func() (testLoop, error) {
		l, err := NewLoop()
		if err != nil {
			return nil, err
		}
		return platformLoop{l}, nil
	}},
	{"goroutines", func() (testLoop, error) { return portableLoop{newGoroutineLoop()}, nil }},
}

// forEachLoop runs f as a subtest per implementation, with a fresh Loop
// that is closed afterwards, and with the fd leak check on.
func forEachLoop(t *testing.T, f func(t *testing.T, l testLoop)) {
	for _, impl := range loopImpls {
		t.Run(impl.name, func(t *testing.T) {
			testutil.CheckFDLeak(t)
			l, err := impl.new()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			f(t, l)
		})
	}
}

// recSink records everything a watch delivers and checks the callback
// contract as it goes.
type recSink struct {
	mu      sync.Mutex
	data    bytes.Buffer
	closes  int
	err     error
	late    bool // OnData after OnClose
	closed  chan struct{}
	onData  func(p []byte)
	onClose func(err error)
}

func newRecSink() *recSink { return &recSink{closed: make(chan struct{})} }

func (s *recSink) OnData(p []byte) {
	s.mu.Lock()
	if s.closes > 0 {
		s.late = true
	}
	s.data.Write(p)
	s.mu.Unlock()
	if s.onData != nil {
		s.onData(p)
	}
}

func (s *recSink) OnClose(err error) {
	s.mu.Lock()
	s.closes++
	s.err = err
	first := s.closes == 1
	s.mu.Unlock()
	if s.onClose != nil {
		s.onClose(err)
	}
	if first {
		close(s.closed)
	}
}

// wait waits for OnClose and returns its error.
func (s *recSink) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called within 10s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// check verifies the contract once nothing more can arrive.
func (s *recSink) check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closes != 1 {
		t.Errorf("OnClose called %d times, want exactly once", s.closes)
	}
	if s.late {
		t.Error("OnData after OnClose")
	}
}

func (s *recSink) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data.Bytes())
}

func pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestLoopReadsToEOF(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		s := newRecSink()
		if _, err := l.watch(r, s); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("hello\n"))
		w.Write([]byte("world\n"))
		w.Close()
		if err := s.wait(t); err != nil {
			t.Errorf("OnClose(%v), want nil at EOF", err)
		}
		if got := string(s.bytes()); got != "hello\nworld\n" {
			t.Errorf("data = %q", got)
		}
		s.check(t)
		waitLen(t, l, 0)
	})
}

func waitLen(t *testing.T, l testLoop, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.Len() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("Len = %d, want %d", l.Len(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoopWithSplitter(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		var lines []string
		tooLongs := 0
		sp := NewSplitter(16, func(b []byte) { lines = append(lines, string(b)) }, func() { tooLongs++ })
		s := newRecSink()
		s.onData = sp.Feed
		s.onClose = func(error) { sp.Flush() }
		if _, err := l.watch(r, s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "{\"a\":1}\r\n%s\n{\"b\":2}\n{\"c\":", bytes.Repeat([]byte("x"), 100))
		w.Write([]byte("3}"))
		w.Close()
		s.wait(t)
		if want := []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}; !slices.Equal(lines, want) || tooLongs != 1 {
			t.Errorf("lines %q, too long %d; want %q and 1", lines, tooLongs, want)
		}
	})
}

func TestWatchClose(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		s := newRecSink()
		wt, err := l.watch(r, s)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("before\n"))
		waitData(t, s, "before\n")
		wt.Close()
		wt.Close() // idempotent
		if err := s.wait(t); !errors.Is(err, ErrClosed) {
			t.Errorf("OnClose(%v), want ErrClosed", err)
		}
		// The read end is really closed: the writer gets EPIPE.
		if _, err := w.Write([]byte("after\n")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write after Watch.Close = %v, want EPIPE", err)
		}
		s.check(t)
		waitLen(t, l, 0)
	})
}

func waitData(t *testing.T, s *recSink, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); string(s.bytes()) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("data = %q, want %q", s.bytes(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWatchCloseFromCallback(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		var wt atomic.Pointer[interface{ Close() }]
		s := newRecSink()
		s.onData = func([]byte) { (*wt.Load()).Close() }
		got, err := l.watch(r, s)
		if err != nil {
			t.Fatal(err)
		}
		wt.Store(&got)
		w.Write([]byte("one\n"))
		if err := s.wait(t); !errors.Is(err, ErrClosed) {
			t.Errorf("OnClose(%v), want ErrClosed", err)
		}
		w.Write([]byte("two\n")) // EPIPE or not, it must not be delivered
		time.Sleep(20 * time.Millisecond)
		if got := string(s.bytes()); got != "one\n" {
			t.Errorf("data after Close from the callback: %q", got)
		}
		s.check(t)
	})
}

func TestLoopClose(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		var sinks []*recSink
		var writers []*os.File
		for range 10 {
			r, w := pipe(t)
			s := newRecSink()
			if _, err := l.watch(r, s); err != nil {
				t.Fatal(err)
			}
			sinks = append(sinks, s)
			writers = append(writers, w)
		}
		if l.Len() != 10 {
			t.Errorf("Len = %d, want 10", l.Len())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// Close waits: every OnClose has run by now.
		for _, s := range sinks {
			select {
			case <-s.closed:
			default:
				t.Fatal("Loop.Close returned before OnClose")
			}
			if !errors.Is(s.err, ErrClosed) {
				t.Errorf("OnClose(%v), want ErrClosed", s.err)
			}
			s.check(t)
		}
		if l.Len() != 0 {
			t.Errorf("Len after Close = %d", l.Len())
		}
		for _, w := range writers {
			if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("write after Loop.Close = %v, want EPIPE", err)
			}
		}
		l.Close() // idempotent
		// Watch after Close fails and still takes ownership of the file.
		r, w := pipe(t)
		if _, err := l.watch(r, newRecSink()); !errors.Is(err, ErrClosed) {
			t.Errorf("Watch after Close = %v, want ErrClosed", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("file given to a failed Watch is still open (write: %v)", err)
		}
	})
}

func TestLoopCloseFromCallback(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r1, w1 := pipe(t)
		r2, _ := pipe(t)
		s1, s2 := newRecSink(), newRecSink()
		returned := make(chan struct{})
		s1.onData = func([]byte) {
			l.Close() // must not wait for itself
			close(returned)
		}
		if _, err := l.watch(r1, s1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.watch(r2, s2); err != nil {
			t.Fatal(err)
		}
		w1.Write([]byte("x"))
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("Loop.Close from a callback deadlocked")
		}
		l.Close()
		for _, s := range []*recSink{s1, s2} {
			if err := s.wait(t); !errors.Is(err, ErrClosed) {
				t.Errorf("OnClose(%v), want ErrClosed", err)
			}
			s.check(t)
		}
	})
}

func TestWatchFromCallback(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r1, w1 := pipe(t)
		r2, w2 := pipe(t)
		s2 := newRecSink()
		s1 := newRecSink()
		s1.onClose = func(error) {
			if _, err := l.watch(r2, s2); err != nil {
				t.Error(err)
			}
		}
		if _, err := l.watch(r1, s1); err != nil {
			t.Fatal(err)
		}
		w1.Close()
		s1.wait(t)
		w2.Write([]byte("second"))
		w2.Close()
		if err := s2.wait(t); err != nil {
			t.Errorf("OnClose(%v)", err)
		}
		if got := string(s2.bytes()); got != "second" {
			t.Errorf("data = %q", got)
		}
	})
}

func TestLoopCloseFromOnClose(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		s := newRecSink()
		s.onClose = func(error) { l.Close() } // during EOF handling
		if _, err := l.watch(r, s); err != nil {
			t.Fatal(err)
		}
		w.Close()
		s.wait(t)
		done := make(chan struct{})
		go func() { l.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Loop.Close after a Close from OnClose deadlocked")
		}
	})
}
