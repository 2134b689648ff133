// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// TestOnCloseExactlyOnce races EOF, Watch.Close from several goroutines and
// (in some rounds) Loop.Close, and checks that every Sink gets OnClose once
// and nothing after it.
func TestOnCloseExactlyOnce(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for _, impl := range loopImpls {
		t.Run(impl.name, func(t *testing.T) {
			testutil.CheckFDLeak(t)
			shared, err := impl.new()
			if err != nil {
				t.Fatal(err)
			}
			var sinks []*recSink
			for i := range rounds {
				l := shared
				own := i%5 == 0 // a round with its own Loop, closed in the race
				if own {
					if l, err = impl.new(); err != nil {
						t.Fatal(err)
					}
				}
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				s := newRecSink()
				sinks = append(sinks, s)
				wt, err := l.watch(r, s)
				if err != nil {
					t.Fatal(err)
				}
				start := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(4)
				go func() {
					defer wg.Done()
					<-start
					w.Write([]byte("data\n"))
					w.Close()
				}()
				for range 2 {
					go func() {
						defer wg.Done()
						<-start
						wt.Close()
					}()
				}
				go func() {
					defer wg.Done()
					<-start
					if own {
						l.Close()
					} else {
						wt.Close()
					}
				}()
				close(start)
				wg.Wait()
				if err := s.wait(t); err != nil && !errors.Is(err, ErrClosed) {
					t.Fatalf("round %d: OnClose(%v)", i, err)
				}
				if own {
					l.Close()
				}
			}
			shared.Close()
			for i, s := range sinks {
				s.mu.Lock()
				n, late := s.closes, s.late
				s.mu.Unlock()
				if n != 1 || late {
					t.Fatalf("round %d: OnClose %d times, OnData after OnClose %v", i, n, late)
				}
			}
		})
	}
}

func TestLoopManyWatches(t *testing.T) {
	const n = 200
	forEachLoop(t, func(t *testing.T, l testLoop) {
		testManyWatches(t, l, n)
	})
}

// testManyWatches sends one line through each of n pipes at once and checks
// that each arrives, then ends them all by EOF.
func testManyWatches(t *testing.T, l testLoop, n int) {
	sinks := make([]*recSink, n)
	writers := make([]*os.File, n)
	for i := range n {
		r, w := pipe(t)
		sinks[i], writers[i] = newRecSink(), w
		if _, err := l.watch(r, sinks[i]); err != nil {
			t.Fatal(err)
		}
	}
	if l.Len() != n {
		t.Errorf("Len = %d, want %d", l.Len(), n)
	}
	for i, w := range writers {
		fmt.Fprintf(w, "line %d\n", i)
	}
	for i, w := range writers {
		waitData(t, sinks[i], fmt.Sprintf("line %d\n", i))
		w.Close()
	}
	for _, s := range sinks {
		if err := s.wait(t); err != nil {
			t.Fatalf("OnClose(%v)", err)
		}
		s.check(t)
	}
	waitLen(t, l, 0)
}

func TestLoopLargeTransfer(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		r, w := pipe(t)
		payload := make([]byte, 1<<20+123)
		rand.Read(payload)
		s := newRecSink()
		if _, err := l.watch(r, s); err != nil {
			t.Fatal(err)
		}
		go func() {
			w.Write(payload)
			w.Close()
		}()
		if err := s.wait(t); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.bytes(), payload) {
			t.Errorf("received %d bytes, differing from the %d sent", len(s.bytes()), len(payload))
		}
	})
}

// TestLoopFairness checks that a pipe that never stops flooding does not
// starve another watch of the same Loop.
func TestLoopFairness(t *testing.T) {
	forEachLoop(t, func(t *testing.T, l testLoop) {
		rFlood, wFlood := pipe(t)
		rQuiet, wQuiet := pipe(t)
		flood := newRecSink()
		quiet := newRecSink()
		if _, err := l.watch(rFlood, flood); err != nil {
			t.Fatal(err)
		}
		if _, err := l.watch(rQuiet, quiet); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			chunk := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := wFlood.Write(chunk); err != nil {
					return
				}
			}
		}()
		time.Sleep(20 * time.Millisecond)
		wQuiet.Write([]byte("ping\n"))
		waitData(t, quiet, "ping\n")
		close(stop)
		wFlood.Close() // unblocks a pending write
		<-done
	})
}
