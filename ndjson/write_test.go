// SPDX-License-Identifier: Apache-2.0

package ndjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hooksupd/hooksupd/internal/testutil"
)

// slack is the generous bound on how late a write may return after its
// context ended (the machine may be loaded; this is not a latency test).
const slack = 500 * time.Millisecond

func TestWriteAllDeadlineWithoutReader(t *testing.T) {
	testutil.CheckFDLeak(t)
	_, w := pipe(t) // nobody reads: the 64 KiB pipe fills
	const timeout = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := WriteAll(ctx, w, make([]byte, 1<<20))
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want one matching context.DeadlineExceeded", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want one also matching os.ErrDeadlineExceeded", err)
	}
	if elapsed < timeout-10*time.Millisecond || elapsed > timeout+slack {
		t.Errorf("returned after %v, want about %v", elapsed, timeout)
	}
}

func TestWriteAllCancel(t *testing.T) {
	testutil.CheckFDLeak(t)
	_, w := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := WriteAll(ctx, w, make([]byte, 1<<20))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one matching context.Canceled", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v matches DeadlineExceeded after a cancel", err)
	}
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond+slack {
		t.Errorf("returned %v after the cancel", elapsed)
	}
}

func TestWriteAllAlreadyDone(t *testing.T) {
	r, w := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteAll(ctx, w, []byte("x\n")); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	w.Close()
	if b, _ := io.ReadAll(r); len(b) != 0 {
		t.Errorf("a write with a done context wrote %q", b)
	}
}

func TestWriteAllEPIPE(t *testing.T) {
	testutil.CheckFDLeak(t)
	r, w := pipe(t)
	r.Close() // the child exited without reading its stdin
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := WriteAll(ctx, w, []byte("{\"event\":\"x\"}\n"))
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("err = %v, want one matching syscall.EPIPE", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EPIPE reported as a timeout: %v", err)
	}
	// Reaching this line means SIGPIPE did not kill the test binary.
}

func TestWriteAllLargeWithConcurrentReader(t *testing.T) {
	testutil.CheckFDLeak(t)
	r, w := pipe(t)
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WriteAll(ctx, w, payload); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b := <-got; !bytes.Equal(b, payload) {
		t.Errorf("reader got %d bytes, differing from the %d written", len(b), len(payload))
	}
}

// TestWriteAllClearsDeadline checks that neither the ctx deadline nor the
// past deadline of a cancel outlives the call: daemon mode writes one
// request after another on the same pipe.
func TestWriteAllClearsDeadline(t *testing.T) {
	r, w := pipe(t)
	go io.Copy(io.Discard, r)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := WriteAll(ctx, w, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	cancel() // runs the AfterFunc after a successful write
	time.Sleep(80 * time.Millisecond)
	if _, err := w.Write([]byte("two\n")); err != nil {
		t.Fatalf("plain write after WriteAll: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if err := WriteAll(ctx2, w, []byte("three\n")); err != nil {
		t.Fatalf("second WriteAll: %v", err)
	}
	if err := WriteAll(context.Background(), w, []byte("four\n")); err != nil {
		t.Fatalf("WriteAll without deadline: %v", err)
	}
	w.Close()
}

func TestWriteAllAfterTimeoutCanWriteAgain(t *testing.T) {
	r, w := pipe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := WriteAll(ctx, w, make([]byte, 1<<20)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	go io.Copy(io.Discard, r)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := WriteAll(ctx2, w, make([]byte, 1<<20)); err != nil {
		t.Fatalf("write after a timed-out write: %v", err)
	}
	w.Close()
}
